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

/** Reusable scratch arrays, keyed by purpose, grown on demand (never shrunk until `clear`). */
export class Scratch {
  #arrays = new Map<string, Float32Array>();

  /** An array of at least `length` elements for `key` (contents undefined). */
  get(key: string, length: number): Float32Array {
    const have = this.#arrays.get(key);
    if (have && have.length >= length) return have;
    const fresh = new Float32Array(length);
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

/** (B, T, H, D) -> (B, H, T, D). */
function toHeadMajor(src: Float32Array, dst: Float32Array, s: AttentionShape): void {
  const { batch: B, seq: T, heads: H, headDim: D } = s;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const from = ((b * T + t) * H + h) * D;
        dst.set(src.subarray(from, from + D), ((b * H + h) * T + t) * D);
      }
    }
  }
}

/** (B, H, T, D) -> (B, T, H, D), overwriting or adding. */
function fromHeadMajor(
  src: Float32Array,
  dst: Float32Array,
  s: AttentionShape,
  accumulate: boolean,
): void {
  const { batch: B, seq: T, heads: H, headDim: D } = s;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const to = ((b * T + t) * H + h) * D, from = ((b * H + h) * T + t) * D;
        if (accumulate) { for (let d = 0; d < D; d++) dst[to + d] += src[from + d]; }
        else dst.set(src.subarray(from, from + D), to);
      }
    }
  }
}

function headsPerChunk(s: AttentionShape): number {
  return Math.max(1, Math.min(s.batch * s.heads, Math.floor(MAX_SCORE_ELEMENTS / (s.seq * s.seq))));
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
): void {
  const { batch: B, seq: T, heads: H, headDim: D, window, scale } = s;
  const view = vm ? vm.view(T + 4) : null;
  const n = B * T * H * D, BH = B * H;
  const qh = scratch.get("q", n), kh = scratch.get("k", n), vh = scratch.get("v", n);
  const oh = scratch.get("o", n);
  toHeadMajor(q, qh, s);
  toHeadMajor(k, kh, s);
  toHeadMajor(v, vh, s);
  const chunk = headsPerChunk(s);
  const scores = scratch.get("s", chunk * T * T);
  for (let g0 = 0; g0 < BH; g0 += chunk) {
    const g = Math.min(chunk, BH - g0);
    // scores (g, T, T) = scale * Q K^T
    gemm.sgemm({
      a: qh,
      b: kh,
      c: scores,
      m: T,
      n: T,
      k: D,
      transB: true,
      alpha: scale,
      batch: g,
      offsetA: g0 * T * D,
      offsetB: g0 * T * D,
      strideA: T * D,
      strideB: T * D,
      strideC: T * T,
    });
    for (let gi = 0; gi < g; gi++) {
      for (let i = 0; i < T; i++) {
        const row = (gi * T + i) * T, lo = Math.max(0, i - window);
        let max = -Infinity;
        for (let j = lo; j <= i; j++) if (scores[row + j] > max) max = scores[row + j];
        let sum = 0;
        // SIMD exp over the first multiple of 4 of the visible keys, JS for the rest
        const n4 = view ? (i - lo + 1) & ~3 : 0;
        if (n4 > 0) {
          view!.set(scores.subarray(row + lo, row + lo + n4), 0);
          sum = vm!.expShift(n4, 0, max);
          scores.set(view!.subarray(0, n4), row + lo);
        }
        for (let j = lo + n4; j <= i; j++) {
          const e = Math.exp(scores[row + j] - max);
          scores[row + j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let j = 0; j < lo; j++) scores[row + j] = 0;
        for (let j = lo; j <= i; j++) scores[row + j] *= inv;
        for (let j = i + 1; j < T; j++) scores[row + j] = 0;
        lse[(g0 + gi) * T + i] = max + Math.log(sum);
      }
    }
    // O (g, T, D) = P V
    gemm.sgemm({
      a: scores,
      b: vh,
      c: oh,
      m: T,
      n: D,
      k: T,
      batch: g,
      offsetB: g0 * T * D,
      offsetC: g0 * T * D,
      strideA: T * T,
      strideB: T * D,
      strideC: T * D,
    });
  }
  fromHeadMajor(oh, out, s, false);
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
): void {
  const { batch: B, seq: T, heads: H, headDim: D, window, scale } = s;
  const view = vm ? vm.view(T + 4) : null;
  const n = B * T * H * D, BH = B * H;
  const qh = scratch.get("q", n), kh = scratch.get("k", n), vh = scratch.get("v", n);
  const oh = scratch.get("o", n), doh = scratch.get("do", n);
  const dqh = scratch.get("dq", n), dkh = scratch.get("dk", n), dvh = scratch.get("dv", n);
  toHeadMajor(q, qh, s);
  toHeadMajor(k, kh, s);
  toHeadMajor(v, vh, s);
  toHeadMajor(out, oh, s);
  toHeadMajor(gradOut, doh, s);
  // delta[bh, i] = dO_i . O_i (the softmax backward's row term)
  const delta = scratch.get("delta", BH * T);
  for (let r = 0; r < BH * T; r++) {
    let acc = 0;
    for (let d = 0, o = r * D; d < D; d++) acc += doh[o + d] * oh[o + d];
    delta[r] = acc;
  }
  const chunk = headsPerChunk(s);
  const p = scratch.get("s", chunk * T * T), dp = scratch.get("dp", chunk * T * T);
  for (let g0 = 0; g0 < BH; g0 += chunk) {
    const g = Math.min(chunk, BH - g0);
    const off = g0 * T * D;
    const mats = { batch: g, strideA: T * D, strideB: T * D } as const;
    gemm.sgemm({
      a: qh,
      b: kh,
      c: p,
      m: T,
      n: T,
      k: D,
      transB: true,
      alpha: scale,
      offsetA: off,
      offsetB: off,
      strideC: T * T,
      ...mats,
    });
    for (let gi = 0; gi < g; gi++) {
      for (let i = 0; i < T; i++) {
        const row = (gi * T + i) * T, lo = Math.max(0, i - window), l = lse[(g0 + gi) * T + i];
        for (let j = 0; j < lo; j++) p[row + j] = 0;
        const n4 = view ? (i - lo + 1) & ~3 : 0;
        if (n4 > 0) {
          view!.set(p.subarray(row + lo, row + lo + n4), 0);
          vm!.gradShift(n4, 0, l, 1);
          p.set(view!.subarray(0, n4), row + lo);
        }
        for (let j = lo + n4; j <= i; j++) p[row + j] = Math.exp(p[row + j] - l);
        for (let j = i + 1; j < T; j++) p[row + j] = 0;
      }
    }
    // dV (g, T, D) = P^T dO
    gemm.sgemm({
      a: p,
      b: doh,
      c: dvh,
      m: T,
      n: D,
      k: T,
      transA: true,
      batch: g,
      offsetB: off,
      offsetC: off,
      strideA: T * T,
      strideB: T * D,
      strideC: T * D,
    });
    // dP (g, T, T) = dO V^T
    gemm.sgemm({
      a: doh,
      b: vh,
      c: dp,
      m: T,
      n: T,
      k: D,
      transB: true,
      offsetA: off,
      offsetB: off,
      strideC: T * T,
      ...mats,
    });
    // dS = P * (dP - delta), into p
    for (let gi = 0; gi < g; gi++) {
      for (let i = 0; i < T; i++) {
        const row = (gi * T + i) * T, di = delta[(g0 + gi) * T + i];
        for (let j = 0; j <= i; j++) p[row + j] *= dp[row + j] - di;
      }
    }
    // dQ = scale * dS K ; dK = scale * dS^T Q
    gemm.sgemm({
      a: p,
      b: kh,
      c: dqh,
      m: T,
      n: D,
      k: T,
      alpha: scale,
      batch: g,
      offsetB: off,
      offsetC: off,
      strideA: T * T,
      strideB: T * D,
      strideC: T * D,
    });
    gemm.sgemm({
      a: p,
      b: qh,
      c: dkh,
      m: T,
      n: D,
      k: T,
      transA: true,
      alpha: scale,
      batch: g,
      offsetB: off,
      offsetC: off,
      strideA: T * T,
      strideB: T * D,
      strideC: T * D,
    });
  }
  fromHeadMajor(dqh, gradQ, s, accumulate);
  fromHeadMajor(dkh, gradK, s, accumulate);
  fromHeadMajor(dvh, gradV, s, accumulate);
}
