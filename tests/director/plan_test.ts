/**
 * The planner: concrete hypotheses from each source (baseline on an empty base, the next step
 * along a change that helped, replicates of single results, open questions, unexplored
 * categories), every one explained by its cards, never a recorded dead end, never a repeat of
 * the queue; `--enqueue` adds them once.
 */
import assert from "node:assert/strict";
import { planExperiments, type Suggestion } from "../../src/director/mod.ts";
import { cli, cliJson, recipeConfig, tempKb, writeCard } from "./helpers.ts";

async function plan(kb: string, limit = 30): Promise<Suggestion[]> {
  return (await planExperiments({ kb, limit })).suggestions;
}

Deno.test("an empty base gets the baseline run first, then one concrete idea per category", async () => {
  const kb = await tempKb();
  const suggestions = await plan(kb);
  assert.equal(suggestions[0].source, "baseline");
  const categories = suggestions.filter((s) => s.source === "unexplored").map((s) => s.category);
  assert.ok(categories.includes("architecture") && categories.includes("learning_rate"));
  assert.ok(!categories.includes("other"));
  assert.equal(new Set(categories).size, categories.length);
});

Deno.test("neighbourhood of the best: the next step along the change that helped, with its cards", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, { hypothesis: "baseline", tags: ["other"], valBpb: 1.1 });
  const best = await writeCard(kb, {
    hypothesis: "Raise the matrix learning rate to 0.06 and depth to 5",
    tags: ["learning_rate"],
    valBpb: 1.05,
    delta: -0.05,
    priorCards: [base.id],
    config: recipeConfig({ "optim.matrixLr": 0.06, "model.depth": 5 }),
  });
  const suggestions = await plan(kb);
  const steps = suggestions.filter((s) => s.source === "neighbourhood");
  assert.deepEqual(steps.map((s) => s.config), [{ "model.depth": 6 }, { "optim.matrixLr": 0.09 }]);
  assert.deepEqual(steps.map((s) => s.category), ["architecture", "learning_rate"]);
  for (const step of steps) {
    assert.deepEqual(step.priorCards, [best.id, base.id]);
    assert.match(step.rationale, new RegExp(`${best.id}.*${base.id}`));
    assert.equal(step.priority, 1);
  }
  assert.match(steps[1].hypothesis, /Raise optim\.matrixLr from 0\.06 to 0\.09/);
  // Unexplored ideas use the best config's values: concrete numbers, not templates.
  const batch = suggestions.find((s) => s.category === "batch_size");
  assert.deepEqual(batch?.config, { totalBatchTokens: 8192 });
  assert.match(batch!.hypothesis, /16384 to 8192/);
  assert.deepEqual(batch?.priorCards, [best.id]);
  // The single improvement needs a replicate, explained by its card.
  const replicate = suggestions.find((s) => s.source === "replicate");
  assert.deepEqual(replicate?.priorCards, [best.id]);
  assert.match(replicate!.hypothesis, /seed 1/);
  // Ordered by priority.
  const priorities = suggestions.map((s) => s.priority);
  assert.deepEqual(priorities, [...priorities].sort((a, b) => a - b));
});

Deno.test("never a recorded dead end: a step already tried from the best, a dead-end tag", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, { hypothesis: "baseline", tags: ["other"], valBpb: 1.1 });
  const best = await writeCard(kb, {
    hypothesis: "Raise the matrix learning rate to 0.06",
    tags: ["learning_rate"],
    valBpb: 1.05,
    priorCards: [base.id],
    config: recipeConfig({ "optim.matrixLr": 0.06 }),
  });
  // Going further was tried and discarded: recorded dead end.
  await writeCard(kb, {
    hypothesis: "Raise the matrix learning rate to 0.08",
    tags: ["learning_rate"],
    status: "discard",
    valBpb: 1.07,
    priorCards: [best.id],
    config: recipeConfig({ "optim.matrixLr": 0.08 }),
  });
  // Attention tried three times, never kept: a dead end tag.
  for (const pattern of ["SSSL", "SL", "SSL"]) {
    await writeCard(kb, {
      hypothesis: `Window pattern ${pattern}`,
      tags: ["attention"],
      status: "discard",
      valBpb: 1.08,
      config: recipeConfig({ "model.windowPattern": pattern }),
    });
  }
  const suggestions = await plan(kb);
  assert.equal(suggestions.filter((s) => s.source === "neighbourhood").length, 0);
  assert.ok(!suggestions.some((s) => s.category === "attention" && s.source !== "replicate"));
  assert.ok(!suggestions.some((s) => JSON.stringify(s.config ?? {}).includes("matrixLr")));
});

Deno.test("open questions become separate suggestions, each naming its card", async () => {
  const kb = await tempKb();
  const a = await writeCard(kb, {
    hypothesis: "Longer warmdown",
    tags: ["schedule"],
    status: "inconclusive",
    valBpb: 1.0,
    seed: 7,
  });
  const b = await writeCard(kb, {
    hypothesis: "Shorter warmdown",
    tags: ["schedule"],
    status: "discard",
    valBpb: 1.02,
    lesson: "Worse by 0.02. Does the warmdown matter at all at this budget?",
  });
  const c = await writeCard(kb, {
    hypothesis: "No warmdown",
    tags: ["schedule"],
    status: "discard",
    valBpb: 1.03,
    lesson: "Is a warmup needed with Muon?",
  });
  const questions = (await plan(kb)).filter((s) => s.source === "open_question");
  const byCard = new Map(questions.map((q) => [q.priorCards[0], q]));
  assert.match(byCard.get(a.id)!.hypothesis, /Settle inconclusive .* seeds \(8, 9\)/);
  assert.match(byCard.get(b.id)!.hypothesis, /Does the warmdown matter at all at this budget\?/);
  assert.match(byCard.get(c.id)!.hypothesis, /Is a warmup needed with Muon\?/);
});

Deno.test("plan --enqueue adds each suggestion once; a second plan repeats nothing queued", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, { hypothesis: "baseline", tags: ["other"], valBpb: 1.1 });
  await writeCard(kb, {
    hypothesis: "Raise the matrix learning rate to 0.06",
    tags: ["learning_rate"],
    valBpb: 1.05,
    delta: -0.05,
    priorCards: [base.id],
    config: recipeConfig({ "optim.matrixLr": 0.06 }),
  });
  const first = await cliJson<{ suggestions: Suggestion[] }>(
    ["director", "plan", "--kb", kb, "--enqueue", "--limit", "5"],
  );
  assert.equal(first.suggestions.filter((s) => s.enqueued).length, 5);
  const second = await cliJson<{ suggestions: Suggestion[] }>(
    ["director", "plan", "--kb", kb, "--enqueue", "--limit", "5"],
  );
  const firstTexts = new Set(first.suggestions.map((s) => s.hypothesis));
  assert.ok(second.suggestions.every((s) => !firstTexts.has(s.hypothesis)));
  const status = await cliJson<{ counts: { total: number } }>(["director", "status", "--kb", kb]);
  assert.equal(status.counts.total, 5 + second.suggestions.filter((s) => s.enqueued).length);
  const text = await cli(["director", "plan", "--kb", kb]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^1\. p\d \[/);
  assert.match(text.stdout, /\n {3}why: /);
});
