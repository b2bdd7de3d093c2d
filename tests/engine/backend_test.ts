/**
 * Conformance of the raw Backend contract (src/engine/backend.ts) on every backend, for what the
 * autograd tests do not reach: outputs are overwritten even when they hold NaN (pooled buffers
 * are uninitialised), accumulate flags add, offsets and strides are honoured, partial reads and
 * writes, byte counters, and errors on misuse.
 */
import { testOnBackend } from "../backends.ts";
import assert from "node:assert/strict";
import type { Backend, DeviceBuffer } from "../../src/engine/backend.ts";
import { assertClose, BACKENDS, Rng } from "./helpers.ts";

/** An f32 buffer holding `values`. */
function put(be: Backend, values: ArrayLike<number>): DeviceBuffer<"f32"> {
  const b = be.alloc("f32", values.length);
  be.write(b, Float32Array.from(values));
  return b;
}

/** An f32 buffer of n NaNs (what a recycled pooled buffer may hold). */
function nans(be: Backend, n: number): DeviceBuffer<"f32"> {
  const b = be.alloc("f32", n);
  be.fill({ out: b, value: NaN });
  return b;
}

for (const bc of BACKENDS) {
  const test = (name: string, fn: (be: Backend) => Promise<void>) =>
    testOnBackend(bc, `backend ${bc.name}: ${name}`, fn);

  test("write, partial read, fill with offset, i32 buffers", async (be) => {
    const b = put(be, [1, 2, 3, 4, 5]);
    be.write(b, Float32Array.of(9, 8), 3);
    assert.deepEqual([...await be.read(b, 1, 3)], [2, 3, 9]);
    be.fill({ out: b, value: -1, offset: 1, length: 2 });
    assert.deepEqual([...await be.read(b)], [1, -1, -1, 9, 8]);
    const ids = be.alloc("i32", 3);
    be.write(ids, Int32Array.of(7, -2, 2147483647));
    const back = await be.read(ids);
    assert.ok(back instanceof Int32Array);
    assert.deepEqual([...back], [7, -2, 2147483647]);
  });

  test("memory counters follow alloc/free and the pool is reused", async (be) => {
    const before = be.memory();
    const a = be.alloc("f32", 1000), b = be.alloc("i32", 10);
    const mid = be.memory();
    assert.equal(mid.inUseBytes - before.inUseBytes >= 4040, true);
    assert.equal(mid.liveBuffers - before.liveBuffers, 2);
    be.free(a);
    be.free(b);
    const after = be.memory();
    assert.equal(after.inUseBytes, before.inUseBytes);
    assert.equal(after.liveBuffers, before.liveBuffers);
    assert.ok(after.peakInUseBytes >= mid.inUseBytes);
    // Same size again comes from the pool: reserved bytes do not grow.
    const c = be.alloc("f32", 1000);
    assert.equal(be.memory().reservedBytes, after.reservedBytes);
    be.free(c);
    be.trim();
    assert.equal(be.memory().reservedBytes, be.memory().inUseBytes);
    await be.sync();
  });

  test("double free and write after free are caught", (be) => {
    const a = be.alloc("f32", 4);
    be.free(a);
    assert.throws(() => be.free(a));
    assert.throws(() => be.write(a, new Float32Array(4)));
    return Promise.resolve();
  });

  test("matmul with beta 0 ignores NaN in C; beta 1 accumulates; offsets and strides", async (be) => {
    const rng = new Rng(3);
    const A = rng.uniform(2 * 3 * 4), B = rng.uniform(4 * 5);
    const a = put(be, A), b = put(be, B);
    const c = nans(be, 2 * 3 * 5 + 1);
    // two (3,4)x(4,5) products with B shared (stride 0), C at offset 1
    be.matmul({ a, b, c, m: 3, n: 5, k: 4, batch: 2, strideB: 0, offsetC: 1 });
    const want = new Float32Array(30);
    for (let t = 0; t < 2; t++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 5; j++) {
          let s = 0;
          for (let p = 0; p < 4; p++) s += A[t * 12 + i * 4 + p] * B[p * 5 + j];
          want[t * 15 + i * 5 + j] = s;
        }
      }
    }
    assertClose(await be.read(c, 1, 30), want, 1e-5, 1e-5, "matmul");
    be.matmul({ a, b, c, m: 3, n: 5, k: 4, batch: 2, strideB: 0, offsetC: 1, beta: 1, alpha: 2 });
    assertClose(await be.read(c, 1, 30), want.map((v) => 3 * v), 1e-5, 1e-5, "accumulate");
  });

  test("every op overwrites NaN outputs unless told to accumulate", async (be) => {
    const rng = new Rng(5);
    const x = put(be, rng.uniform(24)), y = put(be, rng.uniform(24));
    const check = async (out: DeviceBuffer<"f32">, what: string) => {
      const v = await be.read(out);
      assert.ok(v.every(Number.isFinite), `${what} left NaN in its output`);
    };
    let o = nans(be, 24);
    be.binary({ op: "add", a: x, b: y, out: o, shape: [24], aShape: [24], bShape: [24] });
    await check(o, "binary");
    o = nans(be, 24);
    be.unary({ op: "relu2", x, out: o, n: 24 });
    await check(o, "unary");
    o = nans(be, 24);
    be.unaryBackward({ op: "sigmoid", x, y, gradOut: x, gradIn: o, n: 24 });
    await check(o, "unaryBackward");
    o = nans(be, 4);
    be.reduceTo({ x, out: o, shape: [4, 6], outShape: [4, 1] });
    await check(o, "reduceTo");
    o = nans(be, 24);
    be.broadcastTo({ x, out: o, xShape: [1, 6], shape: [4, 6] });
    await check(o, "broadcastTo");
    o = nans(be, 24);
    be.scale({ x, out: o, n: 24, alpha: 3 });
    await check(o, "scale");
    o = nans(be, 24);
    const rstd = nans(be, 4);
    be.rmsnorm({ x, out: o, rstd, rows: 4, dim: 6 });
    await check(o, "rmsnorm");
    await check(rstd, "rmsnorm rstd");
    o = nans(be, 24);
    be.rmsnormBackward({ x, rstd, gradOut: y, gradIn: o, rows: 4, dim: 6 });
    await check(o, "rmsnormBackward");
    // embedding backward: rows no id hits must become 0, not stay NaN
    const ids = be.alloc("i32", 2);
    be.write(ids, Int32Array.of(1, 1));
    o = nans(be, 4 * 6);
    be.embeddingBackward({ ids, gradOut: x, gradTable: o, tokens: 2, vocab: 4, dim: 6 });
    const gt = await be.read(o);
    assert.ok(gt.every(Number.isFinite), "embeddingBackward left NaN");
    assert.deepEqual([...gt.slice(0, 6)], [0, 0, 0, 0, 0, 0]);
    const xs = await be.read(x);
    assertClose(gt.slice(6, 12), xs.slice(0, 6).map((v, i) => v + xs[6 + i]), 1e-6, 1e-6, "sum");
  });

  test("accumulate adds into existing values", async (be) => {
    const x = put(be, [1, 2, 3, 4]), y = put(be, [10, 20, 30, 40]);
    const out = put(be, [1, 1, 1, 1]);
    be.binary({
      op: "mul",
      a: x,
      b: y,
      out,
      shape: [4],
      aShape: [4],
      bShape: [4],
      accumulate: true,
    });
    assert.deepEqual([...await be.read(out)], [11, 41, 91, 161]);
    be.scale({ x, out, n: 4, alpha: -1, accumulate: true });
    assert.deepEqual([...await be.read(out)], [10, 39, 88, 157]);
    const s = put(be, [5]);
    be.reduceTo({ x, out: s, shape: [4], outShape: [1], alpha: 0.5, accumulate: true });
    assert.deepEqual([...await be.read(s)], [10]);
  });

  test("copy2d: narrow and its backward with offsets and strides", async (be) => {
    const src = put(be, Array.from({ length: 12 }, (_, i) => i)); // (3, 4)
    const dst = nans(be, 6); // (3, 2) = src[:, 1:3]
    be.copy2d({ src, dst, rows: 3, cols: 2, srcStride: 4, dstStride: 2, srcOffset: 1 });
    assert.deepEqual([...await be.read(dst)], [1, 2, 5, 6, 9, 10]);
    const back = put(be, new Array(12).fill(100));
    be.copy2d({
      src: dst,
      dst: back,
      rows: 3,
      cols: 2,
      srcStride: 2,
      dstStride: 4,
      dstOffset: 1,
      accumulate: true,
    });
    assert.deepEqual(
      [...await be.read(back)],
      [100, 101, 102, 100, 100, 105, 106, 100, 100, 109, 110, 100],
    );
  });

  test("cross-entropy: ignored targets give 0 loss and 0 gradient", async (be) => {
    const logits = put(be, [1, 2, 3, 0.5, 0.5, 0.5]);
    const targets = be.alloc("i32", 2);
    be.write(targets, Int32Array.of(2, -1));
    const losses = nans(be, 2), lse = nans(be, 2);
    be.crossEntropy({ logits, targets, losses, lse, rows: 2, vocab: 3, softcap: 0 });
    const l = await be.read(losses);
    const want = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3;
    assertClose(l, [want, 0], 1e-6, 1e-5, "losses");
    const gl = put(be, [1, 1]), grad = nans(be, 6);
    be.crossEntropyBackward({
      logits,
      targets,
      lse,
      gradLosses: gl,
      gradLogits: grad,
      rows: 2,
      vocab: 3,
      softcap: 0,
    });
    const g = await be.read(grad);
    assert.deepEqual([...g.slice(3)], [0, 0, 0]);
    assertClose([g[0] + g[1] + g[2]], [0], 1e-6, 0, "softmax - onehot sums to 0");
  });

  test("attention: window >= seq equals plain causal; window 0 attends to itself only", async (be) => {
    const rng = new Rng(11);
    const n = 1 * 5 * 2 * 4;
    const q = put(be, rng.uniform(n)), k = put(be, rng.uniform(n)), v = put(be, rng.uniform(n));
    const geo = { batch: 1, seq: 5, heads: 2, headDim: 4 };
    const run = async (window: number) => {
      const out = nans(be, n), lse = nans(be, 10);
      be.attention({ q, k, v, out, lse, ...geo, window });
      return await be.read(out);
    };
    assertClose(await run(100), await run(4), 1e-6, 1e-6, "wide window");
    assertClose(await run(0), await be.read(v), 1e-6, 1e-6, "window 0 = v");
  });
}
