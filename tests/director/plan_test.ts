/**
 * The planner: the baseline on an empty base; replicates before it builds (an unconfirmed best
 * gets fixed-seed replicates at priority 1 and nothing built on it); steps along confirmed
 * directions from the anchor; every suggestion on a named base with the numbers in its text;
 * `--enqueue` adds them once and `--keep-full N` tops the queue up to N.
 */
import assert from "node:assert/strict";
import { planExperiments, type Suggestion } from "../../src/director/mod.ts";
import { cli, cliJson, recipeConfig, tempKb, writeCard } from "./helpers.ts";

async function plan(kb: string, limit = 40): Promise<Suggestion[]> {
  return (await planExperiments({ kb, limit })).suggestions;
}

Deno.test("an empty base gets the baseline run first", async () => {
  const kb = await tempKb();
  const suggestions = await plan(kb);
  assert.equal(suggestions[0].source, "baseline");
  assert.equal(suggestions[0].priority, 1);
});

Deno.test("replicates before it builds: an unconfirmed best gets fixed seeds at p1, no step on it", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, { hypothesis: "baseline", tags: ["other"], valBpb: 1.1 });
  const best = await writeCard(kb, {
    hypothesis: "Raise the matrix learning rate to 0.06",
    tags: ["learning_rate"],
    valBpb: 1.05,
    priorCards: [base.id],
    config: recipeConfig({ "optim.matrixLr": 0.06 }),
    recipeHash: "lr006",
  });
  const suggestions = await plan(kb);
  assert.equal(suggestions[0].source, "replicate");
  assert.equal(suggestions[0].priority, 1);
  assert.deepEqual(suggestions[0].seeds, [1, 2]);
  assert.deepEqual(suggestions[0].base, { card: best.id, recipe_hash: "lr006" });
  // Nothing is built on the unconfirmed best: every change applies to the baseline.
  for (const s of suggestions.filter((s) => s.config !== null)) {
    assert.equal(s.base?.card, base.id, s.hypothesis);
  }
  // The change that made the best is not proposed again from the baseline (it was run).
  assert.ok(!suggestions.some((s) => JSON.stringify(s.config) === '{"optim.matrixLr":0.06}'));
});

Deno.test("a confirmed direction is extended from the best, with the numbers in the hypothesis", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, {
    hypothesis: "baseline",
    tags: ["other"],
    valBpb: 1.1,
    recipeHash: "b0",
  });
  for (const [seed, valBpb] of [[1, 1.102], [2, 1.098], [3, 1.101]]) {
    await writeCard(kb, {
      hypothesis: "baseline",
      tags: ["other"],
      valBpb,
      recipeHash: "b0",
      seed,
    });
  }
  // Depth 4 -> 6 kept and replicated three times well below the baseline: confirmed.
  const deep = [];
  for (const seed of [0, 1, 2, 3]) {
    deep.push(
      await writeCard(kb, {
        hypothesis: "Increase depth from 4 to 6",
        tags: ["architecture"],
        valBpb: [1.02, 1.022, 1.018, 1.021][seed],
        priorCards: [base.id],
        config: recipeConfig({ "model.depth": 6 }),
        recipeHash: "d6",
        seed,
      }),
    );
  }
  const suggestions = await plan(kb);
  const step = suggestions.find((s) => JSON.stringify(s.config) === '{"model.depth":8}');
  assert.ok(step, JSON.stringify(suggestions.map((s) => s.config)));
  assert.equal(step.priority, 2);
  assert.match(
    step.hypothesis,
    /Raise model\.depth from 6 to 8 on card_\S+ \(val_bpb 1\.0\d+ over 4 runs\)/,
  );
  assert.deepEqual(step.base, { card: deep[0].id, recipe_hash: "d6" });
  assert.ok(step.priorCards.includes(deep[0].id));
  // Nothing that repeats a run: depth 6 on the best is the best itself.
  assert.ok(!suggestions.some((s) => JSON.stringify(s.config) === '{"model.depth":6}'));
});

Deno.test("plan --enqueue adds each suggestion once; --keep-full tops the queue up to N", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, { hypothesis: "baseline", tags: ["other"], valBpb: 1.1 });
  await writeCard(kb, {
    hypothesis: "Raise the matrix learning rate to 0.06",
    tags: ["learning_rate"],
    valBpb: 1.05,
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
  const full = await cliJson<{ suggestions: Suggestion[] }>(
    ["director", "plan", "--kb", kb, "--keep-full", "13"],
  );
  assert.equal(full.suggestions.filter((s) => s.enqueued).length, 3);
  const status = await cliJson<{ counts: { pending: number } }>(["director", "status", "--kb", kb]);
  assert.equal(status.counts.pending, 13);
  const again = await cliJson<{ suggestions: Suggestion[] }>(
    ["director", "plan", "--kb", kb, "--keep-full", "13"],
  );
  assert.equal(again.suggestions.length, 0, "a full queue gets nothing more");
  const text = await cli(["director", "plan", "--kb", kb]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^1\. p\d \[/);
  assert.match(text.stdout, /\n {3}why: /);
});

Deno.test("around a converged anchor the planner keeps proposing, never the same change twice", async () => {
  // Run everything the planner proposes, every change worse than the baseline: single steps run
  // out and every category saturates; pairs of steps (saturated categories last) must keep an
  // all-night queue fed, and nothing tried may come back.
  const kb = await tempKb();
  const baseline = await writeCard(kb, {
    hypothesis: "baseline",
    tags: ["baseline"],
    valBpb: 2.2,
    recipeHash: "base",
  });
  const tried = new Set<string>();
  let lastResort = false;
  for (let round = 0; round < 5; round++) {
    const suggestions = await plan(kb, 60);
    assert.ok(suggestions.length > 0, `round ${round}: nothing proposed`);
    for (const s of suggestions) {
      lastResort ||= / and .* together on /.test(s.hypothesis) && round >= 2;
      if (s.config) {
        const key = JSON.stringify(Object.entries(s.config).sort());
        assert.ok(!tried.has(key), `round ${round} proposes ${key} again`);
        tried.add(key);
        await writeCard(kb, {
          hypothesis: s.hypothesis,
          tags: [s.category],
          status: "discard",
          valBpb: 2.25,
          config: recipeConfig(s.config as Record<string, unknown>),
          priorCards: [baseline.id],
        });
      } else {
        for (const seed of s.seeds ?? [0]) {
          await writeCard(kb, {
            hypothesis: s.hypothesis,
            tags: ["baseline"],
            valBpb: 2.2 + 0.002 * seed,
            recipeHash: "base",
            seed,
          });
        }
      }
    }
  }
  assert.ok(lastResort, "pairs of steps kept the queue fed once single steps ran out");
});
