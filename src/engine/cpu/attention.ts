/**
 * Causal sliding-window attention on the CPU: q, k, v are transposed from (B, T, H, D) to
 * (B*H, T, D), the scores of a chunk of heads are materialised (chunk, T, T) with batched sgemm,
 * masked and softmaxed in place, and multiplied by V. The backward recomputes the probabilities
 * from the saved logsumexp (flash-attention style), so nothing of size T x T outlives a call.
 * Scratch arrays are kept in a `Scratch` owned by the backend and reused call after call.
 *
 * @module
 */
import type { Gemm } from "./gemm/mod.ts";
import type { VecMath } from "./vecmath.ts";
import type { RowPool } from "./threads.ts";

/** Reusable scratch arrays, keyed by purpose, grown on demand (never shrunk until `clear`). */
export class Scratch {
  #arrays = new Map<string, Float32Array>();

  /** `shared`: back the arrays with SharedArrayBuffers (for worker threads). */
  constructor(readonly shared = false) {}

  /** An array of at least `length` elements for `key` (contents undefined). */
  get(key: string, length: number): Float32Array {
    const have = this.#arrays.get(key);
    if (have && have.length >= length) return have;
    const fresh = new Float32Array(
      this.shared ? new SharedArrayBuffer(length * 4) : new ArrayBuffer(length * 4),
    );
    this.#arrays.set(key, fresh);
    return fresh;
  }

  /** Bytes held. */
  bytes(): number {
    let total = 0;
    for (const a of this.#arrays.values()) total += a.byteLength;
    return total;
  }

  /** Drop every array. */
  clear(): void {
    this.#arrays.clear();
  }
}

/** Attention geometry shared by the forward and backward. */
export interface AttentionShape {
  /** Batch size. */
  batch: number;
  /** Sequence length. */
  seq: number;
  /** Number of heads. */
  heads: number;
  /** Head dimension. */
  headDim: number;
  /** Key j visible to query i iff j <= i && i - j <= window. */
  window: number;
  /** Score scale. */
  scale: number;
}

/** Largest score block kept at once (elements): bounds the (chunk, T, T) scratch. */
const MAX_SCORE_ELEMENTS = 1 << 22;

/**
 * Transposes batches [b0, b1) of `pairs` (src, dst): (B, T, H, D) -> (B, H, T, D) when toHead,
 * else back, overwriting or (back only) adding.
 */
export function transposeHeads(
  pairs: Float32Array[],
  T: number,
  H: number,
  D: number,
  b0: number,
  b1: number,
  toHead: boolean,
  accumulate: boolean,
): void {
  for (let i = 0; i < pairs.length; i += 2) {
    const src = pairs[i], dst = pairs[i + 1];
    for (let b = b0; b < b1; b++) {
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < H; h++) {
          const bthd = ((b * T + t) * H + h) * D, bhtd = ((b * H + h) * T + t) * D;
          const from = toHead ? bthd : bhtd, to = toHead ? bhtd : bthd;
          // Plain loops: a subarray per D-float row cost more than the copy itself.
          if (accumulate) { for (let d = 0; d < D; d++) dst[to + d] += src[from + d]; }
          else for (let d = 0; d < D; d++) dst[to + d] = src[from + d];
        }
      }
    }
  }
}

/** Tensors smaller than this stay on the calling thread for transposes. */
const PARALLEL_MIN_TRANSPOSE = 1 << 18;

/** transposeHeads over all batches, split over the worker pool when it pays. */
function transpose(
  pool: RowPool | null,
  pairs: Float32Array[],
  s: AttentionShape,
  toHead: boolean,
  accumulate: boolean,
): void {
  const { batch: B, seq: T, heads: H, headDim: D } = s;
  const part = (b0: number, b1: number) =>
    transposeHeads(pairs, T, H, D, b0, b1, toHead, accumulate);
  if (!pool || B < 2 || B * T * H * D < PARALLEL_MIN_TRANSPOSE) return part(0, B);
  const arrays: Record<string, Float32Array> = {};
  pairs.forEach((x, i) => arrays[`a${i}`] = x);
  const scalars = { T, H, D, count: pairs.length, toHead: toHead ? 1 : 0, acc: accumulate ? 1 : 0 };
  pool.run("transposeHeads", arrays, scalars, B, part);
}

/** Queries per block: a block only multiplies the keys some of its queries can see. */
const QUERY_BLOCK = 64;

/** Key range [lo, hi) visible to any query of the block [q0, q1). */
function keyRange(q0: number, q1: number, window: number): [number, number] {
  return [Math.max(0, q0 - window), q1];
}

function headsPerChunk(s: AttentionShape): number {
  const per = Math.min(QUERY_BLOCK, s.seq) * s.seq;
  return Math.max(1, Math.min(s.batch * s.heads, Math.floor(MAX_SCORE_ELEMENTS / per)));
}

/**
 * Overwrites the score block (g, bq, L) for queries [q0, q0+bq) and keys [lo, lo+L) with
 * exp(score - shift[i]) on visible keys and 0 elsewhere. `shift` null: the forward (shift = row
 * max, rows normalised to probabilities, logsumexp written to lse); else the saved lse.
 */
export function softmaxBlock(
  p: Float32Array,
  g: number,
  g0: number,
  bq: number,
  q0: number,
  lo: number,
  L: number,
  s: { seq: number; window: number },
  lse: Float32Array,
  forward: boolean,
  vm: VecMath | null,
): void {
  const { seq: T, window } = s;
  const size = bq * L; // one head's block
  const view = vm ? vm.view(size + 4) : null;
  for (let gi = 0; gi < g; gi++) {
    // With SIMD the head's whole block goes into module memory at once (one copy in, one out,
    // instead of a pair per row); `x` is the array worked on, `base` the block's start in it.
    const x = view ?? p, base = view ? 0 : gi * size;
    if (view) view.set(p.subarray(gi * size, gi * size + size), 0);
    for (let qi = 0; qi < bq; qi++) {
      const i = q0 + qi, row = base + qi * L;
      const a = Math.max(lo, i - window) - lo, b = i - lo; // visible columns [a, b]
      const li = (g0 + gi) * T + i;
      // SIMD max and exp over the first multiple of 4 of the visible keys, JS for the rest
      const n4 = view ? (b - a + 1) & ~3 : 0;
      let shift: number;
      if (forward) {
        shift = n4 > 0 ? vm!.rowMax(n4, row + a) : -Infinity;
        for (let j = a + n4; j <= b; j++) if (x[row + j] > shift) shift = x[row + j];
      } else shift = lse[li];
      let sum = n4 > 0 ? vm!.expShift(n4, row + a, shift, row + a) : 0;
      for (let j = a + n4; j <= b; j++) {
        const e = Math.exp(x[row + j] - shift);
        x[row + j] = e;
        sum += e;
      }
      x.fill(0, row, row + a);
      x.fill(0, row + b + 1, row + L);
      if (forward) {
        const inv = 1 / sum;
        for (let j = a; j <= b; j++) x[row + j] *= inv;
        lse[li] = shift + Math.log(sum);
      }
    }
    if (view) p.set(view.subarray(0, size), gi * size);
  }
}

/** Score blocks smaller than this many elements stay on the calling thread. */
const PARALLEL_MIN_SCORES = 1 << 16;

/** softmaxBlock, split over the heads of the chunk when a worker pool is given. */
function softmaxRows(
  pool: RowPool | null,
  p: Float32Array,
  g: number,
  g0: number,
  bq: number,
  q0: number,
  lo: number,
  L: number,
  s: AttentionShape,
  lse: Float32Array,
  forward: boolean,
  vm: VecMath | null,
): void {
  const geo = { seq: s.seq, window: s.window };
  const part = (r0: number, r1: number) =>
    softmaxBlock(
      p.subarray(r0 * bq * L, r1 * bq * L),
      r1 - r0,
      g0 + r0,
      bq,
      q0,
      lo,
      L,
      geo,
      lse,
      forward,
      vm,
    );
  if (!pool || g < 2 || g * bq * L < PARALLEL_MIN_SCORES) return part(0, g);
  const scalars = { g0, bq, q0, lo, L, ...geo, forward: forward ? 1 : 0 };
  pool.run("softmaxBlock", { p, lse }, scalars, g, part);
}

/** Forward: out (B, T, H*D), lse (B, H, T). */
export function attentionForward(
  gemm: Gemm,
  scratch: Scratch,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lse: Float32Array,
  s: AttentionShape,
  vm: VecMath | null = null,
  pool: RowPool | null = null,
): void {
  const { batch: B, seq: T, heads: H, headDim: D, window, scale } = s;
  const n = B * T * H * D, BH = B * H;
  const qh = scratch.get("q", n), kh = scratch.get("k", n), vh = scratch.get("v", n);
  const oh = scratch.get("o", n);
  transpose(pool, [q, qh, k, kh, v, vh], s, true, false);
  const chunk = headsPerChunk(s);
  const p = scratch.get("s", chunk * Math.min(QUERY_BLOCK, T) * T);
  for (let g0 = 0; g0 < BH; g0 += chunk) {
    const g = Math.min(chunk, BH - g0);
    for (let q0 = 0; q0 < T; q0 += QUERY_BLOCK) {
      const bq = Math.min(QUERY_BLOCK, T - q0);
      const [lo, hi] = keyRange(q0, q0 + bq, window);
      const L = hi - lo;
      const heads = { batch: g, strideA: T * D, strideB: T * D } as const;
      // scores (g, bq, L) = scale * Q[q0:q0+bq] K[lo:hi]^T
      gemm.sgemm({
        a: qh,
        b: kh,
        c: p,
        m: bq,
        n: L,
        k: D,
        transB: true,
        alpha: scale,
        offsetA: (g0 * T + q0) * D,
        offsetB: (g0 * T + lo) * D,
        strideC: bq * L,
        ...heads,
      });
      softmaxRows(pool, p, g, g0, bq, q0, lo, L, s, lse, true, vm);
      // O[q0:q0+bq] (g, bq, D) = P V[lo:hi]
      gemm.sgemm({
        a: p,
        b: vh,
        c: oh,
        m: bq,
        n: D,
        k: L,
        batch: g,
        offsetB: (g0 * T + lo) * D,
        offsetC: (g0 * T + q0) * D,
        strideA: bq * L,
        strideB: T * D,
        strideC: T * D,
      });
    }
  }
  transpose(pool, [oh, out], s, false, false);
}

/** Backward: gradQ/gradK/gradV (B, T, H, D), overwritten or accumulated. */
export function attentionBackward(
  gemm: Gemm,
  scratch: Scratch,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lse: Float32Array,
  gradOut: Float32Array,
  gradQ: Float32Array,
  gradK: Float32Array,
  gradV: Float32Array,
  s: AttentionShape,
  accumulate: boolean,
  vm: VecMath | null = null,
  pool: RowPool | null = null,
): void {
  const { batch: B, seq: T, heads: H, headDim: D, window, scale } = s;
  const n = B * T * H * D, BH = B * H;
  const qh = scratch.get("q", n), kh = scratch.get("k", n), vh = scratch.get("v", n);
  const doh = scratch.get("do", n);
  const dqh = scratch.get("dq", n), dkh = scratch.get("dk", n), dvh = scratch.get("dv", n);
  transpose(pool, [q, qh, k, kh, v, vh, gradOut, doh], s, true, false);
  // dK and dV gather contributions from several query blocks: start from zero, add each.
  dkh.fill(0, 0, n);
  dvh.fill(0, 0, n);
  // delta[bh, i] = dO_i . O_i (the softmax backward's row term), read from the (B, T, H, D)
  // layout so O itself needs no transpose
  const delta = scratch.get("delta", BH * T);
  for (let b = 0, o = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++, o += D) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += gradOut[o + d] * out[o + d];
        delta[(b * H + h) * T + t] = acc;
      }
    }
  }
  const chunk = headsPerChunk(s);
  const block = chunk * Math.min(QUERY_BLOCK, T) * T;
  const p = scratch.get("s", block), dp = scratch.get("dp", block);
  for (let g0 = 0; g0 < BH; g0 += chunk) {
    const g = Math.min(chunk, BH - g0);
    for (let q0 = 0; q0 < T; q0 += QUERY_BLOCK) {
      const bq = Math.min(QUERY_BLOCK, T - q0);
      const [lo, hi] = keyRange(q0, q0 + bq, window);
      const L = hi - lo;
      const qOff = (g0 * T + q0) * D, kOff = (g0 * T + lo) * D;
      const blk = { batch: g, strideA: T * D, strideB: T * D, strideC: bq * L } as const;
      // P (g, bq, L), recomputed from the saved logsumexp
      gemm.sgemm({
        a: qh,
        b: kh,
        c: p,
        m: bq,
        n: L,
        k: D,
        transB: true,
        alpha: scale,
        offsetA: qOff,
        offsetB: kOff,
        ...blk,
      });
      softmaxRows(pool, p, g, g0, bq, q0, lo, L, s, lse, false, vm);
      // dP (g, bq, L) = dO V^T
      gemm.sgemm({
        a: doh,
        b: vh,
        c: dp,
        m: bq,
        n: L,
        k: D,
        transB: true,
        offsetA: qOff,
        offsetB: kOff,
        ...blk,
      });
      // dV[lo:hi] += P^T dO  (before p is overwritten by dS)
      const toKeys = { batch: g, strideA: bq * L, strideB: T * D, strideC: T * D } as const;
      gemm.sgemm({
        a: p,
        b: doh,
        c: dvh,
        m: L,
        n: D,
        k: bq,
        transA: true,
        beta: 1,
        offsetB: qOff,
        offsetC: kOff,
        ...toKeys,
      });
      // dS = P * (dP - delta), into p
      for (let gi = 0; gi < g; gi++) {
        for (let qi = 0; qi < bq; qi++) {
          const row = (gi * bq + qi) * L, di = delta[(g0 + gi) * T + q0 + qi];
          for (let j = 0; j < L; j++) p[row + j] *= dp[row + j] - di;
        }
      }
      // dQ[q0:q0+bq] = scale * dS K[lo:hi] ; dK[lo:hi] += scale * dS^T Q[q0:q0+bq]
      gemm.sgemm({
        a: p,
        b: kh,
        c: dqh,
        m: bq,
        n: D,
        k: L,
        alpha: scale,
        offsetB: kOff,
        offsetC: qOff,
        ...toKeys,
      });
      gemm.sgemm({
        a: p,
        b: qh,
        c: dkh,
        m: L,
        n: D,
        k: bq,
        transA: true,
        alpha: scale,
        beta: 1,
        offsetB: qOff,
        offsetC: kOff,
        ...toKeys,
      });
    }
  }
  transpose(pool, [dqh, gradQ, dkh, gradK, dvh, gradV], s, false, accumulate);
}
