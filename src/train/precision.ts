/**
 * Matmul precision on WebGPU. f32 is the default. `AUTORESEARCH_WEBGPU_PRECISION=auto` lets the
 * tuner choose the f16 matmul variants (operands rounded to f16 in workgroup memory, f32 sums)
 * where they are faster, but only on an adapter that passed the loss gate here: the default
 * recipe's model, made tiny, trained 10 steps on fixed synthetic data with f16 variants wherever
 * they apply, must stay within F16_LOSS_TOLERANCE of the same 10 steps in f32 on the same adapter.
 * CI holds the f16 variants to the same bound against PyTorch (tests/train/golden_train_test.ts).
 * The verdict is cached with the adapter's tuning, so the gate runs once per machine.
 * `startRunTuning` sets up a run's tuning (matmul at the allowed precision, and attention).
 */
import type { WebGpuBackend } from "../engine/webgpu/backend.ts";
import {
  f16Choice,
  readF16Gate,
  tuneAtFirstUse,
  type TuneOptions,
  writeF16Gate,
} from "../engine/webgpu/tune.ts";
import { tuneAttentionAtFirstUse } from "../engine/webgpu/attention_tune.ts";
import { UsageError } from "../util/errors.ts";
import { trainModel } from "./loop.ts";
import { Rng } from "./model.ts";
import { evaluateRecipe } from "./recipe_loader.ts";
import { DEFAULT_RECIPE_SOURCE } from "./recipe_loader.ts";

/** Which matmul variants a WebGPU run may use. */
export type MatmulPrecision = "f32" | "auto";

/** Largest |loss_f16 - loss_f32| over the gate's 10 steps (losses near ln 256 = 5.5). */
export const F16_LOSS_TOLERANCE = 1e-2;

/** `AUTORESEARCH_WEBGPU_PRECISION`: "f32" (default) or "auto"; anything else is an error. */
export function matmulPrecision(): MatmulPrecision {
  const value = Deno.env.get("AUTORESEARCH_WEBGPU_PRECISION");
  if (value === undefined || value === "" || value === "f32") return "f32";
  if (value === "auto") return "auto";
  throw new UsageError(
    "AUTORESEARCH_WEBGPU_PRECISION",
    `must be f32 or auto, got ${JSON.stringify(value)}`,
  );
}

/**
 * `AUTORESEARCH_WEBGPU_TUNE_S`: after how many seconds each tuner starts no new shape (default
 * 120; the untuned rest keep their defaults until a later run tunes them).
 */
export function tuningSeconds(): number {
  const value = Deno.env.get("AUTORESEARCH_WEBGPU_TUNE_S");
  if (value === undefined || value === "") return 120;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(seconds > 0)) {
    throw new UsageError(
      "AUTORESEARCH_WEBGPU_TUNE_S",
      `must be a positive number of seconds, got ${JSON.stringify(value)}`,
    );
  }
  return seconds;
}

/** The loss gate's outcome. */
export interface F16GateResult {
  /** Whether f16 stayed within the tolerance. */
  passed: boolean;
  /** Largest |loss_f16 - loss_f32| over the steps. */
  maxLossDiff: number;
  /** The tolerance applied. */
  tolerance: number;
  /** Matmul launches that ran with an f16 variant (0: nothing to gate). */
  f16Launches: number;
}

const VOCAB = 256;
const STEPS = 10;

/** Fixed synthetic batches: a sparse Markov chain over the gate's vocabulary. */
function gateBatches(
  rows: number,
  seqLen: number,
): () => { inputs: Int32Array; targets: Int32Array } {
  const rng = new Rng(7);
  const next = Int32Array.from({ length: VOCAB * 4 }, () => Math.floor(rng.next() * VOCAB));
  let token = 0;
  return () => {
    const stream = Int32Array.from({ length: rows * (seqLen + 1) }, () => {
      token = next[token * 4 + Math.floor(rng.next() * 4)];
      return token;
    });
    const inputs = new Int32Array(rows * seqLen);
    const targets = new Int32Array(rows * seqLen);
    for (let r = 0; r < rows; r++) {
      inputs.set(stream.subarray(r * (seqLen + 1), r * (seqLen + 1) + seqLen), r * seqLen);
      targets.set(stream.subarray(r * (seqLen + 1) + 1, (r + 1) * (seqLen + 1)), r * seqLen);
    }
    return { inputs, targets };
  };
}

/** The losses of 10 steps of the tiny default-recipe model on this backend as it is set up. */
async function gateLosses(backend: WebGpuBackend): Promise<number[]> {
  const loaded = evaluateRecipe(DEFAULT_RECIPE_SOURCE, null, { backend: "webgpu", gpu: false });
  const config = structuredClone(loaded.config) as typeof loaded.config & {
    model: Record<string, unknown>;
  };
  // Small enough to run in seconds, widths multiples of 4 (the vec4 f16 variants apply), and a
  // smooth descent: at widths under 128 the recipe's scaled learning rates make 10 steps erratic
  // even in f32, and any rounding change then moves the losses by tenths.
  Object.assign(config.model, { depth: 2, width: 128, headDim: 64, seqLen: 64 });
  config.deviceBatchRows = 4;
  config.totalBatchTokens = 4 * 64;
  config.warmupSteps = 0;
  const result = await trainModel({
    backend,
    recipe: { ...loaded, config },
    vocabSize: VOCAB,
    budgetSeconds: 600,
    seed: 1,
    nextBatch: gateBatches(4, 64),
    peakFlops: null,
    maxSteps: STEPS,
  });
  result.model.dispose();
  if (result.failure) throw new Error(`webgpu: the f16 loss gate's run failed: ${result.failure}`);
  return result.losses;
}

/** Run the loss gate on this backend (it leaves the backend's matmul choice as it found it). */
export async function runF16Gate(backend: WebGpuBackend): Promise<F16GateResult> {
  const previous = backend.matmulChoice;
  try {
    backend.matmulChoice = null;
    const f32 = await gateLosses(backend);
    const choice = f16Choice(backend);
    let f16Launches = 0;
    backend.matmulChoice = (shape) => {
      const variant = choice(shape);
      if (variant) f16Launches++;
      return variant;
    };
    const f16 = await gateLosses(backend);
    const maxLossDiff = Math.max(...f32.map((loss, i) => Math.abs(loss - f16[i])));
    return {
      passed: f16Launches > 0 && maxLossDiff <= F16_LOSS_TOLERANCE,
      maxLossDiff,
      tolerance: F16_LOSS_TOLERANCE,
      f16Launches,
    };
  } finally {
    backend.matmulChoice = previous;
  }
}

/** A run's tuning: the matmul and attention tuners together. */
export interface RunTuning {
  /** Tune the first step's matmul and attention shapes (cached ones cost nothing). */
  finish(): Promise<void>;
  /** The variants the run used, "webgpu-matmul:<ids> webgpu-attention:<ids>" (harness hash). */
  kernels(): string;
}

/**
 * The tuning a WebGPU run uses: f32 matmul variants, or with precision "auto" on an adapter
 * with `shader-f16` that passed the gate (run now when no verdict is cached), f16 variants too;
 * and the attention variants. `cachePath` and `attentionCachePath` default to the user cache.
 */
export async function startRunTuning(
  backend: WebGpuBackend,
  options: TuneOptions & { log: (line: string) => void; attentionCachePath?: string | null },
): Promise<RunTuning> {
  let allowF16 = false;
  if (matmulPrecision() === "auto" && backend.gpu.device.features.has("shader-f16")) {
    let gate = readF16Gate(backend, options.cachePath ?? undefined);
    if (!gate) {
      gate = await runF16Gate(backend);
      if (options.cachePath !== null) writeF16Gate(backend, gate, options.cachePath, options.log);
    }
    allowF16 = gate.passed;
    options.log(
      `f16 matmul ${gate.passed ? "allowed" : "not allowed"}: 10-step loss within ` +
        `${gate.maxLossDiff.toExponential(1)} of f32 (tolerance ${gate.tolerance})`,
    );
  }
  const maxSeconds = options.maxSeconds ?? tuningSeconds();
  const matmul = tuneAtFirstUse(backend, { ...options, allowF16, maxSeconds });
  const attention = tuneAttentionAtFirstUse(backend, {
    log: options.log,
    cachePath: options.attentionCachePath,
    maxSeconds,
  });
  // A tuning failure (a driver error, memory) must not fail the run: the defaults stay.
  const guarded = async (name: string, tune: () => Promise<unknown>) => {
    try {
      await tune();
    } catch (error) {
      options.log(
        `${name} tuning failed, keeping its defaults: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
  };
  return {
    async finish() {
      await guarded("matmul", () => matmul.finish());
      await guarded("attention", () => attention.finish());
    },
    kernels: () => [matmul.kernels(), attention.kernels()].filter(Boolean).join(" "),
  };
}
