/**
 * Backend selection: `createBackend("auto" | "cpu" | "webgpu")`. `auto` takes WebGPU only when a
 * real (non-fallback) adapter exists, since a software adapter such as lavapipe is slower than the
 * CPU backend on the same cores; `webgpu` forces it (and fails without an adapter).
 *
 * @module
 */
import { type BackendChoice, detectGpu, resolveBackend } from "../platform/mod.ts";
import type { Backend } from "./backend.ts";
import { type CpuBackendOptions, createCpuBackend } from "./cpu/backend.ts";

/** Options of {@linkcode createBackend}. */
export interface CreateBackendOptions {
  /** CPU backend options (sgemm threads or implementation). */
  cpu?: CpuBackendOptions;
}

/** Creates the chosen backend (see the module doc for `auto`). */
export async function createBackend(
  choice: BackendChoice = "auto",
  options: CreateBackendOptions = {},
): Promise<Backend> {
  const kind = choice === "cpu" ? "cpu" : resolveBackend(choice, await detectGpu());
  if (kind === "webgpu") {
    const { createWebGpuBackend } = await import("./webgpu/mod.ts");
    return await createWebGpuBackend();
  }
  return await createCpuBackend(options.cpu);
}
