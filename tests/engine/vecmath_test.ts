/**
 * The CPU backend's WebAssembly SIMD exp kernels: exp accuracy over the whole f32 range, and the
 * SIMD and plain-JS paths of cross-entropy and attention agreeing (odd sizes exercise the tails).
 */
import assert from "node:assert/strict";
import { createCpuBackend } from "../../src/engine/cpu/backend.ts";
import { createVecMath } from "../../src/engine/cpu/vecmath.ts";
import type { Backend, DeviceBuffer } from "../../src/engine/backend.ts";
import { assertClose, attentionForwardBackward, Rng } from "./helpers.ts";

Deno.test("vecmath: SIMD exp within 2 ulp-ish of Math.exp from -87 to 88, saturating beyond", () => {
  const vm = createVecMath();
  assert.ok(vm, "WebAssembly SIMD is available in Deno");
  const n = 8192;
  const v = vm.view(2 * n);
  const x = Float32Array.from({ length: n }, (_, i) => -100 + (200 * i) / n);
  v.set(x, 0);
  const sum = vm.expShift(n, n, 0);
  const out = vm.view(2 * n).subarray(n, 2 * n);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const want = Math.exp(x[i]);
    if (x[i] > -87 && x[i] < 88) worst = Math.max(worst, Math.abs(out[i] - want) / want);
    else if (x[i] < -88) assert.ok(out[i] < 1e-37, `exp(${x[i]}) underflows to ~0`);
  }
  assert.ok(worst < 3e-7, `relative error ${worst}`);
  assert.ok(Number.isFinite(out[n - 1]), "exp(100) saturates instead of becoming NaN");
  assert.equal(sum, Infinity, "the f32 lane sums overflow past exp(88)");
  // The returned sum over a moderate range matches.
  v.set(x.subarray(0, n / 2), 0);
  const half = vm.expShift(n / 2, n, 0);
  let want = 0;
  for (let i = 0; i < n / 2; i++) want += Math.exp(x[i]);
  assert.ok(Math.abs(half - want) / want < 1e-5, `sum ${half} vs ${want}`);
});

Deno.test("vecmath: SIMD row max equals the JS `x > max` loop (NaN skipped, -Infinity if empty)", () => {
  const vm = createVecMath();
  assert.ok(vm, "WebAssembly SIMD is available in Deno");
  const rng = new Rng(23);
  for (const n of [0, 4, 8, 12, 36, 4096]) {
    const x = rng.uniform(n, -50, 50);
    if (n >= 8) {
      x[n - 1] = NaN;
      x[1] = -Infinity;
    }
    vm.view(n + 4).set(x, 0);
    let want = -Infinity;
    for (let i = 0; i < n; i++) if (x[i] > want) want = x[i];
    assert.equal(vm.rowMax(n), want, `n=${n}`);
  }
  // The largest value in each lane position and loop tail is found.
  for (let at = 0; at < 12; at++) {
    const x = new Float32Array(12).fill(-1);
    x[at] = 7;
    vm.view(16).set(x, 0);
    assert.equal(vm.rowMax(12), 7, `max at ${at}`);
  }
});

Deno.test("vecmath: row max and exp at a source offset, in place, equal the same at offset 0", () => {
  const vm = createVecMath();
  assert.ok(vm, "WebAssembly SIMD is available in Deno");
  const x = new Rng(29).uniform(40, -5, 5);
  const v = vm.view(200);
  v.set(x, 0);
  const max0 = vm.rowMax(40), sum0 = vm.expShift(40, 100, max0);
  const at0 = vm.view(200).slice(100, 140);
  v.fill(0, 0, 200);
  v.set(x, 13); // an offset that is not a multiple of 4 floats
  assert.equal(vm.rowMax(40, 13), max0);
  assert.equal(vm.expShift(40, 13, max0, 13), sum0);
  assert.deepEqual(vm.view(200).slice(13, 53), at0);
  assert.equal(vm.view(200)[53], 0, "nothing written past the row");
});

async function pair(): Promise<[Backend, Backend]> {
  return [await createCpuBackend(), await createCpuBackend({ simd: false })];
}

function put(be: Backend, values: Float32Array): DeviceBuffer<"f32"> {
  const b = be.alloc("f32", values.length);
  be.write(b, values);
  return b;
}

for (const softcap of [0, 15, 200]) {
  Deno.test(`vecmath: cross-entropy SIMD and JS paths agree (vocab 4099, softcap ${softcap})`, async () => {
    const [simd, js] = await pair();
    assert.match(simd.info.device, /SIMD/);
    assert.doesNotMatch(js.info.device, /SIMD/);
    const rows = 5, vocab = 4099;
    const rng = new Rng(17);
    const logits = rng.uniform(rows * vocab, -20, 20);
    const targets = Int32Array.of(0, 4098, -1, 17, 2048);
    const gradLosses = rng.uniform(rows);
    const start = rng.uniform(rows * vocab);
    const results = [];
    for (const be of [simd, js]) {
      const L = put(be, logits), g = put(be, gradLosses), dl = put(be, start);
      const t = be.alloc("i32", rows);
      be.write(t, targets);
      const losses = be.alloc("f32", rows), lse = be.alloc("f32", rows);
      be.crossEntropy({ logits: L, targets: t, losses, lse, rows, vocab, softcap });
      const common = { logits: L, targets: t, lse, gradLosses: g, rows, vocab, softcap };
      be.crossEntropyBackward({ ...common, gradLogits: dl, accumulate: true });
      const acc = await be.read(dl);
      be.crossEntropyBackward({ ...common, gradLogits: dl });
      results.push({ losses: await be.read(losses), acc, fresh: await be.read(dl) });
      be.destroy();
    }
    const [a, b] = results;
    assertClose(a.losses, b.losses, 1e-5, 1e-5, "losses");
    assertClose(a.fresh, b.fresh, 1e-7, 1e-4, "dlogits");
    assertClose(a.acc, b.acc, 1e-6, 1e-5, "accumulated dlogits");
    assert.equal(a.losses[2], 0, "ignored target");
  });
}

Deno.test("vecmath: attention SIMD and JS paths agree (seq 137, window 70)", async () => {
  const [simd, js] = await pair();
  const geo = { batch: 2, seq: 137, heads: 3, headDim: 8, window: 70 };
  const n = 2 * 137 * 3 * 8;
  const rng = new Rng(5);
  const data = [rng.uniform(n, -3, 3), rng.uniform(n, -3, 3), rng.uniform(n), rng.uniform(n)];
  const results: Float32Array[][] = [];
  for (const be of [simd, js]) {
    results.push(await attentionForwardBackward(be, data, geo));
    be.destroy();
  }
  results[0].forEach((a, i) => assertClose(a, results[1][i], 1e-6, 1e-5, `tensor ${i}`));
});
