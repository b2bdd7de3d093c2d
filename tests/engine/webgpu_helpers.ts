/**
 * Shared helpers of the WebGPU tests: a test wrapper that skips (saying why) when the machine has
 * no WebGPU adapter, but FAILS when AUTORESEARCH_REQUIRE_WEBGPU=1 (CI), a seeded generator, and
 * a tolerance check that names the worst element.
 */
import { BACKENDS, testOnBackend } from "../backends.ts";
import { seededRandom } from "../../src/util/random.ts";
import type { WebGpuBackend } from "../../src/engine/webgpu/mod.ts";

const webgpu = BACKENDS.find((b) => b.name === "webgpu")!;

/** Register a test that gets a fresh WebGPU backend, destroyed afterwards. */
export function gpuTest(name: string, body: (backend: WebGpuBackend) => Promise<void>): void {
  testOnBackend(webgpu, name, (backend) => body(backend as WebGpuBackend));
}

/** A seeded uniform generator in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  const next = seededRandom(seed);
  return () => next() * 2 - 1;
}

/** n seeded values in [-scale, scale). */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => next() * scale);
}

/** Assert |got - want| <= atol + rtol * |want| everywhere, naming the worst element. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
  atol = 1e-4,
  rtol = 1e-4,
): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length} != ${want.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < got.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${what}: element ${worst}: got ${got[worst]}, want ${want[worst]}`);
  }
}
