/**
 * Every WebGPU op against a plain TypeScript reference written straight from the contract in
 * src/engine/backend.ts (f64 accumulation), at odd sizes that do not divide the tiles, with and
 * without accumulate. The shared suite (ops_test.ts) adds finite differences and CPU-vs-WebGPU.
 */
import assert from "node:assert/strict";
import { assertClose, gpuTest, randomArray } from "./webgpu_helpers.ts";
import type { WebGpuBackend } from "../../src/engine/webgpu/mod.ts";

function upload(backend: WebGpuBackend, data: Float32Array) {
  const buffer = backend.alloc("f32", data.length);
  backend.write(buffer, data);
  return buffer;
}

function refMatmul(
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let x = 0; x < k; x++) {
        sum += (transA ? a[x * m + i] : a[i * k + x]) * (transB ? b[j * k + x] : b[x * n + j]);
      }
      c[i * n + j] = alpha * sum + (beta !== 0 ? beta * c0[i * n + j] : 0);
    }
  }
  return c;
}

for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
  for (const tile of [64, 128]) {
    gpuTest(
      `webgpu matmul ${tile}-tile transA=${transA} transB=${transB} (odd sizes, alpha/beta)`,
      async (g) => {
        g.largeTileMinTiles = tile === 128 ? 0 : Infinity;
        const [m, n, k] = [131, 75, 37]; // crosses tile edges in every dimension
        const a = randomArray(m * k, 1);
        const b = randomArray(k * n, 2);
        const c0 = randomArray(m * n, 3);
        const bufA = upload(g, a);
        const bufB = upload(g, b);
        const bufC = upload(g, c0);
        g.matmul({ a: bufA, b: bufB, c: bufC, m, n, k, transA, transB, alpha: 0.5, beta: 1 });
        const want = refMatmul(a, b, c0, m, n, k, transA, transB, 0.5, 1);
        assertClose(await g.read(bufC), want, "matmul", 1e-4, 1e-4);
      },
    );
  }
}

gpuTest("webgpu matmul: beta=0 ignores NaN in C; batched with broadcast and offsets", async (g) => {
  const [m, n, k, batch] = [5, 70, 9, 3];
  const a = randomArray(1 + batch * m * k, 4);
  const b = randomArray(k * n, 5); // broadcast over the batch (strideB 0)
  const bufA = upload(g, a);
  const bufB = upload(g, b);
  const bufC = upload(g, new Float32Array(batch * m * n + 2).fill(NaN));
  g.matmul({
    a: bufA,
    b: bufB,
    c: bufC,
    m,
    n,
    k,
    batch,
    offsetA: 1,
    strideB: 0,
    offsetC: 2,
  });
  const got = await g.read(bufC, 2);
  for (let i = 0; i < batch; i++) {
    const want = refMatmul(
      a.subarray(1 + i * m * k),
      b,
      new Float32Array(),
      m,
      n,
      k,
      false,
      false,
      1,
      0,
    );
    assertClose(got.subarray(i * m * n, (i + 1) * m * n), want, `batch ${i}`);
  }
  assert.ok(Number.isNaN((await g.read(bufC, 0, 2))[0]), "elements before offsetC untouched");
});

gpuTest("webgpu fill, copy2d, scale", async (g) => {
  const ints = g.alloc("i32", 10);
  g.fill({ out: ints, value: -7 });
  g.fill({ out: ints, value: 3, offset: 2, length: 3 });
  assert.deepEqual([...await g.read(ints)], [-7, -7, 3, 3, 3, -7, -7, -7, -7, -7]);
  const src = randomArray(4 * 6, 6);
  const bufSrc = upload(g, src);
  const dst = upload(g, new Float32Array(3 * 5).fill(1));
  // narrow columns 2..5 of rows 1..3 into a (3, 5) buffer at column 1, accumulating
  g.copy2d({
    src: bufSrc,
    dst,
    rows: 3,
    cols: 3,
    srcStride: 6,
    dstStride: 5,
    srcOffset: 6 + 2,
    dstOffset: 1,
    accumulate: true,
  });
  const want = new Float32Array(15).fill(1);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) want[1 + r * 5 + c] += src[6 + 2 + r * 6 + c];
  }
  assertClose(await g.read(dst), want, "copy2d");
  const out = g.alloc("f32", src.length);
  g.scale({ x: bufSrc, out, n: src.length, alpha: -2 });
  assertClose(await g.read(out), src.map((v) => -2 * v), "scale");
});

gpuTest("webgpu unary and unaryBackward", async (g) => {
  const n = 1000;
  const x = randomArray(n, 7, 4);
  const gradOut = randomArray(n, 8);
  const bx = upload(g, x);
  const bg = upload(g, gradOut);
  const y = g.alloc("f32", n);
  const gi = g.alloc("f32", n);
  const cases: [string, (v: number) => number, (v: number) => number, number?][] = [
    ["relu2", (v) => Math.max(v, 0) ** 2, (v) => 2 * Math.max(v, 0)],
    ["sigmoid", (v) => 1 / (1 + Math.exp(-v)), (v) => {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 - s);
    }],
    ["softcap", (v) => 3 * Math.tanh(v / 3), (v) => 1 - Math.tanh(v / 3) ** 2, 3],
  ];
  for (const [op, f, df, cap] of cases) {
    const o = op as "relu2" | "sigmoid" | "softcap";
    g.unary({ op: o, x: bx, out: y, n, cap });
    g.unaryBackward({ op: o, x: bx, y, gradOut: bg, gradIn: gi, n, cap });
    assertClose(await g.read(y), x.map(f), op, 1e-5, 1e-5);
    assertClose(await g.read(gi), x.map((v, i) => gradOut[i] * df(v)), `${op}'`, 1e-5, 1e-4);
  }
});

gpuTest("webgpu binary broadcasting, reduceTo and broadcastTo", async (g) => {
  const shape = [3, 4, 5, 6];
  const bShape = [1, 4, 1, 6];
  const n = 360;
  const a = randomArray(n, 9);
  const b = randomArray(24, 10);
  const ba = upload(g, a);
  const bb = upload(g, b);
  const out = g.alloc("f32", n);
  const bIndex = (i: number) => {
    const d1 = Math.floor(i / 30) % 4;
    return d1 * 6 + (i % 6);
  };
  g.binary({ op: "mul", a: ba, b: bb, out, shape, aShape: shape, bShape });
  assertClose(await g.read(out), a.map((v, i) => v * b[bIndex(i)]), "mul");
  g.binary({
    op: "add",
    a: bb,
    b: ba,
    out,
    shape,
    aShape: bShape,
    bShape: shape,
    accumulate: true,
  });
  assertClose(
    await g.read(out),
    a.map((v, i) => v * b[bIndex(i)] + b[bIndex(i)] + v),
    "add accumulate",
  );
  const red = g.alloc("f32", 24);
  g.reduceTo({ x: ba, out: red, shape, outShape: bShape, alpha: 0.5 });
  const wantRed = new Float64Array(24);
  a.forEach((v, i) => wantRed[bIndex(i)] += 0.5 * v);
  assertClose(await g.read(red), wantRed, "reduceTo");
  const total = g.alloc("f32", 1);
  g.reduceTo({ x: ba, out: total, shape: [n], outShape: [1] });
  assertClose(await g.read(total), [a.reduce((s, v) => s + v, 0)], "sum", 1e-4);
  g.broadcastTo({ x: bb, out, xShape: bShape, shape, alpha: 2 });
  assertClose(await g.read(out), a.map((_, i) => 2 * b[bIndex(i)]), "broadcastTo");
});

gpuTest("webgpu rmsnorm forward and backward", async (g) => {
  const [rows, dim] = [7, 300];
  const x = randomArray(rows * dim, 11, 3);
  const gradOut = randomArray(rows * dim, 12);
  const bx = upload(g, x);
  const bg = upload(g, gradOut);
  const out = g.alloc("f32", rows * dim);
  const rstd = g.alloc("f32", rows);
  const gi = g.alloc("f32", rows * dim);
  g.rmsnorm({ x: bx, out, rstd, rows, dim });
  g.rmsnormBackward({ x: bx, rstd, gradOut: bg, gradIn: gi, rows, dim });
  const wantOut = new Float64Array(rows * dim);
  const wantRstd = new Float64Array(rows);
  const wantGrad = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[r * dim + d] ** 2;
    const rs = 1 / Math.sqrt(ss / dim + 1.1920929e-7);
    wantRstd[r] = rs;
    let gy = 0;
    for (let d = 0; d < dim; d++) {
      wantOut[r * dim + d] = x[r * dim + d] * rs;
      gy += gradOut[r * dim + d] * x[r * dim + d] * rs;
    }
    for (let d = 0; d < dim; d++) {
      wantGrad[r * dim + d] = rs * (gradOut[r * dim + d] - x[r * dim + d] * rs * gy / dim);
    }
  }
  assertClose(await g.read(out), wantOut, "rmsnorm");
  assertClose(await g.read(rstd), wantRstd, "rstd");
  assertClose(await g.read(gi), wantGrad, "rmsnorm backward");
});

gpuTest("webgpu rotary and its inverse", async (g) => {
  const [batch, seq, heads, headDim] = [2, 5, 3, 8];
  const half = headDim / 2;
  const n = batch * seq * heads * headDim;
  const x = randomArray(n, 13);
  const cos = new Float32Array(seq * half);
  const sin = new Float32Array(seq * half);
  for (let t = 0; t < seq; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * 10000 ** (-2 * i / headDim);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  const bx = upload(g, x);
  const out = g.alloc("f32", n);
  const back = g.alloc("f32", n);
  g.rotary({ x: bx, out, cos: upload(g, cos), sin: upload(g, sin), batch, seq, heads, headDim });
  const want = new Float64Array(n);
  for (let row = 0; row < n / headDim; row++) {
    const t = Math.floor(row / heads) % seq;
    for (let i = 0; i < half; i++) {
      const x1 = x[row * headDim + i];
      const x2 = x[row * headDim + i + half];
      const c = cos[t * half + i];
      const s = sin[t * half + i];
      want[row * headDim + i] = x1 * c + x2 * s;
      want[row * headDim + i + half] = -x1 * s + x2 * c;
    }
  }
  assertClose(await g.read(out), want, "rotary");
  const bcos = upload(g, cos);
  const bsin = upload(g, sin);
  g.rotary({ x: out, out: back, cos: bcos, sin: bsin, batch, seq, heads, headDim, inverse: true });
  assertClose(await g.read(back), x, "inverse rotary restores x", 1e-5);
});

gpuTest("webgpu embedding forward and scatter-add backward", async (g) => {
  const [vocab, dim, tokens] = [50, 19, 300];
  const table = randomArray(vocab * dim, 14);
  const ids = Int32Array.from({ length: tokens }, (_, t) => (t * 7 + (t % 3) * 11) % 37);
  const gradOut = randomArray(tokens * dim, 15);
  const bids = g.alloc("i32", tokens);
  g.write(bids, ids);
  const out = g.alloc("f32", tokens * dim);
  g.embedding({ table: upload(g, table), ids: bids, out, tokens, vocab, dim });
  const wantOut = new Float32Array(tokens * dim);
  ids.forEach((id, t) => wantOut.set(table.subarray(id * dim, (id + 1) * dim), t * dim));
  assertClose(await g.read(out), wantOut, "embedding");
  const gradTable = upload(g, new Float32Array(vocab * dim).fill(NaN));
  g.embeddingBackward({ ids: bids, gradOut: upload(g, gradOut), gradTable, tokens, vocab, dim });
  const want = new Float64Array(vocab * dim);
  ids.forEach((id, t) => {
    for (let d = 0; d < dim; d++) want[id * dim + d] += gradOut[t * dim + d];
  });
  assertClose(await g.read(gradTable), want, "embedding backward (unused rows 0)");
  g.embeddingBackward({
    ids: bids,
    gradOut: upload(g, gradOut),
    gradTable,
    tokens,
    vocab,
    dim,
    accumulate: true,
  });
  assertClose(await g.read(gradTable), want.map((v) => 2 * v), "embedding backward accumulate");
});

function refAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dO: Float32Array,
  batch: number,
  seq: number,
  heads: number,
  dim: number,
  window: number,
) {
  const n = q.length;
  const out = new Float64Array(n);
  const lse = new Float64Array(batch * heads * seq);
  const dq = new Float64Array(n);
  const dk = new Float64Array(n);
  const dv = new Float64Array(n);
  const scale = 1 / Math.sqrt(dim);
  const at = (b: number, t: number, h: number) => ((b * seq + t) * heads + h) * dim;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < seq; i++) {
        const keys: number[] = [];
        for (let j = 0; j <= i; j++) if (i - j <= window) keys.push(j);
        const s = keys.map((j) => {
          let dot = 0;
          for (let d = 0; d < dim; d++) dot += q[at(b, i, h) + d] * k[at(b, j, h) + d];
          return dot * scale;
        });
        const max = Math.max(...s);
        const sum = s.reduce((acc, x) => acc + Math.exp(x - max), 0);
        const p = s.map((x) => Math.exp(x - max) / sum);
        lse[(b * heads + h) * seq + i] = max + Math.log(sum);
        keys.forEach((j, idx) => {
          for (let d = 0; d < dim; d++) out[at(b, i, h) + d] += p[idx] * v[at(b, j, h) + d];
        });
        // backward
        const dp = keys.map((j) => {
          let dot = 0;
          for (let d = 0; d < dim; d++) dot += dO[at(b, i, h) + d] * v[at(b, j, h) + d];
          return dot;
        });
        const delta = p.reduce((acc, pi, idx) => acc + pi * dp[idx], 0);
        keys.forEach((j, idx) => {
          const ds = p[idx] * (dp[idx] - delta) * scale;
          for (let d = 0; d < dim; d++) {
            dv[at(b, j, h) + d] += p[idx] * dO[at(b, i, h) + d];
            dq[at(b, i, h) + d] += ds * k[at(b, j, h) + d];
            dk[at(b, j, h) + d] += ds * q[at(b, i, h) + d];
          }
        });
      }
    }
  }
  return { out, lse, dq, dk, dv };
}

const ATTENTION_CASES = [
  [70, 69, 16],
  [133, 40, 32],
  [20, 0, 8],
  [40, 13, 128],
  [37, 5, 6],
  [20, 19, 256],
];
for (const [seq, window, headDim] of ATTENTION_CASES) {
  gpuTest(`webgpu attention seq=${seq} window=${window} headDim=${headDim}`, async (g) => {
    const [batch, heads] = [2, 2];
    const n = batch * seq * heads * headDim;
    const q = randomArray(n, 16);
    const k = randomArray(n, 17);
    const v = randomArray(n, 18);
    const dO = randomArray(n, 19);
    const [bq, bk, bv, bdo] = [q, k, v, dO].map((a) => upload(g, a));
    const out = g.alloc("f32", n);
    const lse = g.alloc("f32", batch * heads * seq);
    const [dq, dk, dv] = [0, 1, 2].map(() => g.alloc("f32", n));
    const common = { q: bq, k: bk, v: bv, out, lse, batch, seq, heads, headDim, window };
    // Head dims past 128 need 24 KiB of workgroup memory; smaller adapters refuse them clearly.
    if (headDim > 128 && g.gpu.limits.maxComputeWorkgroupStorageSize < 24576) {
      assert.throws(() => g.attention(common), /too large for this adapter/);
      return;
    }
    g.attention(common);
    g.attentionBackward({ ...common, gradOut: bdo, gradQ: dq, gradK: dk, gradV: dv });
    const want = refAttention(q, k, v, dO, batch, seq, heads, headDim, window);
    assertClose(await g.read(out), want.out, "out", 1e-5, 1e-4);
    assertClose(await g.read(lse), want.lse, "lse", 1e-5, 1e-4);
    assertClose(await g.read(dq), want.dq, "dq", 1e-5, 1e-3);
    assertClose(await g.read(dk), want.dk, "dk", 1e-5, 1e-3);
    assertClose(await g.read(dv), want.dv, "dv", 1e-5, 1e-3);
  });
}

gpuTest("webgpu cross-entropy with softcap, ignored targets", async (g) => {
  const [rows, vocab, cap] = [9, 1000, 15];
  const logits = randomArray(rows * vocab, 20, 30);
  const targets = Int32Array.from({ length: rows }, (_, r) => (r === 4 ? -1 : (r * 97) % vocab));
  const gradLosses = randomArray(rows, 21);
  const bl = upload(g, logits);
  const bt = g.alloc("i32", rows);
  g.write(bt, targets);
  const losses = g.alloc("f32", rows);
  const lse = g.alloc("f32", rows);
  const grad = g.alloc("f32", rows * vocab);
  g.crossEntropy({ logits: bl, targets: bt, losses, lse, rows, vocab, softcap: cap });
  g.crossEntropyBackward({
    logits: bl,
    targets: bt,
    lse,
    gradLosses: upload(g, gradLosses),
    gradLogits: grad,
    rows,
    vocab,
    softcap: cap,
  });
  const wantLoss = new Float64Array(rows);
  const wantGrad = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const z = Array.from(
      logits.subarray(r * vocab, (r + 1) * vocab),
      (x) => cap * Math.tanh(x / cap),
    );
    const max = Math.max(...z);
    const l = max + Math.log(z.reduce((s, x) => s + Math.exp(x - max), 0));
    if (targets[r] < 0) continue;
    wantLoss[r] = l - z[targets[r]];
    z.forEach((zc, c) => {
      const d = Math.exp(zc - l) - (c === targets[r] ? 1 : 0);
      wantGrad[r * vocab + c] = gradLosses[r] * d * (1 - (zc / cap) ** 2);
    });
  }
  assertClose(await g.read(losses), wantLoss, "losses", 1e-4, 1e-4);
  assertClose(await g.read(grad), wantGrad, "dlogits", 1e-6, 1e-3);
});

gpuTest("webgpu adamw, muonMomentum, normalizeFrobenius, muonUpdate", async (g) => {
  const n = 600;
  const param = randomArray(n, 22);
  const grad = randomArray(n, 23);
  const m = randomArray(n, 24, 0.1);
  const v = randomArray(n, 25, 0.1).map(Math.abs);
  const [bp, bg, bm, bv] = [param, grad, m, v].map((a) => upload(g, a));
  const hp = { lr: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-10, weightDecay: 0.1, step: 3 };
  g.adamw({ param: bp, grad: bg, m: bm, v: bv, n, ...hp });
  const wantP = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const mi = m[i] + (1 - hp.beta1) * (grad[i] - m[i]);
    const vi = v[i] + (1 - hp.beta2) * (grad[i] ** 2 - v[i]);
    const p = param[i] * (1 - hp.lr * hp.weightDecay);
    wantP[i] = p - (hp.lr / (1 - hp.beta1 ** hp.step)) * mi /
        (Math.sqrt(vi / (1 - hp.beta2 ** hp.step)) + hp.eps);
  }
  assertClose(await g.read(bp), wantP, "adamw param", 1e-5, 1e-4);

  const mom = randomArray(n, 26);
  const bmom = upload(g, mom);
  const out = g.alloc("f32", n);
  g.muonMomentum({ grad: bg, momentum: bmom, out, n, beta: 0.9 });
  const wantMom = mom.map((x, i) => x + 0.1 * (grad[i] - x));
  assertClose(await g.read(bmom), wantMom, "momentum");
  assertClose(await g.read(out), grad.map((x, i) => x + 0.9 * (wantMom[i] - x)), "nesterov");

  const big = randomArray(70000, 27);
  const bbig = upload(g, big);
  const normed = g.alloc("f32", big.length);
  g.normalizeFrobenius({ x: bbig, out: normed, n: big.length });
  const norm = Math.sqrt(big.reduce((s, x) => s + x * x, 0));
  assertClose(await g.read(normed), big.map((x) => x / (norm * 1.02 + 1e-6)), "frobenius", 1e-7);

  for (const [rows, cols] of [[30, 20], [20, 30]]) {
    const w = randomArray(rows * cols, 28);
    const u = randomArray(rows * cols, 29);
    const entries = Math.max(rows, cols) === rows ? rows : cols;
    const sm = randomArray(entries, 30, 0.5).map(Math.abs);
    const bw = upload(g, w);
    g.muonUpdate({
      param: bw,
      update: upload(g, u),
      secondMoment: upload(g, sm),
      rows,
      cols,
      lr: 0.02,
      weightDecay: 0.2,
      beta2: 0.95,
    });
    const alongRows = rows >= cols;
    const red = alongRows ? cols : rows;
    const vMean = new Float64Array(entries);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) vMean[alongRows ? r : c] += u[r * cols + c] ** 2 / red;
    }
    const vNorm = Math.sqrt(vMean.reduce((a, b) => a + b, 0) * red);
    const s = vMean.map((vm, e) => 1 / Math.sqrt(Math.max(sm[e] + 0.05 * (vm - sm[e]), 1e-10)));
    const vNormNew = Math.sqrt(vMean.reduce((acc, vm, e) => acc + vm * red * s[e] ** 2, 0));
    const want = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const up = u[i] * s[alongRows ? r : c] * (vNorm / Math.max(vNormNew, 1e-10));
        want[i] = w[i] - 0.02 * up - (up * w[i] >= 0 ? 0.02 * 0.2 * w[i] : 0);
      }
    }
    assertClose(await g.read(bw), want, `muonUpdate ${rows}x${cols}`, 1e-5, 1e-4);
  }
});

gpuTest(
  "webgpu reduceTo: long reductions split over many workgroups (full and per-column)",
  async (g) => {
    const [rows, cols] = [40000, 3];
    const x = randomArray(rows * cols, 31);
    const bx = upload(g, x);
    const total = upload(g, new Float32Array([10]));
    g.reduceTo({
      x: bx,
      out: total,
      shape: [rows * cols],
      outShape: [1],
      alpha: 0.5,
      accumulate: true,
    });
    let sum = 0;
    for (const v of x) sum += v;
    assertClose(await g.read(total), [10 + 0.5 * sum], "full sum", 1e-3, 1e-4);
    const perColumn = g.alloc("f32", cols);
    g.reduceTo({ x: bx, out: perColumn, shape: [1, rows, cols], outShape: [1, 1, cols] });
    const want = new Float64Array(cols);
    x.forEach((v, i) => want[i % cols] += v);
    assertClose(await g.read(perColumn), want, "per-column sums", 1e-3, 1e-4);
  },
);

gpuTest("webgpu matmul over the storage binding limit: row, inner and batch windows", async (g) => {
  g.dispatcher.maxStorageBindingBytes = 16384; // 4096 floats per binding
  const check = async (
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    beta: number,
    batch = 1,
    offset = 3,
  ) => {
    const a = randomArray(offset + batch * m * k, m + 1);
    const b = randomArray(offset + batch * k * n, n + 2);
    const c0 = randomArray(offset + batch * m * n, k + 3);
    const [ba, bb, bc] = [a, b, c0].map((x) => upload(g, x));
    g.matmul({
      a: ba,
      b: bb,
      c: bc,
      m,
      n,
      k,
      transA,
      transB,
      alpha: 0.5,
      beta,
      batch,
      offsetA: offset,
      offsetB: offset,
      offsetC: offset,
    });
    const got = await g.read(bc, offset);
    for (let i = 0; i < batch; i++) {
      const want = refMatmul(
        a.subarray(offset + i * m * k),
        b.subarray(offset + i * k * n),
        c0.subarray(offset + i * m * n),
        m,
        n,
        k,
        transA,
        transB,
        0.5,
        beta,
      );
      assertClose(got.subarray(i * m * n, (i + 1) * m * n), want, `${m}x${n}x${k} item ${i}`);
    }
  };
  await check(300, 30, 20, false, true, 0); // logits = x W^T: A and C in row windows
  await check(300, 20, 30, false, false, 1); // dx = dlogits W, accumulating
  await check(30, 20, 300, true, false, 1); // dW = dlogits^T x: inner windows into C
  await check(40, 40, 40, false, false, 0, 3, 5); // batch items one at a time
  const big = g.alloc("f32", 5000);
  assert.throws(
    () => g.matmul({ a: big, b: big, c: g.alloc("f32", 4), m: 2, n: 2, k: 2500, transB: true }),
    /cannot be split/,
  );
});
