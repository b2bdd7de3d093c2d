/**
 * Shared by the engine tests: the backends to run on (CPU always; WebGPU when an adapter and the
 * backend module exist, skipped with a printed reason otherwise, and a hard failure instead of a
 * skip when AUTORESEARCH_REQUIRE_WEBGPU=1), seeded random data and closeness checks.
 */
import { seededRandom } from "../../src/util/random.ts";

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
