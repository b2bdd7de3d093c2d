/**
 * The CPU backend's rewritten pointwise kernels against plain reference loops (the straightforward
 * form each replaced), on random-sign data with exact zeros and -0, with and without accumulate:
 * branch-free relu2, and binary ops' flat and broadcast loops.
 */
import assert from "node:assert/strict";
import { binaryKernel, unaryBackwardKernel, unaryKernel } from "../../src/engine/cpu/kernels.ts";
import { Rng } from "./helpers.ts";

/** Random values in [-2, 2) with some exact zeros and negative zeros mixed in. */
function signedData(n: number, seed: number): Float32Array {
  const x = new Rng(seed).uniform(n, -2, 2);
  for (let i = 0; i < n; i += 7) x[i] = i % 14 === 0 ? 0 : -0;
  return x;
}

for (const accumulate of [false, true]) {
  Deno.test(`cpu kernels: branch-free relu2 forward equals the reference (accumulate ${accumulate})`, () => {
    const n = 1031;
    const x = signedData(n, 3), start = signedData(n, 4);
    const got = start.slice(), want = start.slice();
    unaryKernel("relu2", x, got, n, 0, accumulate);
    for (let i = 0; i < n; i++) {
      const v = x[i] > 0 ? x[i] * x[i] : 0;
      want[i] = accumulate ? want[i] + v : v;
    }
    for (let i = 0; i < n; i++) assert.ok(got[i] === want[i], `i=${i}: ${got[i]} vs ${want[i]}`);
  });

  Deno.test(`cpu kernels: branch-free relu2 backward equals the reference (accumulate ${accumulate})`, () => {
    const n = 1031;
    const x = signedData(n, 5), g = signedData(n, 6), start = signedData(n, 7);
    const got = start.slice(), want = start.slice();
    unaryBackwardKernel("relu2", x, new Float32Array(n), g, got, n, 0, accumulate);
    for (let i = 0; i < n; i++) {
      const v = x[i] > 0 ? 2 * x[i] * g[i] : 0;
      want[i] = accumulate ? want[i] + v : v;
    }
    // -0 and 0 compare equal: a negative input may give -0 where the reference gives 0.
    for (let i = 0; i < n; i++) assert.ok(got[i] === want[i], `i=${i}: ${got[i]} vs ${want[i]}`);
  });
}

/** out (+)= a op b by explicit rank-4 indices, broadcasting size-1 dims (the reference). */
function referenceBinary(
  mul: boolean,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  shape: number[],
  aShape: number[],
  bShape: number[],
  accumulate: boolean,
): void {
  const pad = (x: number[]) => [1, 1, 1, ...x].slice(-4);
  const [s, as, bs] = [pad(shape), pad(aShape), pad(bShape)];
  const index = (dims: number[], i: number[]) =>
    i.reduce((acc, v, d) => acc * dims[d] + (dims[d] === 1 ? 0 : v), 0);
  let o = 0;
  for (let i0 = 0; i0 < s[0]; i0++) {
    for (let i1 = 0; i1 < s[1]; i1++) {
      for (let i2 = 0; i2 < s[2]; i2++) {
        for (let i3 = 0; i3 < s[3]; i3++, o++) {
          const i = [i0, i1, i2, i3];
          const x = a[index(as, i)], y = b[index(bs, i)];
          const v = mul ? x * y : x + y;
          out[o] = accumulate ? out[o] + v : v;
        }
      }
    }
  }
}

const binaryCases: [number[], number[], number[]][] = [
  [[3, 5, 7], [3, 5, 7], [3, 5, 7]], // same shape: flat loop
  [[3, 5, 7], [3, 5, 7], [1, 1, 1]], // scalar of rank 3: flat loop
  [[3, 5, 7], [3, 5, 7], [1]], // scalar of rank 1
  [[2, 3, 4, 6], [2, 3, 4, 6], [2, 3, 4, 1]], // per-row gate
  [[2, 3, 4, 6], [2, 3, 4, 6], [1, 1, 4, 6]], // broadcast over leading dims
  [[2, 3, 4, 6], [2, 1, 4, 6], [2, 3, 4, 6]], // a broadcast
];

for (const [shape, aShape, bShape] of binaryCases) {
  for (const op of ["add", "mul"] as const) {
    Deno.test(`cpu kernels: binary ${op} [${shape}] <- [${aShape}], [${bShape}] equals the reference`, () => {
      const size = (x: number[]) => x.reduce((p, q) => p * q, 1);
      const n = size(shape);
      const a = signedData(size(aShape), 8), b = signedData(size(bShape), 9);
      for (const accumulate of [false, true]) {
        const start = signedData(n, 10);
        const got = start.slice(), want = start.slice();
        binaryKernel(op, a, b, got, shape, aShape, bShape, accumulate);
        referenceBinary(op === "mul", a, b, want, shape, aShape, bShape, accumulate);
        for (let i = 0; i < n; i++) {
          assert.ok(
            got[i] === want[i],
            `accumulate ${accumulate}, i=${i}: ${got[i]} vs ${want[i]}`,
          );
        }
      }
    });
  }
}
