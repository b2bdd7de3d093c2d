/**
 * The recipe: the GPT model, its optimizer and every hyperparameter of the experiment, in one
 * file, like upstream's train.py. This is the ONE file a research agent edits (program.md says
 * so); the harness (data, tokenizer, evaluation, time budget, training loop) stays fixed so
 * results compare. The model is written with the engine's autograd ops, so changing the forward
 * is enough: gradients follow automatically.
 *
 * The harness loads this file at run time and hands it one import, "autoresearch/recipe" (the
 * engine's ops, optimizers and tensor types); it reads four exports (docs/recipe.md):
 * - `hyperparameters(device)`: every value below as one object (its dotted paths are the config
 *   keys of cards and queue items: `model.depth`, `optim.matrixLr`, `totalBatchTokens`, ...);
 * - `buildModel(backend, recipe, context)`: the GPT, initialised from `context.seed`;
 * - `buildOptimizer(model, recipe)`: AdamW + Muon with their schedules;
 * - `flopsPerToken(recipe, vocabSize)`: for MFU;
 * and `constraints`, the rules a config change must keep.
 *
 * Defaults are upstream's on a real GPU (depth 8, width 512, head_dim 128, seq 2048, total batch
 * 2^19 tokens). On a CPU (or a software WebGPU adapter) a smaller model is used, chosen by
 * measurement from the reference CPU config (depth 4, width 256, head_dim 64, seq 256) and
 * upstream's small-hardware advice (window pattern "L"): see CPU_RECIPE. The vocabulary size is
 * not set here: it is the prepared tokenizer's.
 */
import {
  AdamW,
  type AdamWGroup,
  add,
  attention,
  type Backend,
  type Constraint,
  crossEntropy,
  type Device,
  embedding,
  linear,
  type ModelContext,
  mul,
  Muon,
  narrow,
  Parameter,
  relu2,
  rmsnorm,
  Rng,
  rotary,
  type RotaryTables,
  rotaryTables,
  scale,
  sigmoid,
  type Tape,
  type Tensor,
  type TrainableModel,
  type TrainOptimizer,
} from "autoresearch/recipe";

// ---------------------------------------------------------------------------------------------
// Hyperparameters
// ---------------------------------------------------------------------------------------------

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

/**
 * The hyperparameters for a device (contract): upstream's on a real GPU, the CPU default
 * otherwise. A fresh copy each call; `--config` and queue items change this effective object.
 */
export function hyperparameters(device: Device): Recipe {
  return structuredClone(device.gpu ? GPU_RECIPE : CPU_RECIPE);
}

/** Rules every value of this recipe must keep (contract); a config change is checked by them. */
export const constraints: Constraint<Recipe>[] = [
  {
    key: "model.depth",
    rule: "must be an integer >= 1",
    holds: (r) => intAtLeast(r.model.depth, 1),
  },
  {
    key: "model.headDim",
    rule: "must be an even integer >= 2",
    holds: (r) => intAtLeast(r.model.headDim, 2) && r.model.headDim % 2 === 0,
  },
  {
    key: "model.width",
    rule: "must be a positive multiple of model.headDim",
    holds: (r) => intAtLeast(r.model.width, 1) && r.model.width % r.model.headDim === 0,
  },
  {
    key: "model.windowPattern",
    rule: "must be letters S and L only",
    holds: (r) => /^[SL]+$/.test(r.model.windowPattern),
  },
  {
    key: "model.softcap",
    rule: "must be >= 0 (0 disables the cap)",
    holds: (r) => r.model.softcap >= 0,
  },
  {
    key: "model.veGateChannels",
    rule: "must be an integer from 1 to model.width",
    holds: (r) => intAtLeast(r.model.veGateChannels, 1) && r.model.veGateChannels <= r.model.width,
  },
  {
    key: "optim.orthoSteps",
    rule: "must be an integer from 1 to 5",
    holds: (r) => intAtLeast(r.optim.orthoSteps, 1) && r.optim.orthoSteps <= 5,
  },
  {
    key: "optim.muonMomentumRampSteps",
    rule: "must be an integer >= 1",
    holds: (r) => intAtLeast(r.optim.muonMomentumRampSteps, 1),
  },
  {
    key: "optim.warmupRatio",
    rule: "must be in [0, 1]",
    holds: (r) => between(r.optim.warmupRatio, 0, 1),
  },
  {
    key: "optim.warmdownRatio",
    rule: "must be in [0, 1]",
    holds: (r) => between(r.optim.warmdownRatio, 0, 1),
  },
  {
    key: "optim.warmdownRatio",
    rule: "with optim.warmupRatio must be at most 1",
    holds: (r) => r.optim.warmupRatio + r.optim.warmdownRatio <= 1,
  },
  {
    key: "optim.finalLrFrac",
    rule: "must be in [0, 1]",
    holds: (r) => between(r.optim.finalLrFrac, 0, 1),
  },
  {
    key: "optim.adamBetas",
    rule: "must be two numbers in [0, 1)",
    holds: (r) => r.optim.adamBetas.every((b) => b >= 0 && b < 1),
  },
  { key: "optim.adamEps", rule: "must be > 0", holds: (r) => r.optim.adamEps > 0 },
  { key: "optim.weightDecay", rule: "must be >= 0", holds: (r) => r.optim.weightDecay >= 0 },
];

function intAtLeast(value: number, min: number): boolean {
  return Number.isSafeInteger(value) && value >= min;
}

function between(value: number, lo: number, hi: number): boolean {
  return value >= lo && value <= hi;
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
 * The optimizer group of parameter `name` (names as in GPT below: wte, ve.N, lm_head,
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

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/** The model's full shape: the recipe's plus the tokenizer's vocabulary. */
export interface ModelConfig extends ModelShape {
  /** Vocabulary size (the tokenizer's). */
  vocabSize: number;
  /** Longest row the model is fed (rotary tables); default seqLen. */
  maxSeqLen?: number;
}

/** True when layer `layer` of a `depth`-layer model has a value embedding (alternating, last). */
export function hasValueEmbedding(layer: number, depth: number): boolean {
  return layer % 2 === (depth - 1) % 2;
}

/** Left attention window per layer from the pattern ("S" = seq/2, "L" = seq; last is L). */
export function layerWindows(shape: ModelShape): number[] {
  const windows: number[] = [];
  for (let i = 0; i < shape.depth; i++) {
    const ch = shape.windowPattern[i % shape.windowPattern.length];
    windows.push(ch === "S" ? Math.floor(shape.seqLen / 2) : shape.seqLen);
  }
  windows[shape.depth - 1] = shape.seqLen;
  return windows;
}

/**
 * Training FLOPs per token (forward + backward = 6 per matmul weight, plus attention scores),
 * as upstream estimates it: embeddings are lookups and do not count.
 */
export function modelFlopsPerToken(cfg: ModelConfig): number {
  const C = cfg.width;
  const matmulParams = cfg.depth * 12 * C * C + cfg.vocabSize * C;
  let attention = 0;
  for (const w of layerWindows(cfg)) attention += 12 * C * Math.min(w, cfg.seqLen);
  return 6 * matmulParams + attention;
}

/** Upstream's initialisation of parameter `name` (host values, drawn from `rng`). */
export function initialValues(
  name: string,
  shape: number[],
  width: number,
  rng: Rng,
): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const bound = Math.sqrt(3) / Math.sqrt(width);
  if (name === "wte") { for (let i = 0; i < size; i++) out[i] = rng.normal(); }
  else if (name === "lm_head") { for (let i = 0; i < size; i++) out[i] = 0.001 * rng.normal(); }
  else if (name === "resid_lambdas") out.fill(1);
  else if (name === "x0_lambdas") out.fill(0.1);
  else if (name.endsWith("c_proj") || name.endsWith("ve_gate")) out.fill(0);
  else for (let i = 0; i < size; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

/** The weights of one transformer block (linear weights are (out, in), as torch). */
interface Block {
  cQ: Parameter;
  cK: Parameter;
  cV: Parameter;
  attnProj: Parameter;
  /** Value-embedding gate (heads, veGateChannels), on layers with a value embedding. */
  veGate: Parameter | null;
  /** Value-embedding table (vocab, width), on layers with a value embedding. */
  ve: Parameter | null;
  fc: Parameter;
  mlpProj: Parameter;
}

/**
 * The GPT (UPSTREAM.md): token embedding -> RMSNorm = x0; per layer x = resid[i]*x + x0l[i]*x0,
 * then pre-norm attention (rotary, QK-norm, sliding window, value embeddings with gates on
 * alternating layers incl. the last) and a ReLU^2 MLP; final RMSNorm; untied lm_head; softcapped
 * cross-entropy. Parameters are created (and initialised from `seed`) in a fixed order, the
 * order of scripts/golden_train.py.
 */
export class GPT implements TrainableModel {
  /** Every trainable tensor, in creation order. */
  readonly params: Parameter[] = [];
  readonly #wte: Parameter;
  readonly #blocks: Block[] = [];
  readonly #lmHead: Parameter;
  readonly #residLambdas: Parameter;
  readonly #x0Lambdas: Parameter;
  readonly #rotary: RotaryTables;
  readonly #windows: number[];

  /** The parameters of `cfg` on `backend`, initialised from `seed`. */
  constructor(backend: Backend, readonly cfg: ModelConfig, seed: number) {
    if (cfg.width % cfg.headDim !== 0) throw new Error("width must be a multiple of headDim");
    if (cfg.headDim % 2 !== 0) throw new Error("headDim must be even (rotary)");
    const { vocabSize: V, width: C, depth: L } = cfg;
    const heads = C / cfg.headDim;
    const rng = new Rng(seed);
    const param = (name: string, shape: number[]): Parameter => {
      const p = new Parameter(backend, shape, initialValues(name, shape, C, rng), { name });
      this.params.push(p);
      return p;
    };
    this.#wte = param("wte", [V, C]);
    for (let i = 0; i < L; i++) {
      const ve = hasValueEmbedding(i, L);
      const cQ = param(`h.${i}.attn.c_q`, [C, C]);
      const cK = param(`h.${i}.attn.c_k`, [C, C]);
      const cV = param(`h.${i}.attn.c_v`, [C, C]);
      const attnProj = param(`h.${i}.attn.c_proj`, [C, C]);
      const veGate = ve ? param(`h.${i}.attn.ve_gate`, [heads, cfg.veGateChannels]) : null;
      const fc = param(`h.${i}.mlp.c_fc`, [4 * C, C]);
      const mlpProj = param(`h.${i}.mlp.c_proj`, [C, 4 * C]);
      const veTable = ve ? param(`ve.${i}`, [V, C]) : null;
      this.#blocks.push({ cQ, cK, cV, attnProj, veGate, ve: veTable, fc, mlpProj });
    }
    this.#lmHead = param("lm_head", [V, C]);
    this.#residLambdas = param("resid_lambdas", [L]);
    this.#x0Lambdas = param("x0_lambdas", [L]);
    this.#rotary = rotaryTables(backend, Math.max(cfg.seqLen, cfg.maxSeqLen ?? 0), cfg.headDim);
    this.#windows = layerWindows(cfg);
  }

  /**
   * Per-token losses (B, T) of token ids (B, T) against next-token targets (B, T), recorded on
   * `tape` (train: `tape.backward(mean(losses))`).
   */
  forward(tape: Tape, ids: Tensor<"i32">, targets: Tensor<"i32">): Tensor<"f32"> {
    const cfg = this.cfg;
    const [B, T] = ids.shape;
    const C = cfg.width, D = cfg.headDim, H = C / D;
    const x0 = rmsnorm(embedding(this.#wte, ids)); // (B, T, C)
    // The per-layer scalars (L); tape.use puts the Parameters on this tape so narrow can record.
    const resid = tape.use(this.#residLambdas), x0l = tape.use(this.#x0Lambdas);
    let x = x0;
    for (let i = 0; i < cfg.depth; i++) {
      const blk = this.#blocks[i];
      // x = resid[i] * x + x0l[i] * x0   (B, T, C)
      x = add(mul(x, narrow(resid, i, 1)), mul(x0, narrow(x0l, i, 1)));

      // Attention: q, k, v = norm(x) @ W^T   (B, T, C) viewed as (B, T, H, D)
      const h = rmsnorm(x);
      const q = linear(h, blk.cQ).reshape([B, T, H, D]);
      const k = linear(h, blk.cK).reshape([B, T, H, D]);
      let v = linear(h, blk.cV).reshape([B, T, H, D]);
      if (blk.ve && blk.veGate) {
        // v += 2 * sigmoid(h[..., :G] @ Wg^T)[..., None] * ve[ids]   gate (B, T, H, 1)
        const gate = scale(sigmoid(linear(narrow(h, 0, cfg.veGateChannels), blk.veGate)), 2);
        const ve = embedding(blk.ve, ids).reshape([B, T, H, D]);
        v = add(v, mul(ve, gate.reshape([B, T, H, 1])));
      }
      // Rotary, then QK-norm over D, then causal sliding-window attention -> (B, T, C).
      const qn = rmsnorm(rotary(q, this.#rotary));
      const kn = rmsnorm(rotary(k, this.#rotary));
      const y = attention(qn, kn, v, { window: this.#windows[i] });
      x = add(x, linear(y, blk.attnProj));

      // MLP: x += relu(norm(x) @ Wfc^T)^2 @ Wproj^T   hidden (B, T, 4C)
      x = add(x, linear(relu2(linear(rmsnorm(x), blk.fc)), blk.mlpProj));
    }
    // logits = norm(x) @ W_lm^T (B, T, V); softcap and cross-entropy are fused.
    const logits = linear(rmsnorm(x), this.#lmHead);
    return crossEntropy(logits, targets, { softcap: cfg.softcap });
  }

  /** Free parameters, gradients and the rotary tables. */
  dispose(): void {
    for (const p of this.params) p.dispose();
    this.#rotary.cos.dispose();
    this.#rotary.sin.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Optimizer
// ---------------------------------------------------------------------------------------------

/**
 * The recipe's optimizer: AdamW for embeddings, lm_head and the lambdas, Muon (Polar Express,
 * NorMuon, cautious weight decay) for every block matrix; learning rates scaled and scheduled as
 * above. scripts/golden_train.py implements exactly this in PyTorch.
 */
export function createOptimizer(model: GPT, setup: OptimizerSetup): TrainOptimizer {
  const backend = model.params[0].backend;
  const adamGroups = new Map<string, { group: AdamWGroup; baseLr: number }>();
  const matrices: Parameter[] = [];
  for (const p of model.params) {
    const g = paramGroup(p.name, model.cfg.width, setup);
    if (g.kind === "muon") {
      matrices.push(p);
      continue;
    }
    const key = `${g.lr}/${g.betas}/${g.eps}`;
    let entry = adamGroups.get(key);
    if (!entry) {
      const group = { params: [], lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps };
      entry = { group, baseLr: g.lr };
      adamGroups.set(key, entry);
    }
    entry.group.params.push(p);
  }
  const adam = new AdamW(backend, [...adamGroups.values()].map((e) => e.group));
  const muonGroup = {
    params: matrices,
    lr: setup.matrixLr,
    beta2: setup.muonBeta2,
    nsSteps: setup.orthoSteps,
  };
  const muon = new Muon(backend, [muonGroup]);
  return {
    step(step: number, progress: number): void {
      const lrm = lrMultiplier(progress, setup);
      for (const { group, baseLr } of adamGroups.values()) group.lr = baseLr * lrm;
      Object.assign(muon.groups[0], {
        lr: setup.matrixLr * lrm,
        momentum: muonMomentum(step, setup),
        weightDecay: weightDecayAt(progress, setup),
      });
      adam.step();
      muon.step();
    },
    dispose(): void {
      adam.dispose();
      muon.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The contract with the harness (docs/recipe.md)
// ---------------------------------------------------------------------------------------------

/** The model of `recipe` on `backend` (contract), initialised from `context.seed`. */
export function buildModel(backend: Backend, recipe: Recipe, context: ModelContext): GPT {
  const cfg = { ...recipe.model, vocabSize: context.vocabSize, maxSeqLen: context.maxSeqLen };
  return new GPT(backend, cfg, context.seed);
}

/** The optimizer of `model` (contract). */
export function buildOptimizer(model: TrainableModel, recipe: Recipe): TrainOptimizer {
  return createOptimizer(model as GPT, recipe.optim);
}

/** Training FLOPs per token (contract). */
export function flopsPerToken(recipe: Recipe, vocabSize: number): number {
  return modelFlopsPerToken({ ...recipe.model, vocabSize });
}
