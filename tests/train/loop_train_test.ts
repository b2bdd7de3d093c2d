/**
 * The training loop on real backends with synthetic learnable data (a sparse random Markov
 * chain): a tiny model trained for a few seconds lowers its loss on the CPU and on WebGPU; a
 * diverging recipe is reported as a failure instead of continuing; memory stays flat.
 */
import { BACKENDS } from "../backends.ts";
import assert from "node:assert/strict";
import { trainModel } from "../../src/train/loop.ts";
import type { Recipe } from "./reference_recipe.ts";
import { markovBatches, referenceRecipe, TINY_RECIPE } from "./model_helpers.ts";

for (const { name, create, skip } of BACKENDS) {
  Deno.test({
    name: `loop: a tiny model trained for a few seconds lowers the loss (${name})`,
    ignore: skip !== undefined,
    fn: async () => {
      const backend = await create();
      try {
        const result = await trainModel({
          backend,
          recipe: referenceRecipe(TINY_RECIPE),
          vocabSize: 64,
          budgetSeconds: name === "cpu" ? 3 : 6,
          seed: 1,
          nextBatch: markovBatches(64, TINY_RECIPE.deviceBatchRows, TINY_RECIPE.model.seqLen, 7),
          peakFlops: null,
          maxSteps: 60,
        });
        result.model.dispose();
        assert.equal(result.failure, null);
        const first = result.losses[0];
        const last = Math.min(...result.losses.slice(-3));
        console.log(
          `${name}: ${result.steps} steps, loss ${first.toFixed(3)} -> ${last.toFixed(3)}`,
        );
        assert.ok(Math.abs(first - Math.log(64)) < 0.2, `initial loss ${first} is about ln(64)`);
        assert.ok(last < first - 0.5, `loss fell from ${first} to ${last}`);
        assert.ok(result.trainingSeconds > 0);
      } finally {
        backend.destroy();
      }
    },
  });
}

Deno.test("loop: a diverging recipe fails (NaN or loss > 100) instead of training on", async () => {
  const { createCpuBackend } = await import("../../src/engine/cpu/backend.ts");
  const backend = await createCpuBackend();
  const wild: Recipe = {
    ...TINY_RECIPE,
    model: { ...TINY_RECIPE.model, softcap: 0 },
    optim: { ...TINY_RECIPE.optim, unembeddingLr: 1e6, embeddingLr: 1e6, matrixLr: 1e4 },
  };
  try {
    const result = await trainModel({
      backend,
      recipe: referenceRecipe(wild),
      vocabSize: 64,
      budgetSeconds: 30,
      seed: 1,
      nextBatch: markovBatches(64, wild.deviceBatchRows, wild.model.seqLen, 7),
      peakFlops: null,
      maxSteps: 20,
    });
    result.model.dispose();
    assert.ok(result.failure !== null, `expected a failure, losses ${result.losses}`);
    assert.match(result.failure!, /NaN|above 100/);
    assert.ok(result.steps < 20);
  } finally {
    backend.destroy();
  }
});

Deno.test("loop: device memory stays flat over steps", async () => {
  const { createCpuBackend } = await import("../../src/engine/cpu/backend.ts");
  const backend = await createCpuBackend();
  const inUse: number[] = [];
  try {
    const result = await trainModel({
      backend,
      recipe: referenceRecipe(TINY_RECIPE),
      vocabSize: 64,
      budgetSeconds: 60,
      seed: 1,
      nextBatch: markovBatches(64, TINY_RECIPE.deviceBatchRows, TINY_RECIPE.model.seqLen, 7),
      peakFlops: null,
      maxSteps: 12,
      onProgress: () => inUse.push(backend.memory().inUseBytes),
    });
    result.model.dispose();
    assert.equal(new Set(inUse.slice(2)).size, 1, `bytes in use changed: ${inUse}`);
    assert.equal(backend.memory().liveBuffers, 0, "everything freed after dispose");
  } finally {
    backend.destroy();
  }
});

Deno.test("loop: the tune hook runs after the first micro-batch and the first step, uncounted", async () => {
  const { createCpuBackend } = await import("../../src/engine/cpu/backend.ts");
  const backend = await createCpuBackend();
  // Two micro-batches per step and no warm-up steps: step 0 is counted, its tuning must not be.
  const recipe: Recipe = {
    ...TINY_RECIPE,
    totalBatchTokens: 2 * TINY_RECIPE.deviceBatchRows * TINY_RECIPE.model.seqLen,
    warmupSteps: 0,
  };
  const calls: number[] = [];
  let micro = 0;
  try {
    const result = await trainModel({
      backend,
      recipe: referenceRecipe(recipe),
      vocabSize: 64,
      budgetSeconds: 30,
      seed: 1,
      nextBatch: (() => {
        const next = markovBatches(64, recipe.deviceBatchRows, recipe.model.seqLen, 7);
        return () => (micro++, next());
      })(),
      peakFlops: null,
      maxSteps: 2,
      tune: async () => {
        calls.push(micro);
        await new Promise((resolve) => setTimeout(resolve, 2500));
      },
    });
    result.model.dispose();
    assert.deepEqual(calls, [1, 2], "after micro-batch 1 of step 0, then after step 0");
    assert.ok(
      result.trainingSeconds < 3,
      `3 s of tuning left out, got ${result.trainingSeconds} s`,
    );
  } finally {
    backend.destroy();
  }
});
