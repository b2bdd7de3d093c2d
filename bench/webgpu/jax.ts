/**
 * The peer in the WebGPU matmul table: jax-js (a TypeScript numpy/JAX) on ITS WebGPU backend, in
 * the same process on the same adapter. Its device queue is its own, so it is timed the only way
 * it can be from outside: `iters` jitted calls enqueued, then a wait for all of them (wall time).
 */
import type { MatmulShape } from "../../src/engine/webgpu/matmul_variants.ts";

// deno-lint-ignore no-explicit-any
type Jax = any;

/** jax-js on its WebGPU device, or the reason it cannot run. */
export type JaxPeer = { jax: Jax } | { error: string };

/** Load jax-js and select its WebGPU device. */
export async function loadJax(): Promise<JaxPeer> {
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

/** Deterministic values in [-0.5, 0.5). */
function pattern(length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return out;
}

/** An operand stored as the backend stores it: (batch,) rows x cols. */
function operand(jax: Jax, batch: number, rows: number, cols: number): Jax {
  const dims = batch > 1 ? [batch, rows, cols] : [rows, cols];
  return jax.numpy.array(pattern(batch * rows * cols)).reshape(dims);
}

/** op(x): the stored operand, transposed over its last two axes when asked. */
function op(x: Jax, transposed: boolean, batched: boolean): Jax {
  if (!transposed) return x;
  return x.transpose(batched ? [0, 2, 1] : [1, 0]);
}

/**
 * Wall milliseconds per product of a jitted jax-js matmul of `shape` (operands stored as ours:
 * A (k, m) when transA, B (n, k) when transB), `iters` enqueued before one wait; best of `repeats`.
 */
export async function jaxMatmulMs(
  jax: Jax,
  shape: MatmulShape,
  iters: number,
  repeats: number,
): Promise<number> {
  const { m, n, k, batch, transA, transB } = shape;
  const batched = batch > 1;
  const a = transA ? operand(jax, batch, k, m) : operand(jax, batch, m, k);
  const b = transB ? operand(jax, batch, n, k) : operand(jax, batch, k, n);
  const product = jax.jit((x: Jax, y: Jax) =>
    jax.numpy.matmul(op(x, transA, batched), op(y, transB, batched))
  );
  try {
    const warm = product(a.ref, b.ref);
    await jax.blockUntilReady(warm);
    warm.dispose();
    let best = Infinity;
    for (let rep = 0; rep < repeats; rep++) {
      const t0 = performance.now();
      const outs = [];
      for (let i = 0; i < iters; i++) outs.push(product(a.ref, b.ref));
      for (const out of outs) await jax.blockUntilReady(out);
      best = Math.min(best, (performance.now() - t0) / iters);
      for (const out of outs) out.dispose();
    }
    return best;
  } finally {
    a.dispose();
    b.dispose();
  }
}
