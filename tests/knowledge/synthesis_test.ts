/**
 * Synthesis, brief, coverage, reports and plot: best per comparability class only, crashes /
 * pending / retracted never best, noise floor from replicates, confirmed findings (2 sigma or
 * replicated), dead ends, aliases, bounded brief at 10k cards, views written under views/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BRIEF_MAX_BYTES,
  type CardSummary,
  categoriesOf,
  makeBrief,
  openKnowledgeBase,
  plotData,
  readBrief,
  readMeta,
  renderPlotSvg,
  synthesize,
  updateMeta,
  writePlot,
  writeSessionReport,
} from "../../src/knowledge/mod.ts";
import { baseWith, listDir, sampleInput, tempKb } from "./helpers.ts";

const GPU = {
  backend: "webgpu" as const,
  device: "llvmpipe",
  vendor: "mesa",
  cores: 2,
  memory_gb: 8,
};

Deno.test("best is per comparability class and never mixes hardware, harness or budget", async () => {
  const { kb, cards } = await baseWith([
    { results: { val_bpb: 1.0 } },
    { results: { val_bpb: 0.5 }, platform: GPU },
    { results: { val_bpb: 0.4 }, harness_hash: "h2" },
    { results: { val_bpb: 0.3 }, budget_s: 60 },
  ]);
  const synthesis = synthesize(await kb.listCards());
  assert.equal(synthesis.classes.length, 4);
  const cpuH1 = synthesis.classes.find((c) => c.key === "cpu|Test CPU|h1|300")!;
  assert.equal(cpuH1.best?.id, cards[0].id);
  assert.equal(cpuH1.best?.val_bpb, 1.0);
  assert.equal(synthesis.classes.find((c) => c.key.startsWith("webgpu"))!.best?.val_bpb, 0.5);
});

Deno.test("crashes, pending, discarded and retracted cards never become a best", async () => {
  const { kb, cards } = await baseWith([
    { results: { val_bpb: 1.0 }, recipe_hash: "base" },
    { status: "crash", results: { val_bpb: null } },
    { status: "pending", results: { val_bpb: 0.2 } },
    { status: "discard", results: { val_bpb: 0.3 } },
    { status: "keep", results: { val_bpb: 0.1 }, recipe_hash: "bad" },
  ]);
  await kb.retract(cards[4].id, "eval was broken", "lead");
  const synthesis = synthesize(await kb.listCards());
  assert.equal(synthesis.classes[0].best?.id, cards[0].id);
  assert.equal(synthesis.classes[0].crashes, 1);
  const { text } = await readBrief(kb);
  assert.match(text, new RegExp(`\\(${cards[0].id}\\) = 1\\.0000 \\(n=1\\)`));
  assert.equal(synthesis.retracted, 1);
  assert.equal(synthesis.pending, 1);
});

Deno.test("noise floor from replicates; an idea is confirmed by its mean against the baseline", async () => {
  const baseline = [1.0, 1.01, 0.99, 1.005].map((v, seed) => ({
    recipe_hash: "base",
    seed,
    results: { val_bpb: v },
  }));
  const { kb, cards } = await baseWith([
    ...baseline,
    // a real gain of 0.1 (about 10 sigma), three runs
    { recipe_hash: "big", results: { val_bpb: 0.9 }, hypothesis: "big gain" },
    { recipe_hash: "big", results: { val_bpb: 0.905 }, seed: 1, status: "discard" },
    { recipe_hash: "big", results: { val_bpb: 0.895 }, seed: 2, status: "discard" },
    // one lucky run: provisional, never confirmed, an open question
    { recipe_hash: "small", results: { val_bpb: 0.985 }, hypothesis: "small gain" },
  ]);
  const synthesis = synthesize(await kb.listCards());
  const klass = synthesis.classes[0];
  const noise = klass.noise!;
  assert.equal(noise.groups, 2);
  assert.equal(noise.df, 5);
  const squares = [1.0, 1.01, 0.99, 1.005].reduce((s, v) => s + (v - 1.00125) ** 2, 0) +
    [0.9, 0.905, 0.895].reduce((s, v) => s + (v - 0.9) ** 2, 0);
  assert.ok(Math.abs(noise.sigma - Math.sqrt(squares / 5)) < 1e-12);
  const byId = new Map(synthesis.findings.map((f) => [f.id, f]));
  const big = byId.get(cards[4].id)!;
  assert.equal(big.confirmed, true);
  assert.equal(big.basis, "welch-holm");
  assert.equal(big.n, 3);
  assert.equal(big.comparison.vs, "baseline");
  assert.equal(big.comparison.confirmation_n, 2, "the run that prompted replication is left out");
  const small = byId.get(cards[7].id)!;
  assert.equal(small.confirmed, false);
  assert.equal(small.provisional, true);
  assert.ok(synthesis.openQuestions.some((q) => q.startsWith(`replicate ${cards[7].id}`)));
  assert.equal(klass.best?.recipe_hash, "big");
  assert.equal(klass.best?.n, 3);
  assert.equal(klass.baseline?.n, 4);
  const { brief, text } = await readBrief(kb);
  assert.deepEqual(brief.confirmed.map((c) => c.card), [cards[4].id]);
  assert.ok(brief.best[0].noise_sigma !== null);
  assert.match(
    text,
    /best big \(card_\w+\) = 0\.9000 \+- 0\.\d{4} \(n=3\); baseline 1\.001\d \+- 0\.\d{4} \(n=4\)/,
  );
  assert.match(text, /confirmed improvement on its baseline/);
});

Deno.test("without replicates the noise is unknown and nothing is confirmed", async () => {
  const { kb } = await baseWith([
    { recipe_hash: "a", results: { val_bpb: 1.0 } },
    { recipe_hash: "b", results: { val_bpb: 0.5 } },
  ]);
  const synthesis = synthesize(await kb.listCards());
  assert.equal(synthesis.classes[0].noise, null);
  assert.equal(synthesis.findings[0].confirmed, false);
  assert.ok(synthesis.openQuestions.some((q) => /measure the noise floor/.test(q)));
  assert.match((await readBrief(kb)).text, /noise unknown \(0 replicate df, needs 3\)/);
});

Deno.test("dead ends: ideas whose confidence interval rules out a useful gain", async () => {
  const { kb, cards } = await baseWith([
    ...[1.0, 1.004, 0.996, 1.002].map((v, seed) => ({
      recipe_hash: "base",
      seed,
      results: { val_bpb: v },
    })),
    { recipe_hash: "swiglu", tags: ["swiglu"], status: "discard", results: { val_bpb: 1.05 } },
    {
      recipe_hash: "swiglu",
      tags: ["swiglu"],
      status: "discard",
      seed: 1,
      results: { val_bpb: 1.055 },
    },
    // one run a little worse: not evidence of no effect
    { recipe_hash: "rope", tags: ["rope"], status: "discard", results: { val_bpb: 1.003 } },
    // crashes and inconclusive labels are not evidence either
    { recipe_hash: "rope2", tags: ["rope"], status: "crash", results: { val_bpb: null } },
  ]);
  const synthesis = synthesize(await kb.listCards());
  assert.deepEqual(synthesis.deadEnds.map((d) => d.id), [cards[4].id]);
  assert.ok(synthesis.deadEnds[0].gain + synthesis.deadEnds[0].gain_ci95 < 0);
  assert.match((await readBrief(kb)).text, new RegExp(`${cards[4].id} gain -0\\.05\\d+`));
});

Deno.test("coverage: aliases fold together, untouched categories show as unexplored", async () => {
  assert.deepEqual(categoriesOf(["LR"]), ["learning_rate"]);
  assert.deepEqual(categoriesOf(["mystery"]), ["other"]);
  const { kb } = await baseWith([
    { tags: ["lr"] },
    { tags: ["learning_rate"] },
    { tags: ["Learning-Rate"] },
    { tags: ["muon", "warmup"] },
  ]);
  const synthesis = synthesize(await kb.listCards());
  const row = (name: string) => synthesis.coverage.find((r) => r.category === name)!;
  assert.equal(row("learning_rate").experiments, 3);
  assert.equal(row("optimizer").experiments, 1);
  assert.equal(row("schedule").experiments, 1);
  assert.equal(row("tokenizer").state, "unexplored");
  assert.equal(row("tokenizer").experiments, 0);
  assert.deepEqual(synthesis.freeTags, [{ tag: "muon", experiments: 1 }]);
  const { brief } = await readBrief(kb);
  assert.ok(brief.under_explored.some((u) => u.category === "tokenizer" && u.experiments === 0));
});

Deno.test("the brief shows lessons, every section, the queue, and stays one line per item", async () => {
  const { kb, cards } = await baseWith([
    { lesson: "lesson one", hypothesis: "evil\nhypothesis\x1b[2J" },
    { lesson: "lesson two", status: "discard" },
    { status: "inconclusive", results: { val_bpb: 1.1 }, hypothesis: "unclear", lesson: undefined },
  ]);
  const queue = {
    pending: [{ id: "q_1", hypothesis: "try swiglu\nnow", category: "architecture", priority: 1 }],
    inProgress: [{
      id: "q_2",
      hypothesis: "warmup",
      category: "schedule",
      agent: "a2",
      claimedAt: "t",
      heartbeatAt: "t",
    }],
  };
  const { text, brief } = await readBrief(kb, queue);
  for (
    const heading of [
      "best per comparability class",
      "confirmed findings",
      "recent results",
      "dead ends",
      "lessons:",
      "under-explored categories",
      "open questions:",
      "queue:",
    ]
  ) assert.ok(text.includes(heading), heading);
  assert.match(text, /lesson one/);
  assert.match(text, /lesson two/);
  assert.match(text, /pending q_1 p1 \[architecture\] try swiglu\\nnow/);
  assert.match(text, /claimed q_2 by a2/);
  assert.match(text, /inconclusive idea card_/);
  assert.ok(!text.includes("\x1b"));
  assert.ok(
    text.split("\n").some((l) =>
      l.includes(`${cards[0].id} keep 1.0000 evil\\nhypothesis\\x1b[2J`)
    ),
  );
  assert.equal(brief.lessons.length, 2);
});

function synthetic(count: number): CardSummary[] {
  const cards: CardSummary[] = [];
  for (let i = 0; i < count; i++) {
    const device = `device-${i % 12}`;
    cards.push({
      id: `card_${String(i).padStart(26, "0")}`,
      timestamp: new Date(1_700_000_000_000 + i * 1000).toISOString(),
      agent: `agent-${i % 8}`,
      session: `s${i % 30}`,
      hypothesis: `hypothesis ${i} `.repeat(40),
      lesson: i % 3 === 0 ? `lesson ${i} `.repeat(60) : null,
      tags: [`tag${i % 50}`],
      categories: ["other"],
      prior_cards: [],
      backend: "cpu",
      device,
      harness_hash: "h",
      budget_s: 300,
      recipe_hash: `r${i % 2000}`,
      seed: i,
      class_key: `cpu|${device}|h|300`,
      val_bpb: i % 17 === 0 ? null : 1 - i / 20000 + (i % 7) / 1000,
      delta: null,
      written_status: i % 17 === 0 ? "crash" : i % 4 === 0 ? "keep" : "discard",
      status: i % 17 === 0
        ? "crash"
        : i % 11 === 0
        ? "inconclusive"
        : i % 4 === 0
        ? "keep"
        : "discard",
      completion_id: null,
      disputed: false,
      num_steps: 900 - (i % 5),
      load_avg: null,
      group: null,
      retracted: i % 97 === 0,
      retraction_reason: null,
    });
  }
  return cards;
}

Deno.test("the brief stays within its byte budget at 10,000 cards", () => {
  const queue = {
    pending: Array.from({ length: 50 }, (_, i) => ({
      id: `q_${i}`,
      hypothesis: "x".repeat(300),
      category: "architecture",
      priority: i,
    })),
    inProgress: [],
  };
  const { text, brief } = makeBrief(synthesize(synthetic(10_000)), queue, 3);
  const bytes = new TextEncoder().encode(text).length;
  assert.ok(bytes <= BRIEF_MAX_BYTES, `${bytes} bytes`);
  assert.ok(bytes > 1500, "the brief still says something");
  assert.equal(brief.cards, 10_000);
  assert.ok(brief.best.length >= 1 && brief.lessons.length >= 1 && brief.recent.length >= 1);
  assert.ok(brief.omitted.classes > 0, "the cut is reported");
  assert.match(text, /\(\+\d+ more\)/);
});

Deno.test("session report, meta-synthesis and plot are written under views/", async () => {
  const { kb } = await baseWith([
    { session: "mar8", lesson: "session lesson" },
    { session: "mar9", results: { val_bpb: 0.9 } },
  ]);
  const report = await writeSessionReport(kb, "mar8");
  assert.equal(report.path, join(kb.dir, "views", "sessions", "mar8.md"));
  assert.match(await Deno.readTextFile(report.path), /session lesson/);
  assert.equal(report.synthesis.total, 1);
  await assert.rejects(() => writeSessionReport(kb, "nope"), /no cards with session/);

  const first = await readMeta(kb);
  assert.equal(first.regenerated, true);
  assert.equal((await readMeta(kb)).regenerated, false);
  await kb.writeCard(sampleInput({ hypothesis: "newer" }));
  const stale = await readMeta(kb);
  assert.equal(stale.regenerated, true);
  assert.match(stale.text, /newer/);
  assert.match((await updateMeta(kb)).text, /# Meta-synthesis/);

  const plot = await writePlot(kb);
  assert.equal(plot.path, join(kb.dir, "views", "progress.svg"));
  const svg = await Deno.readTextFile(plot.path);
  assert.match(svg, /^<\?xml/);
  assert.match(svg, /<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(plot.points, 3);
  assert.ok(listDir(join(kb.dir, "views")).includes("meta.md"));
});

Deno.test("plot data: running best per class from kept cards only", () => {
  const cards = synthetic(200);
  const data = plotData(cards);
  assert.ok(data.points.every((p) => p.val_bpb > 0));
  const perClass = new Map<string, number>();
  for (const step of data.best) {
    const previous = perClass.get(step.class);
    assert.ok(previous === undefined || step.val_bpb < previous);
    perClass.set(step.class, step.val_bpb);
  }
  assert.ok(!data.points.some((p) => cards.find((c) => c.id === p.id)!.retracted));
});

Deno.test("plot svg renders dots for each point", async () => {
  const svg = await renderPlotSvg(plotData(synthetic(30)));
  assert.ok((svg.match(/<circle/g) ?? []).length >= 20);
});

Deno.test("the cached, incrementally folded synthesis always equals a full recomputation", async () => {
  const kb = openKnowledgeBase(await tempKb());
  const { newId } = await import("../../src/util/ids.ts");
  const lateId = newId("card"); // a card from "another machine", arriving late with an older id
  const check = async (label: string) => {
    const incremental = await kb.synthesis();
    const full = synthesize(await kb.listCards());
    assert.deepEqual(incremental, full, label);
  };
  const statuses = ["keep", "discard", "keep", "inconclusive", "pending", "keep"] as const;
  let pending = "";
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 6; i++) {
      const card = await kb.writeCard(sampleInput({
        recipe_hash: `r${(round * 6 + i) % 5}`,
        status: statuses[i],
        tags: [["lr", "swiglu", "muon"][i % 3]],
        results: { val_bpb: 1 - round * 0.05 - i * 0.003 },
        platform: i % 2 ? GPU : sampleInput().platform,
      }));
      if (statuses[i] === "pending") pending = card.id;
    }
    await check(`round ${round} appended`);
    await check(`round ${round} cached`);
  }
  await kb.completeCard(pending, { status: "keep", agent: "a", lesson: "judged late" });
  await check("after a judgement");
  // The trainer's loop: pending cards at the end, judged one by one.
  const p1 = await kb.writeCard(sampleInput({ status: "pending", results: { val_bpb: 0.6 } }));
  const p2 = await kb.writeCard(sampleInput({ status: "pending", results: { val_bpb: 0.55 } }));
  await check("two pending cards at the end");
  await kb.completeCard(p1.id, { status: "keep", agent: "a", lesson: "p1 helps" });
  await check("older pending card judged while a newer one waits");
  await kb.completeCard(p2.id, { status: "crash", agent: "a" });
  await check("newest pending card judged crash");
  const [first] = await kb.listCards();
  await kb.retract(first.id, "bad", "a");
  await check("after a retraction");
  const template = kb.getCard(first.id).card;
  await Deno.writeTextFile(
    join(kb.dir, "cards", `${lateId}.json`),
    JSON.stringify({ ...template, id: lateId, hypothesis: "late arrival" }),
  );
  await check("after an older card arrived");
  await kb.writeCard(sampleInput({ results: { val_bpb: 0.5 } }));
  await check("after one more append");
});
