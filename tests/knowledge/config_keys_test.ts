/**
 * The config-key vocabulary: old card spellings map to the recipe's dotted camelCase keys, a
 * card's effective config is the same flat map whichever format wrote it, and a diff names the
 * keys that differ.
 */
import assert from "node:assert/strict";
import {
  canonicalChange,
  canonicalKey,
  changeHolds,
  configChange,
  effectiveConfig,
  flattenConfig,
  sameValue,
} from "../../src/knowledge/config_keys.ts";

Deno.test("canonicalKey: old snake_case spellings map to the recipe's keys", () => {
  assert.equal(canonicalKey("total_batch_tokens"), "totalBatchTokens");
  assert.equal(canonicalKey("device_batch_rows"), "deviceBatchRows");
  assert.equal(canonicalKey("warmup_steps"), "warmupSteps");
  assert.equal(canonicalKey("optim.matrix_lr"), "optim.matrixLr");
  assert.equal(canonicalKey("recipe"), "name");
  for (const key of ["model.width", "optim.warmdownRatio", "totalBatchTokens"]) {
    assert.equal(canonicalKey(key), key);
  }
});

Deno.test("effectiveConfig: the old card layout and the nested Recipe give one flat map", () => {
  const old = {
    config: {
      recipe: "gpt-d4-cpu",
      model: { depth: 4, width: 256, headDim: 64, vocabSize: 4096 },
      optim: { matrixLr: 0.04, adamBetas: [0.8, 0.95] },
      total_batch_tokens: 2048,
      device_batch_rows: 8,
      warmup_steps: 1,
    },
  };
  const recipe = {
    config: {
      name: "gpt-d4-cpu",
      model: { depth: 4, width: 256, headDim: 64 },
      optim: { matrixLr: 0.04, adamBetas: [0.8, 0.95] },
      totalBatchTokens: 2048,
      deviceBatchRows: 8,
      warmupSteps: 1,
    },
  };
  const a = effectiveConfig(old);
  const b = effectiveConfig(recipe);
  assert.equal(a.totalBatchTokens, 2048);
  assert.equal(a["optim.matrixLr"], 0.04);
  assert.deepEqual(a["optim.adamBetas"], [0.8, 0.95]);
  assert.equal(a.name, "gpt-d4-cpu");
  // Same recipe in both formats: no key differs (extra keys of one format are not a difference).
  assert.deepEqual(configChange(a, b), []);
  assert.deepEqual(configChange(old.config, { ...recipe.config, totalBatchTokens: 4096 }), [
    { key: "totalBatchTokens", from: 2048, to: 4096 },
  ]);
  assert.deepEqual(effectiveConfig({}), {});
  assert.deepEqual(effectiveConfig({ config: "not an object" }), {});
});

Deno.test("changes: dotted or nested, any spelling, compare equal; numbers within rounding", () => {
  assert.deepEqual(canonicalChange({ optim: { warmdown_ratio: 0.7 } }), {
    "optim.warmdownRatio": 0.7,
  });
  assert.deepEqual(flattenConfig({ "optim.warmdownRatio": 0.7 }), { "optim.warmdownRatio": 0.7 });
  assert.equal(canonicalChange({}), null);
  assert.equal(canonicalChange(null), null);
  assert.ok(sameValue(0.1 * 3, 0.3));
  assert.ok(!sameValue(0.3, 0.31));
  assert.ok(!sameValue(1, "1"));
  const card = effectiveConfig({
    config: { optim: { warmdownRatio: 0.7 }, total_batch_tokens: 8 },
  });
  assert.ok(changeHolds({ "optim.warmdownRatio": 0.7 }, card));
  assert.ok(changeHolds({ totalBatchTokens: 8 }, card));
  assert.ok(!changeHolds({ "optim.warmdownRatio": 0.5 }, card));
  assert.ok(!changeHolds({ "model.depth": 4 }, card));
});
