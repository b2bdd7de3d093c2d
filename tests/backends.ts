/**
 * The backends every device-generic suite runs on: the CPU always, WebGPU when this machine has an
 * adapter. Without one, WebGPU tests are skipped with a printed reason, except under
 * AUTORESEARCH_REQUIRE_WEBGPU=1 (CI), where they run and fail instead of skipping.
 */
import type { Backend } from "../src/engine/backend.ts";
import { createCpuBackend } from "../src/engine/cpu/backend.ts";
import { createWebGpuBackend } from "../src/engine/webgpu/mod.ts";

/** CI sets AUTORESEARCH_REQUIRE_WEBGPU=1: a WebGPU test that finds no adapter fails. */
export const REQUIRE_WEBGPU: boolean = Deno.env.get("AUTORESEARCH_REQUIRE_WEBGPU") === "1";

/** True when a WebGPU adapter exists on this machine. */
export const HAS_WEBGPU: boolean = Boolean(
  await (globalThis.navigator as { gpu?: GPU }).gpu?.requestAdapter().catch(() => null),
);

/** Why WebGPU tests are skipped here, or undefined when they run. */
export const WEBGPU_SKIP: string | undefined = HAS_WEBGPU || REQUIRE_WEBGPU
  ? undefined
  : "no WebGPU adapter on this machine (AUTORESEARCH_REQUIRE_WEBGPU=1 turns this into a failure)";
if (WEBGPU_SKIP) console.log(`skipping WebGPU tests: ${WEBGPU_SKIP}`);

/** One backend a test suite runs on. */
export interface BackendCase {
  /** "cpu" or "webgpu". */
  name: "cpu" | "webgpu";
  /** A fresh backend. */
  create: () => Promise<Backend>;
  /** Why the suite is skipped, or undefined when it runs. */
  skip?: string;
}

/** CPU, then WebGPU (possibly skipped). */
export const BACKENDS: readonly BackendCase[] = [
  { name: "cpu", create: () => createCpuBackend() },
  { name: "webgpu", create: () => createWebGpuBackend(), skip: WEBGPU_SKIP },
];

/** Register test `name` on backend `bc`: a fresh backend for `fn`, destroyed afterwards. */
export function testOnBackend(
  bc: BackendCase,
  name: string,
  fn: (backend: Backend) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: bc.skip !== undefined,
    fn: async () => {
      const backend = await bc.create();
      try {
        await fn(backend);
      } finally {
        backend.destroy();
      }
    },
  });
}
