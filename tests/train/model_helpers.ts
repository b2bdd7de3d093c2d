/**
 * Shared by the trainer's tests: the frozen reference recipe (tests/train/reference_recipe.ts,
 * never the live one) as a loaded recipe, a tiny configuration of it, and synthetic batches (the
 * backends come from tests/backends.ts).
 */
import type { MicroBatch } from "../../src/train/loop.ts";
import type { TrainingData } from "../../src/train/run.ts";
import { Rng } from "../../src/train/model.ts";
import { CPU_DEVICE, type LoadedRecipe, type RecipeModule } from "../../src/train/recipe.ts";
import * as reference from "./reference_recipe.ts";
import { type Recipe, UPSTREAM_OPTIMIZER } from "./reference_recipe.ts";
import referenceSource from "./reference_recipe.ts" with { type: "text" };

/** The reference recipe's text and path, as `runExperiment` takes a recipe. */
export const REFERENCE_RECIPE_TEXT = {
  source: referenceSource,
  path: "tests/train/reference_recipe.ts",
};

/** The reference recipe (statically imported) with `config` as its values. */
export function referenceRecipe(config: Recipe): LoadedRecipe {
  return {
    path: REFERENCE_RECIPE_TEXT.path,
    source: referenceSource,
    module: reference as unknown as RecipeModule,
    device: CPU_DEVICE,
    config: structuredClone(config),
  };
}

/** A tiny recipe for fast tests: depth 2, width 64, two heads, seq 32, windows "SL". */
export const TINY_RECIPE: Recipe = {
  model: {
    depth: 2,
    width: 64,
    headDim: 32,
    seqLen: 32,
    windowPattern: "SL",
    softcap: 15,
    veGateChannels: 32,
  },
  optim: UPSTREAM_OPTIMIZER,
  totalBatchTokens: 256,
  deviceBatchRows: 4,
  warmupSteps: 1,
};

/**
 * Learnable synthetic batches: a sparse random Markov chain (4 successors per token), seeded.
 * Returns a `nextBatch` callback for the loop.
 */
export function markovBatches(
  vocab: number,
  rows: number,
  seqLen: number,
  seed: number,
): () => MicroBatch {
  const rng = new Rng(seed);
  const successors = Array.from(
    { length: vocab },
    () => Array.from({ length: 4 }, () => Math.floor(rng.next() * vocab)),
  );
  let token = 0;
  return () => {
    const inputs = new Int32Array(rows * seqLen), targets = new Int32Array(rows * seqLen);
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t <= seqLen; t++) {
        if (t < seqLen) inputs[r * seqLen + t] = token;
        if (t > 0) targets[r * seqLen + t - 1] = token;
        if (t < seqLen) token = successors[token][Math.floor(rng.next() * 4)];
      }
    }
    return { inputs, targets };
  };
}

/** The synthetic data set's vocabulary size (the last token is BOS). */
export const SYNTHETIC_VOCAB = 64;
const SYNTHETIC_BOS = SYNTHETIC_VOCAB - 1;

/**
 * Training data as the harness stores it: documents of a Markov chain (40 tokens each), each
 * starting with BOS (which counts zero bytes; every other token one).
 */
export function syntheticTrainingData(trainDocs: number, valDocs: number): TrainingData {
  const next = markovBatches(SYNTHETIC_VOCAB - 1, 1, 40, 5);
  const docs = (count: number) => {
    const tokens: number[] = [], starts: number[] = [];
    for (let d = 0; d < count; d++) {
      starts.push(tokens.length);
      tokens.push(SYNTHETIC_BOS, ...next().inputs);
    }
    starts.push(tokens.length);
    return { tokens: Uint16Array.from(tokens), starts: Uint32Array.from(starts) };
  };
  const tokenBytes = new Int32Array(SYNTHETIC_VOCAB).fill(1);
  tokenBytes[SYNTHETIC_BOS] = 0;
  return {
    source: "synthetic",
    vocabSize: SYNTHETIC_VOCAB,
    tokenBytes,
    train: docs(trainDocs),
    val: docs(valDocs),
    identity: { data: "synthetic-v1" },
  };
}
