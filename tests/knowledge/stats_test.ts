/**
 * The statistics of issue 8, one failure at a time: t quantiles and Holm against known values,
 * the standard error of a difference, a recipe that never confirms itself, a noise floor that
 * needs replicates and ignores unstable recipes, gains of means not of best runs, seeds of one
 * idea counted as one idea, replicates that never become new questions, steps drift, seed gaps,
 * revised and disputed judgements, and the judge (library and CLI).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CardInput,
  compareMeans,
  effectiveJudgement,
  holm,
  readBrief,
  synthesize,
  tQuantile,
} from "../../src/knowledge/mod.ts";
import { judgeCard } from "../../src/knowledge/judge.ts";
import { newId } from "../../src/util/ids.ts";
import { baseWith, runCli, sampleInput } from "./helpers.ts";

/** `values` as runs of one recipe (seeds 0..n-1). */
function runs(recipe: string, values: number[], extra: Partial<CardInput> = {}) {
  return values.map((v, seed) => ({
    recipe_hash: recipe,
    seed,
    hypothesis: recipe,
    results: { val_bpb: v },
    ...extra,
  }));
}

Deno.test("t quantiles, Welch's standard error of a difference and Holm's adjustment", () => {
  assert.ok(Math.abs(tQuantile(0.975, 4) - 2.776445) < 1e-5);
  assert.ok(Math.abs(tQuantile(0.975, 30) - 2.042272) < 1e-5);
  assert.ok(Math.abs(tQuantile(0.95, 1e9) - 1.644854) < 1e-5);
  // The spread of a difference of two means, not of one run.
  const c = compareMeans(
    { n: 3, mean: 1.0, variance: 0.0001, df: 10, pooled: true },
    { n: 4, mean: 1.02, variance: 0.0001, df: 10, pooled: true },
  );
  assert.ok(Math.abs(c.se - Math.sqrt(0.0001 / 3 + 0.0001 / 4)) < 1e-15);
  assert.equal(c.df, 10);
  assert.ok(Math.abs(c.gain - 0.02) < 1e-12);
  // Welch-Satterthwaite with two own variances (textbook: v1/n1 = v2/n2 = 1, df 4 each -> 8).
  const w = compareMeans(
    { n: 5, mean: 0, variance: 5, df: 4, pooled: false },
    { n: 5, mean: 1, variance: 5, df: 4, pooled: false },
  );
  assert.ok(Math.abs(w.df - 8) < 1e-12);
  assert.deepEqual(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02]);
});

Deno.test("a rerun of the best recipe that lands lower never confirms itself", async () => {
  const { kb } = await baseWith([
    ...runs("base", [1.0, 1.003, 0.998, 1.001]),
    { recipe_hash: "x", results: { val_bpb: 0.99 }, hypothesis: "x" },
    { recipe_hash: "x", results: { val_bpb: 0.985 }, seed: 1, hypothesis: "rerun of x" },
    { recipe_hash: "base", results: { val_bpb: 0.97 }, seed: 9, hypothesis: "baseline rerun" },
  ]);
  const synthesis = synthesize(await kb.listCards());
  // The lucky baseline rerun joins the baseline's sample; it is no finding of its own.
  assert.equal(synthesis.classes[0].baseline?.n, 5);
  assert.ok(synthesis.findings.every((f) => f.recipe_hash !== "base"));
  const x = synthesis.findings.find((f) => f.recipe_hash === "x")!;
  assert.equal(x.n, 2);
  assert.equal(x.comparison.confirmation_n, 1, "the kept run that prompted the rerun is out");
});

Deno.test("the noise floor needs 3 replicate df, says so, and ignores unstable recipes", async () => {
  const { kb } = await baseWith([
    ...runs("base", [1.0, 1.002]),
    { recipe_hash: "a", results: { val_bpb: 0.999 } },
  ]);
  let synthesis = synthesize(await kb.listCards());
  assert.equal(synthesis.classes[0].noise, null);
  assert.deepEqual(synthesis.classes[0].noise_evidence, { df: 1, needed: 3 });
  assert.match((await readBrief(kb)).text, /noise unknown \(1 replicate df, needs 3\)/);
  // Replicates near the best, plus a diverging recipe far from it with a huge spread.
  for (
    const input of [...runs("base", [0.998, 1.001], { seed: 5 }), ...runs("lr10", [1.4, 1.9, 1.2])]
  ) {
    await kb.writeCard(sampleInput(input));
  }
  synthesis = synthesize(await kb.listCards());
  const noise = synthesis.classes[0].noise!;
  assert.equal(noise.groups, 1);
  assert.equal(noise.unstable, 1);
  assert.ok(noise.sigma < 0.003, `${noise.sigma}`);
});

Deno.test("gains compare means of all runs, never the best run against the best run", async () => {
  const { kb } = await baseWith([
    ...runs("base", [1.0, 1.01, 0.995, 1.005]),
    ...runs("idea", [0.99, 0.985, 0.99]),
  ]);
  const finding = synthesize(await kb.listCards()).findings[0];
  const gain = (1.0 + 1.01 + 0.995 + 1.005) / 4 - (0.99 + 0.985 + 0.99) / 3;
  assert.ok(Math.abs(finding.gain - gain) < 1e-12, `${finding.gain} vs ${gain}`);
});

Deno.test("the seeds of one idea are one idea: coverage, dead ends and questions count ideas", async () => {
  const { kb } = await baseWith([
    ...runs("base", [1.0, 1.002, 0.999, 1.001]),
    ...runs("adam", [1.05, 1.052], { tags: ["optimizer"], status: "discard" }),
    ...runs("sgd", [1.06, 1.058], { tags: ["optimizer"], status: "discard" }),
    ...runs("unclear", [1.0, 1.001, 0.999], { tags: ["other"], status: "inconclusive" }),
  ]);
  const synthesis = synthesize(await kb.listCards());
  const optimizer = synthesis.coverage.find((row) => row.category === "optimizer")!;
  assert.equal(optimizer.experiments, 4);
  assert.equal(optimizer.ideas, 2);
  assert.equal(optimizer.dead_ends, 2);
  assert.equal(synthesis.deadEnds.length, 2);
  // Replicates judged inconclusive are one question at most, never one each, nor a saturated
  // "other".
  assert.ok(synthesis.openQuestions.filter((q) => /unclear/.test(q)).length <= 1);
  assert.notEqual(synthesis.coverage.find((row) => row.category === "other")!.state, "saturated");
});

Deno.test("a run with far fewer steps than its replicates is flagged; seed gaps are shown", async () => {
  const { kb, cards } = await baseWith([
    { seed: 0, results: { val_bpb: 1.0, num_steps: 90 } },
    { seed: 1, results: { val_bpb: 1.01, num_steps: 88 } },
    { seed: 4, results: { val_bpb: 1.02, num_steps: 51 } },
  ]);
  const synthesis = synthesize(await kb.listCards());
  assert.deepEqual(synthesis.stepsDrift.map((d) => [d.id, d.steps, d.typical]), [
    [cards[2].id, 51, 89],
  ]);
  assert.deepEqual(synthesis.classes[0].best?.seed_gaps, [2, 3]);
  const { text } = await readBrief(kb);
  assert.match(text, new RegExp(`${cards[2].id} 51 steps vs 89`));
  assert.match(text, /seeds missing: 2,3/);
});

Deno.test("a judgement is revised by a superseding record; two independent ones are disputed", async () => {
  const { kb, cards } = await baseWith([{ status: "pending", results: { val_bpb: 0.99 } }]);
  const id = cards[0].id;
  const first = await kb.completeCard(id, { status: "keep", agent: "a" });
  const second = await kb.completeCard(id, {
    status: "discard",
    agent: "a",
    reason: "replicates show no gain",
  });
  assert.deepEqual(second.supersedes, [first.id]);
  assert.equal((await kb.listCards())[0].status, "discard");
  assert.equal(kb.getCard(id).disputed, false);
  // Another machine judged the same card without seeing ours: the card is disputed.
  const other = {
    schema: 1,
    id: newId("done"),
    card_id: id,
    timestamp: new Date().toISOString(),
    agent: "b",
    status: "keep",
  };
  await Deno.writeTextFile(
    join(kb.dir, "completions", `${id}.${other.id}.json`),
    JSON.stringify(other),
  );
  const [summary] = await kb.listCards();
  assert.equal(summary.disputed, true);
  assert.equal(summary.status, "discard", "the earliest competing judgement stands");
  assert.match(
    (await readBrief(kb)).text,
    new RegExp(`disputed judgements[^\\n]*\\n  ${id} \\[discard\\]`),
  );
  // A revision resolves the dispute: it supersedes every judgement in effect.
  const resolved = await kb.completeCard(id, { status: "keep", agent: "c", reason: "settled" });
  assert.deepEqual(resolved.supersedes?.sort(), [second.id, other.id].sort());
  assert.equal((await kb.listCards())[0].disputed, false);
  assert.equal((await kb.listCards())[0].status, "keep");
});

Deno.test("the judge: replicate a lucky run, keep a confirmed idea, discard a dead end", async () => {
  const { kb, cards } = await baseWith([
    ...runs("base", [1.0, 1.004, 0.997, 1.002]),
    { recipe_hash: "lucky", results: { val_bpb: 0.995 }, hypothesis: "lucky", status: "pending" },
    ...runs("real", [0.95, 0.952, 0.949]),
    ...runs("bad", [1.05, 1.06], { status: "pending" }),
  ]);
  const lucky = await judgeCard(kb, cards[4].id);
  assert.equal(lucky.verdict, "replicate");
  assert.equal(lucky.status, "keep");
  assert.equal(lucky.estimate?.provisional, true);
  const real = await judgeCard(kb, cards[6].id);
  assert.equal(real.verdict, "keep");
  assert.ok(real.confirmed && real.comparison!.p_adjusted! <= 0.05);
  const bad = await judgeCard(kb, cards[8].id);
  assert.equal(bad.verdict, "discard");
  assert.equal(bad.dead_end, true);
  assert.equal((await judgeCard(kb, cards[0].id)).verdict, "keep", "the baseline anchors");

  const text = await runCli(["judge", cards[4].id, "--kb", kb.dir]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /: replicate\n {2}why: .*gain 0\.00\d+/);
  const json = JSON.parse((await runCli(["judge", cards[8].id, "--kb", kb.dir, "--json"])).stdout);
  assert.equal(json.verdict, "discard");
  assert.ok(json.comparison.gain < 0);
  const stored = await runCli([
    "write-card",
    "--complete",
    cards[4].id,
    "--from-judge",
    "--kb",
    kb.dir,
  ]);
  assert.equal(stored.code, 0, stored.stderr);
  const detail = kb.getCard(cards[4].id);
  assert.equal(detail.completion?.status, "keep");
  assert.equal(detail.completion?.verdict, "replicate");
  // Replicates arrive; judging again from the judge revises the verdict, saying why.
  for (const value of [0.994, 0.996, 0.993]) {
    await kb.writeCard(
      sampleInput({
        recipe_hash: "lucky",
        seed: Math.round(value * 1000),
        results: { val_bpb: value },
      }),
    );
  }
  const again = await runCli([
    "write-card",
    "--complete",
    cards[4].id,
    "--from-judge",
    "--kb",
    kb.dir,
  ]);
  assert.equal(again.code, 0, again.stderr);
  const revised = kb.getCard(cards[4].id);
  assert.deepEqual(revised.completion?.supersedes, [detail.completion!.id]);
  assert.match(revised.completion?.reason ?? "", /^judge: /);
  const both = await runCli([
    "write-card",
    "--complete",
    cards[8].id,
    "--from-judge",
    "--status",
    "keep",
    "--kb",
    kb.dir,
  ]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^error: --from-judge: give --status or --from-judge, not both/);
  const unknown = await runCli(["judge", "card_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "--kb", kb.dir]);
  assert.equal(unknown.code, 2);
});

Deno.test("judgements in effect: heads of the supersedes chain; a hostile cycle leaves the earliest", () => {
  const a = { id: "done_A", supersedes: [] as string[] };
  const b = { id: "done_B", supersedes: ["done_A"] };
  const c = { id: "done_C", supersedes: ["done_A", "done_C"] };
  assert.equal(effectiveJudgement([])?.head, undefined);
  assert.deepEqual(effectiveJudgement([a, b]), { head: b, disputed: false, heads: [b] });
  assert.deepEqual(effectiveJudgement([a, b, c])?.heads, [b, c], "two revisions compete");
  const x = { id: "done_X", supersedes: ["done_Y"] };
  const y = { id: "done_Y", supersedes: ["done_X"] };
  assert.deepEqual(effectiveJudgement([x, y]), { head: x, disputed: true, heads: [x] });
});
