/**
 * The training loop of the fixed harness: optimizer steps with gradient accumulation to the
 * recipe's total batch, until the counted training time reaches the budget. The first
 * `warmupSteps` steps (compilation, caches) are not counted, as upstream; the LR schedule runs on
 * progress = counted time / budget; a NaN loss or a loss above 100 stops the run as a failure.
 * Data comes in through a callback so the loop knows nothing about files.
 */
import type { Backend } from "../engine/backend.ts";
import { ModelRunner } from "./model.ts";
import type { LoadedRecipe, ModelConfig, Recipe } from "./recipe.ts";
import { callRecipe } from "./recipe_loader.ts";
import type { Progress } from "./summary.ts";

/** One micro-batch: row-major [rows, seqLen] inputs and next-token targets. */
export interface MicroBatch {
  /** Input token ids. */
  inputs: Int32Array;
  /** Target token ids. */
  targets: Int32Array;
}

/** Options of `trainModel`. */
export interface TrainLoopOptions {
  /** The backend to train on. */
  backend: Backend;
  /** The recipe: its model, optimizer and hyperparameters (`recipe.config`). */
  recipe: LoadedRecipe;
  /** The tokenizer's vocabulary size. */
  vocabSize: number;
  /** Seconds of counted training. */
  budgetSeconds: number;
  /** Seed of the initialisation. */
  seed: number;
  /** Next micro-batch of `recipe.deviceBatchRows` rows. */
  nextBatch: () => MicroBatch;
  /** Peak FLOP/s for MFU, or null when unknown. */
  peakFlops: number | null;
  /** Stop after this many optimizer steps (tests). */
  maxSteps?: number;
  /** Called after every step. */
  onProgress?: (p: Progress) => void;
  /** Initial weights instead of the seeded init (tests, golden checks). */
  initialWeights?: Map<string, Float32Array>;
  /** Wall-clock limit on the whole loop, seconds; past it the run fails as hung. */
  hardTimeoutSeconds?: number;
  /** Longest row the model will be fed later (the evaluation context); default seqLen. */
  maxSeqLen?: number;
  /**
   * Awaited after the first micro-batch and again after the first step, never in the counted
   * time: the backend's kernels are tuned on the shapes used so far (WebGPU autotuning), so the
   * rest of the first step already runs on tuned kernels and the optimizer's shapes follow.
   */
  tune?: () => Promise<void>;
}

/** What the loop produced. */
export interface TrainLoopResult {
  /** The trained model (still on the backend; the caller disposes it). */
  model: ModelRunner;
  /** The model shape. */
  config: ModelConfig;
  /** Optimizer steps taken. */
  steps: number;
  /** Counted training seconds. */
  trainingSeconds: number;
  /** Tokens trained on (all steps, warm-up included). */
  totalTokens: number;
  /** Loss of every step. */
  losses: number[];
  /** Average MFU over counted steps, percent (0 when the peak is unknown). */
  mfuPercent: number;
  /** Counted tokens per second. */
  tokensPerSecond: number;
  /** Why the run failed (NaN, exploding loss, hard timeout), or null. */
  failure: string | null;
}

/** Largest loss accepted before the run is declared diverged (upstream). */
export const MAX_LOSS = 100;

/** Micro-batches per optimizer step for a recipe: total batch / (rows * seqLen), at least 1. */
export function microSteps(recipe: Recipe): number {
  const perMicro = recipe.deviceBatchRows * recipe.model.seqLen;
  return Math.max(1, Math.round(recipe.totalBatchTokens / perMicro));
}

/**
 * Train a fresh model for the budget. Never throws on divergence: see `failure`. What the
 * recipe's own code throws (building the model or optimizer) comes out as a RecipeError.
 */
export async function trainModel(opts: TrainLoopOptions): Promise<TrainLoopResult> {
  const { backend } = opts;
  const recipe = opts.recipe.config;
  const module = opts.recipe.module;
  const label = opts.recipe.path ?? "default recipe";
  const config: ModelConfig = { ...recipe.model, vocabSize: opts.vocabSize };
  const maxSeqLen = Math.max(recipe.model.seqLen, opts.maxSeqLen ?? 0);
  const context = { vocabSize: opts.vocabSize, seed: opts.seed, maxSeqLen };
  const net = callRecipe(label, "buildModel", () => module.buildModel(backend, recipe, context));
  const model = new ModelRunner(net);
  if (opts.initialWeights) model.load(opts.initialWeights);
  let optimizer;
  try {
    optimizer = callRecipe(label, "buildOptimizer", () => module.buildOptimizer(net, recipe));
  } catch (error) {
    model.dispose();
    throw error;
  }
  const micro = microSteps(recipe);
  const rows = recipe.deviceBatchRows;
  const tokensPerStep = micro * rows * config.seqLen;
  const flops = callRecipe(
    label,
    "flopsPerToken",
    () => module.flopsPerToken(recipe, opts.vocabSize),
  );
  const flopsPerStep = flops * tokensPerStep;
  const lossBuf = backend.alloc("f32", 1);
  const losses: number[] = [];
  const started = performance.now();
  const hardLimitMs = (opts.hardTimeoutSeconds ?? Infinity) * 1000;
  let trainingMs = 0;
  let countedTokens = 0;
  let step = 0;
  let failure: string | null = null;
  try {
    while (true) {
      const t0 = performance.now();
      let tuningMs = 0;
      const progress = Math.min(trainingMs / (opts.budgetSeconds * 1000), 1);
      model.zeroGrads();
      // The recipe's forward and optimizer run in here; what they throw names the recipe.
      backend.fill({ out: lossBuf, value: 0 });
      for (let m = 0; m < micro; m++) {
        const batch = opts.nextBatch();
        callRecipe(label, "forward", () => model.forward(batch.inputs, batch.targets, rows));
        model.accumulateLoss(lossBuf, 1 / micro);
        model.backward(1 / micro);
        if (step === 0 && m === 0 && opts.tune) {
          const tuneStart = performance.now();
          await opts.tune();
          tuningMs += performance.now() - tuneStart;
        }
      }
      const current = step;
      callRecipe(label, "optimizer step", () => optimizer.step(current, progress));
      const loss = (await backend.read(lossBuf))[0];
      const dt = performance.now() - t0 - tuningMs;
      const warmup = step < recipe.warmupSteps;
      if (!warmup) {
        trainingMs += dt;
        countedTokens += tokensPerStep;
      }
      losses.push(loss);
      step++;
      if (step === 1 && opts.tune) await opts.tune(); // the optimizer's shapes (after dt)
      if (!Number.isFinite(loss) || loss > MAX_LOSS) {
        failure = `loss ${loss} at step ${step - 1} (NaN or above ${MAX_LOSS})`;
        break;
      }
      opts.onProgress?.({
        step: step - 1,
        loss,
        tokensPerSecond: tokensPerStep / (dt / 1000),
        mfuPercent: opts.peakFlops ? 100 * flopsPerStep / (dt / 1000) / opts.peakFlops : null,
        progress: Math.min(trainingMs / (opts.budgetSeconds * 1000), 1),
        remainingSeconds: opts.budgetSeconds - trainingMs / 1000,
        warmup,
      });
      if (performance.now() - started > hardLimitMs) {
        failure = `hard timeout: ${(hardLimitMs / 1000).toFixed(0)} s passed (hung run?)`;
        break;
      }
      if (!warmup && trainingMs >= opts.budgetSeconds * 1000) break;
      if (opts.maxSteps !== undefined && step >= opts.maxSteps) break;
    }
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    backend.free(lossBuf);
    optimizer.dispose();
  }
  const trainingSeconds = trainingMs / 1000;
  const tokensPerSecond = trainingSeconds > 0 ? countedTokens / trainingSeconds : 0;
  const mfuPercent = opts.peakFlops && trainingSeconds > 0
    ? 100 * flops * tokensPerSecond / opts.peakFlops
    : 0;
  return {
    model,
    config,
    steps: step,
    trainingSeconds,
    totalTokens: step * tokensPerStep,
    losses,
    mfuPercent,
    tokensPerSecond,
    failure,
  };
}
