/**
 * The CPU backend's rewritten pointwise kernels against plain reference loops (the straightforward
 * form each replaced), on random-sign data with exact zeros and -0, with and without accumulate.
 */
import assert from "node:assert/strict";
import { unaryBackwardKernel, unaryKernel } from "../../src/engine/cpu/kernels.ts";
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
