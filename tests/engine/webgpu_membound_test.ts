/**
 * The memory-bound WebGPU kernels (RMSNorm, softcap + cross-entropy, elementwise, rotary,
 * reduce_to, embedding) against f64 references, at shapes chosen to reach every path of each
 * kernel: vec4 and scalar packs (widths divisible by 4 or not), rows per workgroup that do not
 * divide the row count, rows shorter and longer than a workgroup, rows past the lanes' register
 * cache, large vocabularies, ignored targets, accumulate on and off, and windows past the
 * storage binding limit.
 */
import assert from "node:assert/strict";
import { assertClose, gpuTest, randomArray } from "./webgpu_helpers.ts";
import type { WebGpuBackend } from "../../src/engine/webgpu/mod.ts";

function upload(backend: WebGpuBackend, data: Float32Array) {
  const buffer = backend.alloc("f32", data.length);
  backend.write(buffer, data);
  return buffer;
}

function uploadIds(backend: WebGpuBackend, data: Int32Array) {
  const buffer = backend.alloc("i32", data.length);
  backend.write(buffer, data);
  return buffer;
}

/** f64 RMSNorm forward and backward of rows of x (rstd, out, gradIn without accumulation). */
function refRmsnorm(x: Float32Array, g: Float32Array, rows: number, dim: number, eps: number) {
  const out = new Float64Array(rows * dim);
  const rstd = new Float64Array(rows);
  const gradIn = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[r * dim + d] ** 2;
    const rs = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = rs;
    let gy = 0;
    for (let d = 0; d < dim; d++) {
      out[r * dim + d] = x[r * dim + d] * rs;
      gy += g[r * dim + d] * x[r * dim + d] * rs;
    }
    for (let d = 0; d < dim; d++) {
      gradIn[r * dim + d] = rs * (g[r * dim + d] - x[r * dim + d] * rs * gy / dim);
    }
  }
  return { out, rstd, gradIn };
}

// [rows, dim]: vec4 rows of 1 pack (4 lanes), short rows many to a workgroup with a partial last
// workgroup (37 rows of 64: 8 lanes, 32 rows a workgroup), the trainer's widths, a scalar row of
// 300 (256 lanes), a vec4 row past the register cache (1250 packs), a scalar one (4099).
const NORM_SHAPES = [[5, 4], [37, 64], [9, 256], [6, 1024], [3, 7], [4, 300], [3, 5000], [2, 4099]];

gpuTest("membound rmsnorm forward and backward, every lane layout and pack", async (g) => {
  const eps = 1e-5;
  for (const [rows, dim] of NORM_SHAPES) {
    const n = rows * dim;
    const x = randomArray(n, rows + dim, 3);
    const gradOut = randomArray(n, rows * dim);
    const prior = randomArray(n, 7 + dim);
    const want = refRmsnorm(x, gradOut, rows, dim, eps);
    const bx = upload(g, x);
    const out = g.alloc("f32", n);
    const rstd = g.alloc("f32", rows);
    g.rmsnorm({ x: bx, out, rstd, rows, dim, eps });
    const gi = upload(g, prior);
    const bg = upload(g, gradOut);
    g.rmsnormBackward({ x: bx, rstd, gradOut: bg, gradIn: gi, rows, dim, accumulate: true });
    const what = `${rows}x${dim}`;
    assertClose(await g.read(out), want.out, `rmsnorm ${what}`);
    assertClose(await g.read(rstd), want.rstd, `rstd ${what}`);
    assertClose(await g.read(gi), want.gradIn.map((v, i) => v + prior[i]), `accumulate ${what}`);
    g.rmsnormBackward({ x: bx, rstd, gradOut: bg, gradIn: gi, rows, dim });
    assertClose(await g.read(gi), want.gradIn, `rmsnorm backward ${what}`);
    for (const b of [bx, out, rstd, gi, bg]) g.free(b);
  }
});

/** f64 softcap + cross-entropy: losses, lse and the gradient for gradLosses (ignored rows 0). */
function refCrossEntropy(
  logits: Float32Array,
  targets: Int32Array,
  gradLosses: Float32Array,
  vocab: number,
  cap: number,
) {
  const rows = targets.length;
  const losses = new Float64Array(rows);
  const lse = new Float64Array(rows);
  const grad = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const z = Array.from(
      logits.subarray(r * vocab, (r + 1) * vocab),
      (x) => cap === 0 ? x : cap * Math.tanh(x / cap),
    );
    const max = z.reduce((a, b) => Math.max(a, b), -Infinity);
    const l = max + Math.log(z.reduce((s, x) => s + Math.exp(x - max), 0));
    lse[r] = l;
    if (targets[r] < 0) continue;
    losses[r] = l - z[targets[r]];
    z.forEach((zc, c) => {
      const d = Math.exp(zc - l) - (c === targets[r] ? 1 : 0);
      grad[r * vocab + c] = gradLosses[r] * d * (cap === 0 ? 1 : 1 - (zc / cap) ** 2);
    });
  }
  return { losses, lse, grad };
}

async function checkCrossEntropy(
  g: WebGpuBackend,
  rows: number,
  vocab: number,
  cap: number,
  scale: number,
) {
  const logits = randomArray(rows * vocab, rows + vocab, scale);
  // A few huge logits: the capped tanh must saturate, not overflow to NaN.
  if (cap > 0) logits[vocab >> 1] = 1e4, logits[(vocab >> 1) + 1] = -1e4;
  // Ignored rows, the last column (the last lane of a pack) and the first.
  const targets = Int32Array.from(
    { length: rows },
    (_, r) => r % 4 === 1 ? -1 : r % 4 === 2 ? vocab - 1 : (r * 97) % vocab,
  );
  const gradLosses = randomArray(rows, 5 * rows);
  const prior = randomArray(rows * vocab, 3 * rows, 0.1);
  const want = refCrossEntropy(logits, targets, gradLosses, vocab, cap);
  const bl = upload(g, logits);
  const bt = uploadIds(g, targets);
  const losses = upload(g, new Float32Array(rows).fill(NaN));
  const lse = g.alloc("f32", rows);
  const bgl = upload(g, gradLosses);
  const grad = upload(g, prior);
  const what = `${rows}x${vocab} cap ${cap}`;
  g.crossEntropy({ logits: bl, targets: bt, losses, lse, rows, vocab, softcap: cap });
  const params = { logits: bl, targets: bt, lse, gradLosses: bgl, gradLogits: grad, rows, vocab };
  g.crossEntropyBackward({ ...params, softcap: cap, accumulate: true });
  assertClose(await g.read(losses), want.losses, `losses ${what}`, 1e-4, 1e-4);
  assertClose(await g.read(lse), want.lse, `lse ${what}`, 1e-4, 1e-5);
  const accumulated = want.grad.map((v, i) => v + prior[i]);
  assertClose(await g.read(grad), accumulated, `dlogits accumulate ${what}`, 1e-6, 1e-3);
  g.crossEntropyBackward({ ...params, softcap: cap });
  assertClose(await g.read(grad), want.grad, `dlogits ${what}`, 1e-6, 1e-3);
  for (const b of [bl, bt, losses, lse, bgl, grad]) g.free(b);
}

gpuTest(
  "membound cross-entropy: online log-sum-exp, vec4 and scalar, ignored targets",
  async (g) => {
    // [rows, vocab, cap, logit scale]: one pack per row, scalar rows shorter than a workgroup,
    // odd vocabularies, large vocabularies (many packs per invocation), no cap with a wide range
    // (the running max moves often).
    const cases = [
      [5, 4, 15, 30],
      [6, 3, 0, 5],
      [9, 1000, 15, 30],
      [7, 1001, 15, 30],
      [5, 8191, 0, 40],
      [4, 32768, 15, 30],
      [3, 32768, 0, 80],
    ];
    for (const [rows, vocab, cap, scale] of cases) {
      await checkCrossEntropy(g, rows, vocab, cap, scale);
    }
  },
);

gpuTest("membound cross-entropy in row windows past the storage binding limit", async (g) => {
  g.dispatcher.maxStorageBindingBytes = 65536; // 16384 floats: 256 rows of 64, 192 rows of 66
  const before = g.dispatcher.dispatchCount;
  await checkCrossEntropy(g, 600, 64, 15, 30);
  await checkCrossEntropy(g, 500, 66, 0, 10);
  // forward + two backwards, three windows each
  assert.equal(g.dispatcher.dispatchCount - before, 2 * 3 * 3);
});

gpuTest("membound fill: quads with partial ends, f32 and i32, windows", async (g) => {
  for (
    const [length, offset, size] of [[10, 3, 20], [2, 5, 9], [16, 0, 16], [7, 1, 8], [1, 0, 1]]
  ) {
    const f = upload(g, new Float32Array(size).fill(-1));
    g.fill({ out: f, value: 2.5, offset, length });
    const want = new Float32Array(size).fill(-1).fill(2.5, offset, offset + length);
    assert.deepEqual([...await g.read(f)], [...want], `f32 fill ${offset}+${length} of ${size}`);
    const i = uploadIds(g, new Int32Array(size).fill(9));
    g.fill({ out: i, value: -3, offset, length });
    const wantI = new Int32Array(size).fill(9).fill(-3, offset, offset + length);
    assert.deepEqual([...await g.read(i)], [...wantI], `i32 fill ${offset}+${length} of ${size}`);
  }
  g.dispatcher.maxStorageBindingBytes = 1024; // 256 floats per binding
  const big = upload(g, new Float32Array(1001).fill(-1));
  g.fill({ out: big, value: 4, offset: 250, length: 503 });
  const want = new Float32Array(1001).fill(-1).fill(4, 250, 753);
  assert.deepEqual([...await g.read(big)], [...want], "windowed fill");
});

/** Unary forward and derivative in f64 (cap for softcap). */
const ACTIVATIONS: [
  string,
  (v: number, cap: number) => number,
  (v: number, cap: number) => number,
][] = [
  ["relu2", (v) => Math.max(v, 0) ** 2, (v) => 2 * Math.max(v, 0)],
  ["sigmoid", (v) => 1 / (1 + Math.exp(-v)), (v) => Math.exp(-v) / (1 + Math.exp(-v)) ** 2],
  ["softcap", (v, c) => c * Math.tanh(v / c), (v, c) => 1 - Math.tanh(v / c) ** 2],
];

gpuTest(
  "membound scale, unary and unaryBackward in quads (n % 4 != 0, accumulate, windows)",
  async (g) => {
    const check = async (n: number, what: string) => {
      const x = randomArray(n, n, 4);
      x[0] = 1e5; // softcap saturates instead of NaN
      const gradOut = randomArray(n, n + 1);
      const prior = randomArray(n, n + 2);
      const [bx, bg] = [upload(g, x), upload(g, gradOut)];
      const out = upload(g, prior);
      g.scale({ x: bx, out, n, alpha: -3, accumulate: true });
      assertClose(await g.read(out), x.map((v, i) => prior[i] - 3 * v), `scale acc ${what}`);
      g.scale({ x: bx, out, n, alpha: 0.5 });
      assertClose(await g.read(out), x.map((v) => 0.5 * v), `scale ${what}`);
      for (const [name, f, df] of ACTIVATIONS) {
        const op = name as "relu2" | "sigmoid" | "softcap";
        const cap = 3;
        const y = g.alloc("f32", n);
        g.unary({ op, x: bx, out: y, n, cap });
        const wantY = Float64Array.from(x, (v) => f(v, cap));
        assertClose(await g.read(y), wantY, `${name} ${what}`, 1e-5, 1e-5);
        const gi = upload(g, prior);
        g.unaryBackward({ op, x: bx, y, gradOut: bg, gradIn: gi, n, cap, accumulate: true });
        const wantG = Float64Array.from(x, (v, i) => gradOut[i] * df(v, cap));
        assertClose(await g.read(gi), wantG.map((v, i) => v + prior[i]), `${name}' acc ${what}`);
        g.unaryBackward({ op, x: bx, y, gradOut: bg, gradIn: gi, n, cap });
        assertClose(await g.read(gi), wantG, `${name}' ${what}`, 1e-5, 1e-4);
        g.free(y);
        g.free(gi);
      }
    };
    for (const n of [1, 3, 4, 1001]) await check(n, `n=${n}`);
    g.dispatcher.maxStorageBindingBytes = 1024; // 256 floats per binding: 4 windows
    await check(1001, "windowed");
  },
);

/** out[i] of a rank-4 broadcast: the element of `operand` (shape `s`) under output index i. */
function broadcastIndex(i: number, out: number[], s: number[]): number {
  let index = 0;
  let stride = 1;
  for (let d = 3; d >= 0; d--) {
    const c = Math.floor(i / out.slice(d + 1).reduce((a, b) => a * b, 1)) % out[d];
    index += (s[d] === 1 ? 0 : c) * stride;
    stride *= s[d];
  }
  return index;
}

gpuTest("membound binary and broadcastTo: vec4 rows and the per-element fallback", async (g) => {
  // [out, a, b]: the trainer's scalar lambda and gate (last dim broadcast), a row vector, and
  // a last dimension of 6 (no quads).
  const cases = [
    [[2, 3, 5, 8], [2, 3, 5, 8], [1, 1, 1, 1]],
    [[2, 3, 5, 8], [2, 3, 5, 8], [2, 3, 5, 1]],
    [[2, 3, 5, 8], [2, 3, 5, 1], [1, 1, 1, 8]],
    [[1, 3, 5, 6], [1, 3, 5, 6], [1, 3, 1, 6]],
  ];
  for (const [shape, aShape, bShape] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const a = randomArray(size(aShape), n);
    const b = randomArray(size(bShape), n + 1);
    const prior = randomArray(n, n + 2);
    const [ba, bb] = [upload(g, a), upload(g, b)];
    const out = upload(g, prior);
    const at = (
      i: number,
    ) => [a[broadcastIndex(i, shape, aShape)], b[broadcastIndex(i, shape, bShape)]];
    const what = `[${shape}] <- [${aShape}], [${bShape}]`;
    g.binary({ op: "mul", a: ba, b: bb, out, shape, aShape, bShape, accumulate: true });
    const wantMul = Float64Array.from({ length: n }, (_, i) => at(i)[0] * at(i)[1] + prior[i]);
    assertClose(await g.read(out), wantMul, `mul accumulate ${what}`);
    g.binary({ op: "add", a: ba, b: bb, out, shape, aShape, bShape });
    assertClose(
      await g.read(out),
      Float64Array.from({ length: n }, (_, i) => at(i)[0] + at(i)[1]),
      `add ${what}`,
    );
    g.broadcastTo({ x: bb, out, xShape: bShape, shape, alpha: -2, accumulate: true });
    const wantB = Float64Array.from({ length: n }, (_, i) => at(i)[0] + at(i)[1] - 2 * at(i)[1]);
    assertClose(await g.read(out), wantB, `broadcastTo accumulate ${what}`);
    g.broadcastTo({ x: ba, out, xShape: aShape, shape });
    assertClose(
      await g.read(out),
      Float64Array.from({ length: n }, (_, i) => at(i)[0]),
      `broadcastTo ${what}`,
    );
  }
});

gpuTest("membound copy2d: vec4 rows and the per-element fallback", async (g) => {
  // [rows, cols, srcStride, dstStride, srcOffset, dstOffset]
  const cases = [[5, 8, 12, 8, 4, 0], [5, 8, 12, 16, 0, 8], [5, 3, 12, 3, 2, 0], [
    4,
    8,
    12,
    8,
    2,
    0,
  ]];
  for (const [rows, cols, srcStride, dstStride, srcOffset, dstOffset] of cases) {
    const src = randomArray(srcOffset + rows * srcStride, rows * cols);
    const prior = randomArray(dstOffset + rows * dstStride, rows + cols);
    const bs = upload(g, src);
    const dst = upload(g, prior);
    const params = { src: bs, dst, rows, cols, srcStride, dstStride, srcOffset, dstOffset };
    g.copy2d({ ...params, accumulate: true });
    const want = Float64Array.from(prior);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        want[dstOffset + r * dstStride + c] += src[srcOffset + r * srcStride + c];
      }
    }
    assertClose(
      await g.read(dst),
      want,
      `copy2d ${[rows, cols, srcStride, dstStride, srcOffset, dstOffset]}`,
    );
  }
});

gpuTest("membound reduceTo: lanes per output, contiguous runs, split long sums", async (g) => {
  // [shape, outShape]: a gate's head-dim sum (8 lanes, 32 outputs a workgroup, the last one
  // partial), very short runs, long runs, leading dims kept (contiguous), middle dims reduced
  // and column sums (unravelled), full sums and column sums long enough to split into parts.
  const cases = [
    [[3, 37, 4, 64], [3, 37, 4, 1]],
    [[1, 1, 999, 3], [1, 1, 999, 1]],
    [[1, 1, 5, 1000], [1, 1, 5, 1]],
    [[3, 4, 5, 6], [3, 4, 1, 1]],
    [[3, 4, 5, 6], [1, 4, 1, 6]],
    [[1, 1, 300, 7], [1, 1, 1, 7]],
    [[1, 1, 1, 300001], [1, 1, 1, 1]],
    [[1, 1, 40000, 3], [1, 1, 1, 3]],
  ];
  for (const [shape, outShape] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const outCount = outShape.reduce((a, b) => a * b, 1);
    const x = randomArray(n, n);
    const prior = randomArray(outCount, outCount);
    const want = Float64Array.from(prior);
    // out index of input i: its coordinates with reduced dims dropped to 0
    for (let i = 0; i < n; i++) {
      let o = 0;
      let rest = i;
      const coords = [0, 0, 0, 0];
      for (let d = 3; d >= 0; d--) {
        coords[d] = rest % shape[d];
        rest = Math.floor(rest / shape[d]);
      }
      for (let d = 0; d < 4; d++) o = o * outShape[d] + (outShape[d] === 1 ? 0 : coords[d]);
      want[o] += 0.5 * x[i];
    }
    const bx = upload(g, x);
    const out = upload(g, prior);
    g.reduceTo({ x: bx, out, shape, outShape, alpha: 0.5, accumulate: true });
    const what = `[${shape}] -> [${outShape}]`;
    assertClose(await g.read(out), want, `reduceTo accumulate ${what}`, 1e-3, 1e-4);
    g.reduceTo({ x: bx, out, shape, outShape, alpha: 0.5 });
    assertClose(
      await g.read(out),
      want.map((v, i) => v - prior[i]),
      `reduceTo ${what}`,
      1e-3,
      1e-4,
    );
    g.free(bx);
    g.free(out);
  }
});

gpuTest("membound rotary: vec4 and scalar pairs, inverse, accumulate", async (g) => {
  for (const [batch, seq, heads, headDim] of [[2, 5, 3, 8], [1, 7, 2, 6], [2, 3, 2, 128]]) {
    const half = headDim / 2;
    const n = batch * seq * heads * headDim;
    const x = randomArray(n, n);
    const prior = randomArray(n, n + 1);
    const cos = new Float32Array(seq * half);
    const sin = new Float32Array(seq * half);
    for (let t = 0; t < seq; t++) {
      for (let i = 0; i < half; i++) {
        cos[t * half + i] = Math.cos(t * 10000 ** (-2 * i / headDim));
        sin[t * half + i] = Math.sin(t * 10000 ** (-2 * i / headDim));
      }
    }
    const rotate = (sign: number) => {
      const want = new Float64Array(n);
      for (let row = 0; row < n / headDim; row++) {
        const t = Math.floor(row / heads) % seq;
        for (let i = 0; i < half; i++) {
          const [x1, x2] = [x[row * headDim + i], x[row * headDim + i + half]];
          const [c, s] = [cos[t * half + i], sign * sin[t * half + i]];
          want[row * headDim + i] = x1 * c + x2 * s;
          want[row * headDim + i + half] = -x1 * s + x2 * c;
        }
      }
      return want;
    };
    const geo = { cos: upload(g, cos), sin: upload(g, sin), batch, seq, heads, headDim };
    const bx = upload(g, x);
    const out = upload(g, prior);
    const what = `[${batch}, ${seq}, ${heads}, ${headDim}]`;
    g.rotary({ x: bx, out, ...geo });
    assertClose(await g.read(out), rotate(1), `rotary ${what}`);
    g.rotary({ x: bx, out, ...geo, inverse: true, accumulate: true });
    const both = rotate(1).map((v, i) => v + rotate(-1)[i]);
    assertClose(await g.read(out), both, `inverse accumulate ${what}`);
  }
});

gpuTest("membound embedding: packed lookup, segment sums with lanes per row", async (g) => {
  // [vocab, dim, tokens]: scalar rows, one pack per row (a lane each, 256 rows a workgroup),
  // the trainer's widths, rows wider than 256 packs.
  for (const [vocab, dim, tokens] of [[50, 19, 300], [300, 4, 500], [40, 64, 200], [9, 1100, 30]]) {
    const table = randomArray(vocab * dim, vocab + dim);
    // ids leave some rows unused and repeat others
    const ids = Int32Array.from({ length: tokens }, (_, t) => (t * 7 + (t % 3) * 11) % (vocab - 3));
    const gradOut = randomArray(tokens * dim, tokens + dim);
    const bids = uploadIds(g, ids);
    const out = g.alloc("f32", tokens * dim);
    g.embedding({ table: upload(g, table), ids: bids, out, tokens, vocab, dim });
    const wantOut = new Float32Array(tokens * dim);
    ids.forEach((id, t) => wantOut.set(table.subarray(id * dim, (id + 1) * dim), t * dim));
    const what = `${vocab}x${dim}, ${tokens} tokens`;
    assertClose(await g.read(out), wantOut, `embedding ${what}`, 0, 0);
    const prior = randomArray(vocab * dim, 3 * vocab);
    const gradTable = upload(g, prior);
    const params = { ids: bids, gradOut: upload(g, gradOut), gradTable, tokens, vocab, dim };
    g.embeddingBackward({ ...params, accumulate: true });
    const want = new Float64Array(vocab * dim);
    ids.forEach((id, t) => {
      for (let d = 0; d < dim; d++) want[id * dim + d] += gradOut[t * dim + d];
    });
    assertClose(await g.read(gradTable), want.map((v, i) => v + prior[i]), `accumulate ${what}`);
    g.embeddingBackward(params);
    assertClose(await g.read(gradTable), want, `embedding backward ${what}`);
  }
});

gpuTest(
  "membound: widths in quads take the vec4 kernels, other widths the scalar ones",
  async (g) => {
    const x = upload(g, randomArray(4 * 24, 1));
    const out = g.alloc("f32", 4 * 24);
    const small = g.alloc("f32", 24);
    const losses = g.alloc("f32", 4);
    const ids = uploadIds(g, new Int32Array(4));
    const launched = (run: () => void) => {
      g.dispatcher.resetCounts();
      run();
      return [...g.dispatcher.kernelCounts.keys()].sort();
    };
    for (
      const [dim, norm, ce, rotary, emb] of [
        [24, "norm", "cross_entropy", "rotary", "embedding"],
        [6, "norm_scalar", "cross_entropy_scalar", "rotary_scalar", "embedding_scalar"],
      ] as const
    ) {
      const rows = 4;
      assert.deepEqual(
        launched(() => g.rmsnorm({ x, out, rstd: small, rows, dim })),
        [`${norm}.rmsnorm`],
      );
      const ceParams = { logits: x, targets: ids, lse: small, rows, vocab: dim, softcap: 15 };
      assert.deepEqual(
        launched(() => g.crossEntropy({ ...ceParams, losses })),
        [`${ce}.cross_entropy`],
      );
      assert.deepEqual(
        launched(() => g.crossEntropyBackward({ ...ceParams, gradLosses: small, gradLogits: out })),
        [`${ce}.cross_entropy_backward`],
      );
      const geometry = { cos: small, sin: small, batch: 1, seq: 2, heads: 2, headDim: dim };
      assert.deepEqual(launched(() => g.rotary({ x, out, ...geometry })), [`${rotary}.rotary`]);
      assert.deepEqual(
        launched(() => g.embedding({ table: x, ids, out, tokens: 4, vocab: 4, dim })),
        [`${emb}.embedding`],
      );
    }
    const shape = [2, 3, 8];
    assert.deepEqual(
      launched(() => g.binary({ op: "add", a: x, b: x, out, shape, aShape: shape, bShape: [1] })),
      ["elementwise.binary4"],
    );
    assert.deepEqual(
      launched(() =>
        g.binary({ op: "add", a: x, b: x, out, shape: [8, 3], aShape: [8, 3], bShape: [1] })
      ),
      ["elementwise.binary"],
    );
    await g.sync();
  },
);
