/**
 * The matmul shapes the WebGPU bench times: square products, and the products one micro-batch of
 * a training step runs, derived from the model's dimensions the way the frontend records them
 * (src/engine/ops.ts: `linear` is x @ W^T with W stored (out, in); its backward is dX = dY @ W and
 * dW = dY^T @ x). Pure functions, so the bench test checks them without a GPU.
 */
import type { MatmulShape } from "../../src/engine/webgpu/matmul_variants.ts";
import { GPU_RECIPE } from "../../src/train/default_recipe.ts";

/** One product the bench times. */
export interface BenchMatmul {
  /** What it is, e.g. "mlp fc dW = dY^T x". */
  label: string;
  /** The problem as the backend sees it. */
  shape: MatmulShape;
  /** How many times one micro-batch runs it as a matmul (0: not run as one, e.g. squares). */
  perMicroBatch: number;
}

/** The model dimensions a training micro-batch's products follow from. */
export interface StepDims {
  /** Transformer blocks. */
  depth: number;
  /** Residual width. */
  width: number;
  /** Dimension per head. */
  headDim: number;
  /** Tokens per row. */
  seqLen: number;
  /** Vocabulary size. */
  vocabSize: number;
  /** Rows per micro-batch. */
  rows: number;
}

/** Upstream's vocabulary, the one GPU_RECIPE's parameter count is quoted at. */
export const BENCH_VOCAB = 8192;

/** Square sizes: the issue's 1024-8192 on a GPU, what a CPU-emulated adapter does in seconds. */
export function squareSizes(software: boolean): number[] {
  return software ? [256, 512, 1024, 2048] : [1024, 2048, 4096, 8192];
}

/** The training micro-batch the products follow from (cut to 1 x 256 tokens on software). */
export function benchStepDims(software: boolean): StepDims {
  const model = GPU_RECIPE.model;
  return {
    depth: model.depth,
    width: model.width,
    headDim: model.headDim,
    seqLen: software ? 256 : model.seqLen,
    vocabSize: BENCH_VOCAB,
    rows: software ? 1 : GPU_RECIPE.deviceBatchRows,
  };
}

/** Multiply-adds times two. */
export function matmulFlops(shape: MatmulShape): number {
  return 2 * shape.m * shape.n * shape.k * shape.batch;
}

/** Bytes a product must move at least: A, B read once, C written once (f32). */
export function matmulBytes(shape: MatmulShape): number {
  return 4 * shape.batch * (shape.m * shape.k + shape.k * shape.n + shape.m * shape.n);
}

/** n x n @ n x n, one per size. */
export function squareMatmuls(sizes: readonly number[]): BenchMatmul[] {
  return sizes.map((n) => ({
    label: `${n}x${n}x${n}`,
    shape: { m: n, n, k: n, batch: 1, transA: false, transB: false },
    perMicroBatch: 0,
  }));
}

/** The forward and both backward products of a linear layer over `tokens` rows. */
function linearProducts(
  name: string,
  tokens: number,
  outDim: number,
  inDim: number,
  count: number,
): BenchMatmul[] {
  return [
    {
      label: `${name} x W^T`,
      shape: { m: tokens, n: outDim, k: inDim, batch: 1, transA: false, transB: true },
      perMicroBatch: count,
    },
    {
      label: `${name} dX = dY W`,
      shape: { m: tokens, n: inDim, k: outDim, batch: 1, transA: false, transB: false },
      perMicroBatch: count,
    },
    {
      label: `${name} dW = dY^T x`,
      shape: { m: outDim, n: inDim, k: tokens, batch: 1, transA: true, transB: false },
      perMicroBatch: count,
    },
  ];
}

/**
 * Every distinct product of one micro-batch of the GPT (src/train/default_recipe.ts): the four
 * attention projections (q, k, v, out), the MLP's two, the LM head, and the attention scores
 * Q K^T and P V batched over rows x heads (the attention kernel computes these inside itself, so
 * they count 0 per micro-batch; they are timed as plain matmuls of the same size, to compare). The value-embedding gate (width 32 -> heads)
 * is too small to matter and left out.
 */
export function trainingMatmuls(dims: StepDims): BenchMatmul[] {
  const { depth, width: C, headDim: D, seqLen: T, vocabSize: V, rows } = dims;
  const tokens = rows * T;
  const heads = C / D;
  return [
    ...linearProducts("attn q/k/v/proj", tokens, C, C, 4 * depth),
    ...linearProducts("mlp fc", tokens, 4 * C, C, depth),
    ...linearProducts("mlp proj", tokens, C, 4 * C, depth),
    ...linearProducts("lm head", tokens, V, C, 1),
    {
      label: "attn Q K^T (batched)",
      shape: { m: T, n: T, k: D, batch: rows * heads, transA: false, transB: true },
      perMicroBatch: 0,
    },
    {
      label: "attn P V (batched)",
      shape: { m: T, n: D, k: T, batch: rows * heads, transA: false, transB: false },
      perMicroBatch: 0,
    },
  ];
}

/** "m x n x k", with the batch and the transposes when they are not the plain case. */
export function describeShape(shape: MatmulShape): string {
  const batch = shape.batch > 1 ? `${shape.batch} x ` : "";
  const trans = [shape.transA ? "A^T" : "", shape.transB ? "B^T" : ""].filter(Boolean).join(",");
  return `${batch}${shape.m}x${shape.n}x${shape.k}${trans ? ` (${trans})` : ""}`;
}
