/**
 * Shared by the engine tests: the backends to run on (CPU always; WebGPU when an adapter and the
 * backend module exist, skipped with a printed reason otherwise, and a hard failure instead of a
 * skip when AUTORESEARCH_REQUIRE_WEBGPU=1), seeded random data and closeness checks.
 */
import { seededRandom } from "../../src/util/random.ts";
import type { Backend } from "../../src/engine/backend.ts";

export { type BackendCase, BACKENDS } from "../backends.ts";

/** Deterministic pseudo-random numbers (mulberry32). */
export class Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  /** Seeded generator. */
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  /** Uniform in [lo, hi). */
  uniform(n: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
  /** Integers in [0, hi). */
  ints(n: number, hi: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * hi);
    return out;
  }
}

/** Largest |a - b| / (atol + rtol * |b|) over the arrays (<= 1 means close). */
export function closeness(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  atol: number,
  rtol: number,
): { worst: number; index: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0, index = -1;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(r <= worst)) {
      worst = r;
      index = i;
    }
  }
  return { worst, index };
}

/** Throws with a readable message when `actual` is not close to `expected`. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what: string,
): void {
  const { worst, index } = closeness(actual, expected, atol, rtol);
  if (!(worst <= 1)) {
    throw new Error(
      `${what}: not close at [${index}]: got ${actual[index]}, want ${expected[index]} ` +
        `(atol ${atol}, rtol ${rtol}, ratio ${worst.toFixed(2)})`,
    );
  }
}

/** Attention shape of {@linkcode attentionForwardBackward}. */
export interface AttentionGeometry {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  window: number;
}

/**
 * Attention forward then backward on `be` from host q, k, v (B, T, H, D) and the output gradient:
 * returns [out, lse, dq, dk, dv] read back to the host.
 */
export async function attentionForwardBackward(
  be: Backend,
  [qHost, kHost, vHost, gradOutHost]: Float32Array[],
  geo: AttentionGeometry,
): Promise<Float32Array[]> {
  const [q, k, v, gradOut] = [qHost, kHost, vHost, gradOutHost].map((values) => {
    const b = be.alloc("f32", values.length);
    be.write(b, values);
    return b;
  });
  const n = qHost.length;
  const out = be.alloc("f32", n), lse = be.alloc("f32", geo.batch * geo.heads * geo.seq);
  const [gradQ, gradK, gradV] = [0, 1, 2].map(() => be.alloc("f32", n));
  be.attention({ q, k, v, out, lse, ...geo });
  be.attentionBackward({ q, k, v, out, lse, gradOut, gradQ, gradK, gradV, ...geo });
  return await Promise.all([out, lse, gradQ, gradK, gradV].map((b) => be.read(b)));
}
