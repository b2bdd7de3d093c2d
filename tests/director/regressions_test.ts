/**
 * The seven failures an all-night trial of the director and queue ran into (issue "A director
 * and a queue that an agent can run all night"), each as a regression test through the real CLI.
 */
import assert from "node:assert/strict";
import { addItem, dropItem, planExperiments } from "../../src/director/mod.ts";
import type { Card } from "../../src/knowledge/schema.ts";
import { recipeValidator } from "../../src/cli/recipe_check.ts";
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

/** Runs of one recipe, `values` in order, as kept cards (seeds 0, 1, ...). */
async function runs(
  kb: string,
  hypothesis: string,
  tags: string[],
  recipeHash: string,
  config: Record<string, unknown>,
  values: number[],
  extra: { priorCards?: string[]; numSteps?: number } = {},
) {
  const cards: Card[] = [];
  for (const [seed, valBpb] of values.entries()) {
    cards.push(
      await writeCard(kb, {
        hypothesis,
        tags,
        valBpb,
        recipeHash,
        config,
        seed,
        priorCards: extra.priorCards ?? (cards.length ? [cards[cards.length - 1].id] : []),
        numSteps: extra.numSteps,
      }),
    );
  }
  return cards;
}

Deno.test("3. the planner never re-proposes what was run or queued; questions kept whole and closed when answered", async () => {
  const kb = await tempKb();
  const [base] = await runs(kb, "baseline", ["other"], "b0", recipeConfig(), [
    1.1,
    1.102,
    1.098,
    1.101,
  ]);
  // An embeddingLr change from the baseline, run twice (discarded).
  for (const seed of [7, 8]) {
    await writeCard(kb, {
      hypothesis: "Raise the embedding LR",
      tags: ["learning_rate"],
      status: "discard",
      valBpb: 1.104,
      recipeHash: "emb09",
      seed,
      priorCards: [base.id],
      config: recipeConfig({ "optim.embeddingLr": 0.9 }),
    });
  }
  // A better single run: an unconfirmed best, so the plan holds a replicate of it.
  await writeCard(kb, {
    hypothesis: "Raise matrix LR to 0.05",
    tags: ["learning_rate"],
    valBpb: 1.09,
    recipeHash: "lr05",
    seed: 9,
    priorCards: [base.id],
    config: recipeConfig({ "optim.matrixLr": 0.05 }),
  });
  // A lesson whose question has an abbreviation with a full stop before its "?".
  const asker = await writeCard(kb, {
    hypothesis: "Halve weight decay",
    tags: ["regularization"],
    status: "discard",
    valBpb: 1.103,
    recipeHash: "wd01",
    priorCards: [base.id],
    config: recipeConfig({ "optim.weightDecay": 0.1 }),
    lesson: "Is a higher matrix LR better (vs. 0.04) at this budget? Worth a look.",
  });
  const answered = await writeCard(kb, {
    hypothesis: "Narrower model",
    tags: ["architecture"],
    status: "discard",
    valBpb: 1.105,
    recipeHash: "w192",
    priorCards: [base.id],
    config: recipeConfig({ "model.width": 192 }),
    lesson: "Would a width of 128 help?",
  });
  await writeCard(kb, {
    hypothesis: "width 128",
    tags: ["architecture"],
    status: "discard",
    valBpb: 1.11,
    recipeHash: "w128",
    priorCards: [base.id],
    config: recipeConfig({ "model.width": 128 }),
  });
  const plan = await cliJson<{ suggestions: { hypothesis: string; config: unknown }[] }>(
    ["director", "plan", "--kb", kb, "--limit", "100"],
  );
  const configs = plan.suggestions.map((s) => JSON.stringify(s.config));
  assert.ok(!configs.includes('{"optim.embeddingLr":0.9}'), "a change run twice is proposed");
  assert.ok(!configs.includes('{"optim.weightDecay":0.1}'));
  const question = plan.suggestions.find((s) => s.hypothesis.includes(asker.id));
  assert.match(
    question!.hypothesis,
    /Is a higher matrix LR better \(vs\. 0\.04\) at this budget\?/,
  );
  assert.ok(
    !plan.suggestions.some((s) => s.hypothesis.includes(answered.id)),
    "a question a later card answered is still proposed",
  );
  // Enqueue them: a second plan proposes nothing that is queued (replicates included).
  const first = await cliJson<
    { suggestions: { config: unknown; seeds: unknown; base: unknown }[] }
  >(
    ["director", "plan", "--kb", kb, "--enqueue", "--limit", "100"],
  );
  const key = (s: { config: unknown; seeds: unknown; base: unknown }) =>
    JSON.stringify([s.config, s.config === null ? s.base : null]);
  const queued = new Set(first.suggestions.map(key));
  assert.ok(first.suggestions.some((s) => s.seeds !== null), "a replicate was queued");
  const again = await cliJson<
    { suggestions: { config: unknown; seeds: unknown; base: unknown }[] }
  >(
    ["director", "plan", "--kb", kb, "--limit", "100"],
  );
  for (const s of again.suggestions) assert.ok(!queued.has(key(s)), `re-proposed ${key(s)}`);
});

Deno.test("4. the planner knows the budget and extends a confirmed win whose priors are seed twins", async () => {
  const kb = await tempKb();
  // Runs of 30 steps; the momentum ramp is 300 steps.
  const config = recipeConfig();
  (config.optim as Record<string, unknown>).muonMomentumRampSteps = 300;
  (config.optim as Record<string, unknown>).muonMomentumEnd = 0.95;
  const baseline = await runs(kb, "baseline", ["other"], "b0", config, [
    1.1,
    1.102,
    1.098,
    1.101,
  ], { numSteps: 30 });
  // A clear win (lr 0.06), each seed naming its twin as prior: confirmed against the baseline.
  const lr = structuredClone(config);
  (lr.optim as Record<string, unknown>).matrixLr = 0.06;
  const wins = await runs(kb, "Raise matrix LR to 0.06", ["learning_rate"], "lr06", lr, [
    1.05,
    1.052,
    1.048,
    1.051,
  ], { numSteps: 30, priorCards: [baseline[0].id] });
  const result = await planExperiments({ kb, limit: 100, validateChange: recipeValidator() });
  assert.equal(result.stepsPerRun, 30);
  const next = result.suggestions.find((s) =>
    JSON.stringify(s.config) === '{"optim.matrixLr":0.09}'
  );
  assert.ok(next, "no step along the confirmed direction");
  assert.equal(next.base?.card, wins[0].id);
  for (const s of result.suggestions) {
    const change = (s.config ?? {}) as Record<string, unknown>;
    assert.ok(!("optim.muonMomentumEnd" in change), `no-op for 30 steps: ${s.hypothesis}`);
    const depth = change["model.depth"];
    assert.ok(typeof depth !== "number" || depth <= 5, `starves a 30-step run: ${s.hypothesis}`);
  }
});

Deno.test("5. items carry their base; claiming one whose base moved says what changed", async () => {
  const kb = await tempKb();
  const [base] = await runs(kb, "baseline", ["other"], "b0", recipeConfig(), [1.1]);
  const added = await cliJson<{ item: { id: string; base: { card: string } } }>([
    "director",
    "add",
    "--kb",
    kb,
    "--hypothesis",
    "Lengthen the warmdown to 0.7",
    "--category",
    "schedule",
    "--config",
    '{"optim.warmdownRatio": 0.7}',
  ]);
  assert.equal(added.item.base.card, base.id);
  const deeper = await writeCard(kb, {
    hypothesis: "Increase depth to 6",
    tags: ["architecture"],
    valBpb: 1.05,
    recipeHash: "d6",
    priorCards: [base.id],
    config: recipeConfig({ "model.depth": 6 }),
  });
  const claim = await cli(["director", "claim", added.item.id, "--kb", kb, "--agent", "w1"]);
  assert.equal(claim.code, 0, claim.stderr);
  assert.match(claim.stdout, new RegExp(`base: ${base.id}, recipe b0`));
  assert.match(
    claim.stdout,
    new RegExp(`base moved: .*${base.id}.*best is now ${deeper.id}.*model\\.depth 4 -> 6`),
  );
});

Deno.test("6. queue mechanics: claim ITEM, one claim per agent, several seeds, adopting a self-chosen run", async () => {
  const kb = await tempKb();
  const [base] = await runs(kb, "baseline", ["other"], "b0", recipeConfig(), [1.1]);
  const add = async (hypothesis: string, config: string) =>
    (await cliJson<{ item: { id: string } }>([
      "director",
      "add",
      "--kb",
      kb,
      "--hypothesis",
      hypothesis,
      "--category",
      "learning_rate",
      "--config",
      config,
    ])).item.id;
  const a = await add("matrix LR 0.06", '{"optim.matrixLr": 0.06}');
  const b = await add("matrix LR 0.03", '{"optim.matrixLr": 0.03}');
  const c = await add("embedding LR 0.9", '{"optim.embeddingLr": 0.9}');
  // A specific item, not the best pending one.
  const claimed = await cliJson<{ claimed: { id: string } }>(
    ["director", "claim", b, "--kb", kb, "--agent", "w1"],
  );
  assert.equal(claimed.claimed.id, b);
  // One active claim per agent unless asked.
  const second = await cli(["director", "claim", "--kb", kb, "--agent", "w1"]);
  assert.equal(second.code, 2);
  assert.match(
    second.stderr,
    new RegExp(`^error: agent: w1 already holds ${b} .*--allow-multiple`),
  );
  const taken = await cli(["director", "claim", b, "--kb", kb, "--agent", "w2"]);
  assert.match(taken.stderr, new RegExp(`^error: id: cannot claim ${b}: it is in progress by w1`));
  assert.equal(
    (await cli(["director", "claim", "--kb", kb, "--agent", "w1", "--allow-multiple"])).code,
    0,
  );
  assert.ok(a.startsWith("item_")); // claimed by w1's second claim
  // Several seeds complete one item.
  const seeds = await runs(
    kb,
    "matrix LR 0.03",
    ["learning_rate"],
    "lr03",
    recipeConfig({ "optim.matrixLr": 0.03 }),
    [1.12, 1.13],
    { priorCards: [base.id] },
  );
  const done = await cliJson<{ cards: string[] }>(
    ["director", "complete", b, "--card", seeds[0].id, "--card", seeds[1].id, "--kb", kb],
  );
  assert.deepEqual(done.cards, seeds.map((s) => s.id));
  // A run chosen on its own that did item c completes it (adopted); one that did not, does not.
  const own = await writeCard(kb, {
    hypothesis: "my own idea: embedding LR 0.9",
    tags: ["learning_rate"],
    valBpb: 1.09,
    recipeHash: "emb09",
    priorCards: [base.id],
    config: recipeConfig({ "optim.embeddingLr": 0.9 }),
  });
  const wrong = await cli([
    "director",
    "complete",
    c,
    "--card",
    seeds[0].id,
    "--kb",
    kb,
    "--agent",
    "w3",
  ]);
  assert.equal(wrong.code, 2);
  assert.match(
    wrong.stderr,
    /^error: id: cannot complete .* it is pending, and card .* does not run/,
  );
  const adopted = await cliJson<{ status: string; adopted: boolean; claim: { agent: string } }>(
    ["director", "complete", c, "--card", own.id, "--kb", kb, "--agent", "w3"],
  );
  assert.equal(adopted.status, "completed");
  assert.equal(adopted.adopted, true);
  assert.equal(adopted.claim.agent, "w3");
});

Deno.test("7. seeing results: val_bpb and verdict per done item, drops do not hide them, rates", async () => {
  const kb = await tempKb();
  await runs(kb, "baseline", ["other"], "b0", recipeConfig(), [1.1]);
  // Setup through the library (fast); what is checked goes through the CLI.
  const ids: string[] = [];
  for (let i = 0; i < 14; i++) {
    const added = await addItem({ kb, force: true }, {
      hypothesis: `idea number ${i} about gates`,
      category: "initialization",
      priority: 3,
    });
    ids.push(added.item!.id);
  }
  const result = await writeCard(kb, {
    hypothesis: "idea 0",
    tags: ["initialization"],
    status: "discard",
    valBpb: 1.2345,
  });
  await cliJson(["director", "claim", ids[0], "--kb", kb, "--agent", "w1"]);
  await cliJson(["director", "complete", ids[0], "--card", result.id, "--kb", kb]);
  for (const id of ids.slice(1, 13)) await dropItem({ kb }, id, "not worth it");
  const status = await cli(["director", "status", "--kb", kb]);
  assert.match(
    status.stdout,
    new RegExp(`${ids[0]} .*\\| val_bpb 1\\.2345, discard -> ${result.id}`),
  );
  assert.match(status.stdout, /dropped \(latest 5\):/);
  assert.match(status.stdout, /throughput: \d+\.\d items\/hour \(1 in the last hour\); 1 pending/);
  await cliJson(["director", "drop", ids[13], "--kb", kb, "--reason", "not worth it"]);
  const dry = await cli(["director", "status", "--kb", kb]);
  assert.match(dry.stdout, /queue EMPTY since \S+ \(just now\)/);
  const json = await cliJson<
    { rates: { emptySince: string | null }; items: { result: unknown }[] }
  >(
    ["director", "status", "--kb", kb],
  );
  assert.notEqual(json.rates.emptySince, null);
  const doc = await Deno.readTextFile(new URL("../../docs/director.md", import.meta.url));
  for (
    const command of ["list-cards", "show-card", "read-meta", "director status", "--keep-full"]
  ) {
    assert.ok(doc.includes(command), `docs/director.md does not mention ${command}`);
  }
});
