/**
 * WebGPU matmul benchmark: GFLOP/s of our tiled WGSL GEMM at 256, 512, 1024 and 2048, beside the
 * TypeScript peer jax-js on ITS WebGPU backend, measured in the same process on the same adapter,
 * with the ratio. On a software adapter (lavapipe) both are slow and iterations are cut so the
 * whole run stays near a minute. Both sides enqueue their matmuls and wait once at the end.
 */
import { createWebGpuBackend, type WebGpuBackend } from "../src/engine/webgpu/mod.ts";

const SIZES = [256, 512, 1024, 2048];

/** Iterations for a size: enough work to time, little enough for a software adapter. */
function iterationsFor(n: number, fallback: boolean): number {
  if (!fallback) return n <= 512 ? 50 : n <= 1024 ? 20 : 10;
  return n <= 256 ? 8 : n <= 512 ? 3 : 1;
}

function randomMatrix(n: number): Float32Array {
  const out = new Float32Array(n * n);
  for (let i = 0; i < out.length; i++) out[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return out;
}

/** A timed runner: `time()` runs the prepared matmuls once and returns ms per matmul. */
interface Runner {
  time(): Promise<number>;
  dispose(): void;
}

/** Our GEMM: `iters` enqueued matmuls, one wait. */
async function ours(backend: WebGpuBackend, n: number, iters: number): Promise<Runner> {
  const a = backend.alloc("f32", n * n);
  const b = backend.alloc("f32", n * n);
  const c = backend.alloc("f32", n * n);
  backend.write(a, randomMatrix(n));
  backend.write(b, randomMatrix(n));
  backend.matmul({ a, b, c, m: n, n, k: n }); // warm-up: pipeline compile
  await backend.sync();
  return {
    async time() {
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) backend.matmul({ a, b, c, m: n, n, k: n });
      await backend.sync();
      return (performance.now() - t0) / iters;
    },
    dispose() {
      for (const buffer of [a, b, c]) backend.free(buffer);
    },
  };
}

// deno-lint-ignore no-explicit-any
type Jax = any;

/** jax-js on its WebGPU device, or null with the reason it cannot run. */
async function loadJax(): Promise<{ jax: Jax } | { error: string }> {
  try {
    const jax = await import("@jax-js/jax");
    const devices: string[] = await jax.init();
    if (!devices.includes("webgpu")) return { error: `jax-js found no webgpu (has ${devices})` };
    jax.defaultDevice("webgpu");
    return { jax };
  } catch (error) {
    return { error: `jax-js failed to load: ${error instanceof Error ? error.message : error}` };
  }
}

/** jax-js: a jitted matmul, `iters` calls, then wait for every result. */
async function theirs(jax: Jax, n: number, iters: number): Promise<Runner> {
  const np = jax.numpy;
  const a = np.array(randomMatrix(n)).reshape([n, n]);
  const b = np.array(randomMatrix(n)).reshape([n, n]);
  const mm = jax.jit((x: Jax, y: Jax) => np.matmul(x, y));
  const warm = mm(a.ref, b.ref);
  await jax.blockUntilReady(warm);
  warm.dispose();
  return {
    async time() {
      const t0 = performance.now();
      const outs = [];
      for (let i = 0; i < iters; i++) outs.push(mm(a.ref, b.ref));
      for (const out of outs) await jax.blockUntilReady(out);
      const ms = (performance.now() - t0) / iters;
      for (const out of outs) out.dispose();
      return ms;
    },
    dispose() {
      a.dispose();
      b.dispose();
    },
  };
}

const gflops = (n: number, ms: number) => (2 * n ** 3) / (ms / 1000) / 1e9;

/** Print our WebGPU matmul GFLOP/s beside jax-js's WebGPU at each size. */
export async function run(): Promise<void> {
  let backend: WebGpuBackend;
  try {
    backend = await createWebGpuBackend() as WebGpuBackend;
  } catch (error) {
    console.log(`webgpu: skipped (${error instanceof Error ? error.message : error})`);
    return;
  }
  const fallback = backend.info.isFallback;
  console.log(`webgpu matmul on ${backend.info.device}${fallback ? " (software adapter)" : ""}`);
  const peer = await loadJax();
  if ("error" in peer) console.log(`jax-js webgpu: not measured: ${peer.error}`);
  console.log("size   ours GFLOP/s   jax-js webgpu GFLOP/s   ours/jax-js");
  try {
    for (const n of SIZES) {
      const iters = iterationsFor(n, fallback);
      const mine = await ours(backend, n, iters);
      const other = "jax" in peer ? await theirs(peer.jax, n, iters) : null;
      // Interleaved repeats, best of each: the machine's load drifts less between neighbours.
      let bestMine = Infinity;
      let bestOther = Infinity;
      for (let rep = 0; rep < (n >= 2048 && fallback ? 2 : 3); rep++) {
        bestMine = Math.min(bestMine, await mine.time());
        if (other) bestOther = Math.min(bestOther, await other.time());
      }
      mine.dispose();
      other?.dispose();
      const a = gflops(n, bestMine);
      const b = other ? gflops(n, bestOther) : NaN;
      const ratio = Number.isFinite(b) ? (a / b).toFixed(2) : "-";
      console.log(
        `${String(n).padEnd(6)} ${a.toFixed(2).padStart(14)}   ${
          (Number.isFinite(b) ? b.toFixed(2) : "-").padStart(21)
        }   ${ratio.padStart(11)}`,
      );
    }
  } finally {
    backend.destroy();
  }
}

if (import.meta.main) await run();
