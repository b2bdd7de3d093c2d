/**
 * `runExperiment` end to end on synthetic data (in process, real files): a healthy run writes a
 * checkpoint that reloads to the same model and records one pending card; a diverging run is
 * reported as a failure with no val_bpb and recorded as a crash card (val_bpb null, never 0);
 * the loop's hard timeout ends a run that takes too long.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCpuBackend } from "../../src/engine/cpu/backend.ts";
import { readCheckpoint } from "../../src/train/checkpoint.ts";
import { trainModel } from "../../src/train/loop.ts";
import { ModelRunner } from "../../src/train/model.ts";
import { GPT, type ModelConfig, type Recipe } from "./reference_recipe.ts";
import { runExperiment } from "../../src/train/run.ts";
import {
  markovBatches,
  REFERENCE_RECIPE_TEXT,
  referenceRecipe,
  SYNTHETIC_VOCAB,
  syntheticTrainingData,
  TINY_RECIPE,
} from "./model_helpers.ts";

const VOCAB = SYNTHETIC_VOCAB;

function cards(kb: string): Record<string, unknown>[] {
  const dir = join(kb, "cards");
  return [...Deno.readDirSync(dir)].map((e) =>
    JSON.parse(Deno.readTextFileSync(join(dir, e.name)))
  );
}

const quiet = { onProgressLine: () => {}, log: () => {} };

Deno.test("run: a healthy run checkpoints, evaluates and records one pending card", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const report = await runExperiment({
      data: syntheticTrainingData(200, 20),
      backend: "cpu",
      budgetSeconds: 1,
      seed: 5,
      recipe: REFERENCE_RECIPE_TEXT,
      configOverride: TINY_RECIPE,
      evalTokens: 512,
      kb: join(dir, "kb"),
      agent: "tester",
      session: "s1",
      hypothesis: "tiny run",
      checkpointDir: join(dir, "ckpt"),
      ...quiet,
    });
    assert.equal(report.status, "ok");
    assert.ok(report.val_bpb !== null && report.val_bpb > 0);
    const [card] = cards(join(dir, "kb"));
    assert.equal(card.status, "pending");
    assert.equal((card.results as { val_bpb: number }).val_bpb, report.val_bpb);
    // The checkpoint reloads into a model that scores the validation data the same way.
    const { manifest, weights } = await readCheckpoint(join(dir, "ckpt"));
    assert.equal(manifest.step, report.num_steps);
    const backend = await createCpuBackend();
    try {
      const model = new ModelRunner(new GPT(backend, manifest.model as unknown as ModelConfig, 0));
      model.load(weights);
      const ids = new Int32Array(4 * 32).map((_, i) => i % (VOCAB - 1));
      const losses = await model.perTokenLoss(ids, ids.map((x) => (x + 1) % (VOCAB - 1)), 4);
      assert.ok(losses.every(Number.isFinite));
      model.dispose();
    } finally {
      backend.destroy();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run: a diverging run fails with no val_bpb and a crash card, never 0", async () => {
  const dir = await Deno.makeTempDir();
  const wild: Recipe = {
    ...TINY_RECIPE,
    model: { ...TINY_RECIPE.model, softcap: 0 },
    optim: { ...TINY_RECIPE.optim, unembeddingLr: 1e6, embeddingLr: 1e6, matrixLr: 1e4 },
  };
  try {
    const report = await runExperiment({
      data: syntheticTrainingData(200, 20),
      backend: "cpu",
      budgetSeconds: 30,
      seed: 5,
      recipe: REFERENCE_RECIPE_TEXT,
      configOverride: wild,
      evalTokens: 512,
      kb: join(dir, "kb"),
      agent: "tester",
      session: "s1",
      hypothesis: "wild learning rates",
      checkpointDir: join(dir, "ckpt"),
      ...quiet,
    });
    assert.equal(report.status, "fail");
    assert.equal(report.val_bpb, null);
    assert.equal(report.checkpoint, null);
    const [card] = cards(join(dir, "kb"));
    assert.equal(card.status, "crash");
    assert.equal((card.results as { val_bpb: number | null }).val_bpb, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loop: the hard timeout ends a run that takes too long", async () => {
  const backend = await createCpuBackend();
  try {
    const result = await trainModel({
      backend,
      recipe: referenceRecipe(TINY_RECIPE),
      vocabSize: VOCAB,
      budgetSeconds: 600,
      seed: 1,
      nextBatch: markovBatches(VOCAB, TINY_RECIPE.deviceBatchRows, 32, 1),
      peakFlops: null,
      hardTimeoutSeconds: 0.001,
    });
    result.model.dispose();
    assert.match(result.failure ?? "", /hard timeout/);
    assert.equal(result.steps, 1);
  } finally {
    backend.destroy();
  }
});
