/**
 * The seven failures an all-night trial of the director and queue ran into (issue "A director
 * and a queue that an agent can run all night"), each as a regression test through the real CLI.
 */
import assert from "node:assert/strict";
import { cli, cliJson, recipeConfig, tempKb, writeCard } from "./helpers.ts";

const WARMDOWN = "Lengthen the LR warmdown from 0.5 to 0.7 of the budget";

function add(kb: string, ...extra: string[]) {
  return cli(["director", "add", "--kb", kb, ...extra]);
}

Deno.test("1. dedup fires with --config: a discarded card with that exact change blocks it", async () => {
  const kb = await tempKb();
  const baseline = await writeCard(kb, {
    hypothesis: "baseline",
    tags: ["baseline"],
    valBpb: 2.2,
    recipeHash: "base",
  });
  const tried = await writeCard(kb, {
    hypothesis: WARMDOWN,
    tags: ["schedule"],
    status: "discard",
    valBpb: 2.21,
    config: recipeConfig({ "optim.warmdownRatio": 0.7 }),
    priorCards: [baseline.id],
  });
  for (const hypothesis of [WARMDOWN, "a longer cooldown"]) {
    const result = await add(
      kb,
      "--category",
      "schedule",
      "--hypothesis",
      hypothesis,
      "--config",
      '{"optim.warmdownRatio": 0.7}',
    );
    assert.equal(result.code, 2, result.stdout);
    assert.match(result.stderr, new RegExp(`^error: hypothesis: duplicates card ${tried.id} `));
  }
  // The nested spelling of the same change is the same change.
  const nested = await add(
    kb,
    "--category",
    "schedule",
    "--hypothesis",
    "x",
    "--config",
    '{"optim": {"warmdownRatio": 0.7}}',
  );
  assert.equal(nested.code, 2);
  // A change the base already has is no experiment.
  const noop = await add(
    kb,
    "--category",
    "schedule",
    "--hypothesis",
    "keep the warmdown",
    "--config",
    '{"optim.warmdownRatio": 0.5}',
  );
  assert.equal(noop.code, 2);
  assert.match(noop.stderr, new RegExp(`^error: config: no change: the base ${baseline.id}`));
  // Another value is another experiment, recorded with its base.
  const other = await cliJson<{ item: { config: unknown; base: unknown } }>([
    "director",
    "add",
    "--kb",
    kb,
    "--category",
    "schedule",
    "--hypothesis",
    "Lengthen the LR warmdown to 0.9",
    "--config",
    '{"optim.warmdownRatio": 0.9}',
  ]);
  assert.deepEqual(other.item.config, { "optim.warmdownRatio": 0.9 });
  assert.deepEqual(other.item.base, { card: baseline.id, recipe_hash: "base" });
});

Deno.test("2. one key vocabulary: old card spellings match, unknown keys and invalid recipes refused", async () => {
  const kb = await tempKb();
  // A card in the old layout (snake_case batch keys).
  const old = await writeCard(kb, {
    hypothesis: "Halve the batch",
    tags: ["batch_size"],
    status: "discard",
    config: {
      recipe: "gpt-d4-cpu",
      model: { depth: 4, width: 256, headDim: 64, seqLen: 256 },
      optim: { matrixLr: 0.04 },
      total_batch_tokens: 8192,
      device_batch_rows: 16,
    },
  });
  let result = await add(
    kb,
    "--category",
    "batch_size",
    "--hypothesis",
    "fewer tokens per step",
    "--config",
    '{"totalBatchTokens": 8192}',
  );
  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`duplicates card ${old.id}`));

  result = await add(
    kb,
    "--category",
    "learning_rate",
    "--hypothesis",
    "raise LR",
    "--config",
    '{"optim.matrixLR":0.06,"bogus.key":1}',
  );
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^error: config\.optim\.matrixLR: not a recipe key.*optim\.matrixLr/,
  );
  result = await add(kb, "--category", "other", "--hypothesis", "x", "--config", '{"bogus.key":1}');
  assert.match(result.stderr, /^error: config\.bogus\.key: not a recipe key/);
  result = await add(
    kb,
    "--category",
    "architecture",
    "--hypothesis",
    "narrow the model to 32",
    "--config",
    '{"model.width": 32}',
  );
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^error: config\.model\.width: must be a positive multiple of model\.headDim/,
  );
  result = await add(
    kb,
    "--category",
    "learning_rate",
    "--hypothesis",
    "lr",
    "--config",
    '{"optim.matrixLr": "fast"}',
  );
  assert.match(result.stderr, /^error: config\.optim\.matrixLr: /);
  const status = await cliJson<{ counts: { total: number } }>(["director", "status", "--kb", kb]);
  assert.equal(status.counts.total, 0, "nothing was written");
});
