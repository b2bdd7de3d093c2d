/**
 * A run's recipe and what its card records (in process, synthetic data, real files): a recipe
 * that does not load, or throws, is a crash card carrying the error in one line; a non-finite
 * val_bpb is a failed run (crash card, val_bpb null); a healthy run records the effective
 * recipe as `config`, the fixed evaluation (`eval`), the load average, its group, item and
 * dirty state; the recipe hash follows the recipe's text and values, the harness hash does not;
 * every engine and kernel source is covered by the harness hash.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { newId } from "../../src/util/ids.ts";
import { runExperiment, type RunOptions } from "../../src/train/run.ts";
import { HARNESS_HASH_EXCLUDED, HARNESS_SOURCES } from "../../src/train/harness_sources.ts";
import { REFERENCE_RECIPE_TEXT, syntheticTrainingData, TINY_RECIPE } from "./model_helpers.ts";

// deno-lint-ignore no-explicit-any
type AnyCard = Record<string, any>;

function onlyCard(kb: string): AnyCard {
  const files = [...Deno.readDirSync(join(kb, "cards"))].map((e) => e.name);
  assert.equal(files.length, 1, `one card, got ${files}`);
  return JSON.parse(Deno.readTextFileSync(join(kb, "cards", files[0])));
}

/** One run in a fresh directory; returns the report and its card. */
async function run(options: Partial<RunOptions>) {
  const dir = await Deno.makeTempDir({ prefix: "run-recipe-" });
  try {
    const report = await runExperiment({
      data: syntheticTrainingData(200, 80),
      backend: "cpu",
      budgetSeconds: 0.5,
      seed: 5,
      evalTokens: 2048,
      kb: join(dir, "kb"),
      agent: "tester",
      session: "s1",
      hypothesis: "recipe test",
      checkpointDir: join(dir, "ckpt"),
      onProgressLine: () => {},
      log: () => {},
      ...options,
    });
    return { report, card: onlyCard(join(dir, "kb")) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A minimal recipe whose optimizer step writes NaN into every weight (eval then scores NaN). */
const NAN_AFTER_STEP = `
import { linear, crossEntropy, embedding, Parameter, type Backend } from "autoresearch/recipe";
export function hyperparameters() {
  return { model: { seqLen: 8, width: 8 }, totalBatchTokens: 16, deviceBatchRows: 2, warmupSteps: 0 };
}
export function buildModel(backend: Backend, r: any, ctx: { vocabSize: number }) {
  const n = ctx.vocabSize * r.model.width;
  const wte = new Parameter(backend, [ctx.vocabSize, r.model.width], new Float32Array(n).fill(0.01), { name: "wte" });
  return {
    params: [wte],
    forward: (_t: unknown, ids: any, targets: any) => crossEntropy(linear(embedding(wte, ids), wte), targets),
    dispose: () => wte.dispose(),
  };
}
export function buildOptimizer(model: { params: Parameter[] }) {
  return {
    step: () => model.params[0].set(new Float32Array(model.params[0].size).fill(NaN)),
    dispose: () => {},
  };
}
export function flopsPerToken(): number { return 1; }
`;

Deno.test("run: a non-finite val_bpb is a failed run: crash card, val_bpb null", async () => {
  const { report, card } = await run({
    recipe: { source: NAN_AFTER_STEP, path: "nan_recipe.ts" },
    budgetSeconds: 0.001,
  });
  assert.equal(report.status, "fail");
  assert.equal(report.val_bpb, null);
  assert.match(report.failure ?? "", /val_bpb is NaN/);
  assert.equal(card.status, "crash");
  assert.equal(card.results.val_bpb, null);
  assert.match(card.error, /val_bpb is NaN/);
  assert.equal(report.card_id, card.id);
});

Deno.test("run: a recipe that does not load or throws is a crash card carrying the error", async () => {
  const broken = await run({ recipe: { source: "export const = 1;", path: "broken.ts" } });
  assert.equal(broken.report.status, "fail");
  assert.equal(broken.card.status, "crash");
  assert.match(broken.card.error, /^broken\.ts: does not parse/);
  assert.ok(!broken.card.error.includes("\n"));
  assert.deepEqual(broken.card.config, {});
  assert.match(broken.card.recipe_hash, /^[0-9a-f]{64}$/);

  const throwing = NAN_AFTER_STEP.replace(
    "const n = ctx.vocabSize",
    "if (r.model.width > 4) throw new RangeError('width too large for this test');\n  const n = ctx.vocabSize",
  );
  const thrown = await run({ recipe: { source: throwing, path: "throws.ts" } });
  assert.equal(thrown.card.status, "crash");
  assert.match(thrown.card.error, /^throws\.ts: buildModel threw: RangeError: width too large/);
  assert.equal(thrown.card.config.model.width, 8, "the values that were tried are recorded");
});

Deno.test("run: the card records the effective recipe, the fixed eval, load, group, item, dirty", async () => {
  const group = newId("grp"), item = newId("item");
  const base = await run({
    recipe: REFERENCE_RECIPE_TEXT,
    configOverride: TINY_RECIPE,
    group,
    item,
    dirty: true,
    recipeDiff: "--- a/recipe.ts\n+++ b/recipe.ts\n-x\n+y\n",
  });
  const { report, card } = base;
  assert.equal(report.status, "ok", report.failure ?? "");
  assert.deepEqual(card.config, JSON.parse(JSON.stringify(TINY_RECIPE)));
  assert.equal(card.config.name, undefined, "no hand-kept name");
  assert.equal(report.recipe, "gpt-d2-w64-s32-b256");
  assert.deepEqual(card.eval, { tokens: 2048, seq_len: 256 });
  assert.equal(typeof card.results.load_avg, "number");
  assert.ok(card.results.num_steps >= 1);
  assert.equal(card.group, group);
  assert.equal(card.item, item);
  assert.equal(card.dirty, true);
  assert.match(card.recipe_diff, /\+y/);

  // Another seqLen: another recipe hash, the same fixed evaluation and harness hash.
  const longer = await run({
    recipe: REFERENCE_RECIPE_TEXT,
    configOverride: TINY_RECIPE,
    configChange: { "model.seqLen": 64 },
  });
  assert.equal(longer.card.config.model.seqLen, 64);
  assert.deepEqual(longer.card.eval, card.eval);
  assert.equal(longer.card.harness_hash, card.harness_hash);
  assert.notEqual(longer.card.recipe_hash, card.recipe_hash);
  assert.equal(longer.card.dirty, undefined);
  assert.equal(longer.card.group, undefined);

  // The same values from an edited text: another recipe hash.
  const edited = await run({
    recipe: { ...REFERENCE_RECIPE_TEXT, source: `${REFERENCE_RECIPE_TEXT.source}\n// edit\n` },
    configOverride: TINY_RECIPE,
  });
  assert.notEqual(edited.card.recipe_hash, card.recipe_hash);
  assert.equal(edited.card.harness_hash, card.harness_hash);
});

Deno.test("harness hash: every engine source and WGSL kernel is covered, as on disk", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const onDisk: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else if (/\.(ts|wgsl)$/.test(entry.name)) onDisk.push(relative(root, path));
    }
  };
  walk(join(root, "src/engine"));
  walk(join(root, "kernels"));
  for (const file of onDisk) {
    assert.ok(
      file in HARNESS_SOURCES || HARNESS_HASH_EXCLUDED.includes(file),
      `${file} is neither hashed nor named as left out (src/train/harness_sources.ts)`,
    );
  }
  for (const [file, text] of Object.entries(HARNESS_SOURCES)) {
    assert.equal(text, await Deno.readTextFile(join(root, file)), `${file} embedded as on disk`);
  }
  for (const file of ["src/engine/ops.ts", "src/engine/optim.ts", "kernels/matmul.wgsl"]) {
    assert.ok(file in HARNESS_SOURCES, file);
  }
});
