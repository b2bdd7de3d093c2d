/**
 * THE recipe: model size, hyperparameters and optimizer setup of the GPT that every experiment
 * trains, like upstream's train.py. This is the ONE file a research agent edits (program.md says
 * so); the harness (data, tokenizer, evaluation, time budget) stays fixed so results compare.
 *
 * Defaults are upstream's on a GPU (depth 8, width 512, head_dim 128, seq 2048, total batch 2^19
 * tokens). On a CPU (or a software WebGPU adapter) a smaller default is used, chosen by measurement
 * starting from the reference CPU config (depth 4, width 256, head_dim 64, seq 256, 16384
 * tokens/step) and upstream's small-hardware advice (window pattern "L"): see CPU_RECIPE. The vocabulary size is not set here: it
 * is the prepared tokenizer's.
 */

/** Model architecture knobs (the vocabulary comes from the tokenizer). */
export interface ModelShape {
  /** Number of transformer blocks. */
  depth: number;
  /** Residual stream width (n_embd). Must be a multiple of headDim. */
  width: number;
  /** Dimension per attention head (heads = width / headDim). */
  headDim: number;
  /** Context length in tokens. */
  seqLen: number;
  /** Sliding-window pattern over layers: "S" = seq/2, "L" = seq; the last layer is always L. */
  windowPattern: string;
  /** Logits are capped as softcap * tanh(logits / softcap); 0 disables the cap. */
  softcap: number;
  /** Leading channels of the normed input that drive the value-embedding gates. */
  veGateChannels: number;
}

/** Optimizer setup: AdamW groups for embeddings/head/scalars, Muon for block matrices. */
export interface OptimizerSetup {
  /** AdamW LR of the token and value embeddings (scaled by (width/768)^-0.5). */
  embeddingLr: number;
  /** AdamW LR of the untied lm_head (scaled). */
  unembeddingLr: number;
  /** Muon LR of every block matrix (times sqrt(max(1, rows/cols))). */
  matrixLr: number;
  /** AdamW LR of the x0 lambdas (scaled). */
  scalarLr: number;
  /** The residual lambdas get scalarLr times this. */
  residLrFrac: number;
  /** Muon decoupled (cautious) weight decay at progress 0, decaying linearly to 0. */
  weightDecay: number;
  /** AdamW betas. */
  adamBetas: [number, number];
  /** AdamW epsilon. */
  adamEps: number;
  /** Muon Nesterov momentum at step 0. */
  muonMomentumStart: number;
  /** Muon momentum after the ramp. */
  muonMomentumEnd: number;
  /** Steps over which the momentum ramps linearly. */
  muonMomentumRampSteps: number;
  /** Decay of Muon's second-moment (NorMuon) buffer. */
  muonBeta2: number;
  /** Polar Express orthogonalisation iterations (at most 5). */
  orthoSteps: number;
  /** Fraction of progress spent warming the LR up from 0. */
  warmupRatio: number;
  /** Fraction of progress at the end over which the LR decays linearly. */
  warmdownRatio: number;
  /** LR multiplier at the very end. */
  finalLrFrac: number;
}

/** A full recipe: model, optimizer and batch. */
export interface Recipe {
  /** Name shown in cards and summaries. */
  name: string;
  /** Architecture. */
  model: ModelShape;
  /** Optimizer and schedule. */
  optim: OptimizerSetup;
  /** Tokens per optimizer step (gradient accumulation fills it). */
  totalBatchTokens: number;
  /** Rows of seqLen tokens per forward/backward (micro-batch). */
  deviceBatchRows: number;
  /** Optimizer steps at the start that are not counted against the time budget. */
  warmupSteps: number;
}

/** Upstream's optimizer and schedule. */
export const UPSTREAM_OPTIMIZER: OptimizerSetup = {
  embeddingLr: 0.6,
  unembeddingLr: 0.004,
  matrixLr: 0.04,
  scalarLr: 0.5,
  residLrFrac: 0.01,
  weightDecay: 0.2,
  adamBetas: [0.8, 0.95],
  adamEps: 1e-10,
  muonMomentumStart: 0.85,
  muonMomentumEnd: 0.95,
  muonMomentumRampSteps: 300,
  muonBeta2: 0.95,
  orthoSteps: 5,
  warmupRatio: 0,
  warmdownRatio: 0.5,
  finalLrFrac: 0,
};

/** Upstream's defaults, for a real GPU: 50.3M parameters at vocab 8192. */
export const GPU_RECIPE: Recipe = {
  name: "gpt-d8",
  model: {
    depth: 8,
    width: 512,
    headDim: 128,
    seqLen: 2048,
    windowPattern: "SSSL",
    softcap: 15,
    veGateChannels: 32,
  },
  optim: UPSTREAM_OPTIMIZER,
  totalBatchTokens: 2 ** 19,
  // Upstream runs 128 rows per micro-batch in bf16; we train in f32 and keep every activation,
  // and WebGPU caps one binding (often 2 GiB): 16 rows keep logits (16*2048 x 8192 f32 = 1 GiB)
  // under it and activations near 13 GB, with 16 accumulation steps to reach 2^19 tokens.
  deviceBatchRows: 16,
  warmupSteps: 10,
};

/**
 * The CPU default (also used on software WebGPU adapters such as lavapipe): the reference CPU
 * config's model (d4 w256) with a small batch, chosen by runs on the embedded corpus on 2 shared
 * cores. val_bpb at 60 s / 300 s: 16384 tokens/step 2.47 (6 steps) / -; 2048 tokens/step with
 * width 256: 2.31 / 2.17, width 192: 2.17 / 2.27, width 128: 2.13 / 2.41 (the small models pass
 * over the 0.3M-token corpus 5 times in 300 s and overfit). The default budget is 300 s, so
 * width 256 wins. Window pattern "L" as upstream advises for small hardware.
 */
export const CPU_RECIPE: Recipe = {
  name: "gpt-d4-cpu",
  model: {
    depth: 4,
    width: 256,
    headDim: 64,
    seqLen: 256,
    windowPattern: "L",
    softcap: 15,
    veGateChannels: 32,
  },
  optim: UPSTREAM_OPTIMIZER,
  totalBatchTokens: 2048,
  deviceBatchRows: 8,
  warmupSteps: 1,
};

/** The recipe for a device: upstream's on a real GPU, the CPU default otherwise. */
export function recipeFor(backend: "cpu" | "webgpu", isFallbackAdapter: boolean): Recipe {
  return backend === "webgpu" && !isFallbackAdapter ? GPU_RECIPE : CPU_RECIPE;
}

/** LR multiplier at `progress` in [0, 1]: optional warmup, flat, then linear warmdown. */
export function lrMultiplier(progress: number, optim: OptimizerSetup): number {
  if (progress < optim.warmupRatio) return (progress + 1e-8) / optim.warmupRatio;
  if (progress < 1 - optim.warmdownRatio) return 1;
  const cooldown = Math.max(0, (1 - progress) / optim.warmdownRatio);
  return cooldown + (1 - cooldown) * optim.finalLrFrac;
}

/** Muon momentum at optimizer step `step`: linear ramp start -> end. */
export function muonMomentum(step: number, optim: OptimizerSetup): number {
  const frac = Math.min(step / optim.muonMomentumRampSteps, 1);
  return (1 - frac) * optim.muonMomentumStart + frac * optim.muonMomentumEnd;
}

/** Muon weight decay at `progress`: linear from weightDecay to 0. */
export function weightDecayAt(progress: number, optim: OptimizerSetup): number {
  return optim.weightDecay * (1 - progress);
}

/** How one parameter is optimised. */
export type ParamGroup =
  | { kind: "adamw"; lr: number; betas: [number, number]; eps: number }
  | { kind: "muon"; lr: number };

/**
 * The optimizer group of parameter `name` (names as in model.ts: wte, ve.N, lm_head,
 * resid_lambdas, x0_lambdas, h.N.*). AdamW LRs are scaled by (width/768)^-0.5.
 */
export function paramGroup(name: string, width: number, optim: OptimizerSetup): ParamGroup {
  const scale = (width / 768) ** -0.5;
  const adam = (lr: number): ParamGroup => ({
    kind: "adamw",
    lr: lr * scale,
    betas: optim.adamBetas,
    eps: optim.adamEps,
  });
  if (name === "wte" || name.startsWith("ve.")) return adam(optim.embeddingLr);
  if (name === "lm_head") return adam(optim.unembeddingLr);
  if (name === "x0_lambdas") return adam(optim.scalarLr);
  if (name === "resid_lambdas") return adam(optim.scalarLr * optim.residLrFrac);
  return { kind: "muon", lr: optim.matrixLr };
}
