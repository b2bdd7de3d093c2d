/**
 * `autoresearch import --commons DIR`: a base in the commons fork's format, written here from the
 * fork's field list (cards with platform {gpu, ram_gb, framework}, results, statuses including
 * revert and retracted, prior_knowledge_used; a queue.json), with the broken cards the fork would
 * crash on. Imported, our read-brief, coverage and lineage agree with the source; broken cards
 * are reported by path; a second import adds nothing.
 */
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { coverage, openKnowledgeBase, readBrief } from "../../src/knowledge/mod.ts";
import { categoriesOf } from "../../src/knowledge/taxonomy.ts";
import { readQueue } from "../../src/director/queue.ts";
import { queueSection } from "../../src/director/brief.ts";
import { importCommons, readForkBase } from "../../src/record/commons.ts";
import { seededRandom } from "../../src/util/random.ts";
import { runCli } from "../cli_helpers.ts";

interface ForkCard {
  id: string;
  timestamp: string;
  platform: { gpu: string; ram_gb: number; framework: string };
  parent_commit: string;
  hypothesis: string;
  config_diff: Record<string, string>;
  results: Record<string, number>;
  status: string;
  lesson: string;
  tags: string[];
  prior_knowledge_used: string[];
  retraction_reason?: string;
}

const H100 = { gpu: "NVIDIA H100", ram_gb: 80, framework: "pytorch-cuda" };
const M2 = { gpu: "Apple M2 Max", ram_gb: 32, framework: "pytorch-mps" };
const TAGS = [["learning_rate"], ["batch_size", "optimization"], ["architecture", "activation"], [
  "attention",
  "rope",
], ["lr"]];

/** A fork base: two machines' chains of experiments, a retraction, a queue, broken files. */
async function writeForkBase(dir: string): Promise<{ cards: ForkCard[]; broken: string[] }> {
  const random = seededRandom(11);
  const cards: ForkCard[] = [];
  for (const [m, platform] of [[0, H100], [1, M2]] as const) {
    let best = m === 0 ? 0.9979 : 1.42;
    let lastKeep: string | null = null;
    for (let i = 0; i < 14; i++) {
      const id = `card_2026030${m + 1}_1${String(i).padStart(5, "0")}_${m}${i}ab`;
      const roll = random();
      const status = i === 0 ? "keep" : roll < 0.3 ? "keep" : roll < 0.4 ? "crash" : "revert";
      const value = status === "crash"
        ? 0
        : status === "keep"
        ? (best = Number((best - 0.002 - random() * 0.003).toFixed(6)))
        : Number((best + 0.001 + random() * 0.01).toFixed(6));
      cards.push({
        id,
        timestamp: `2026-03-0${m + 1}T10:${String(i).padStart(2, "0")}:00`,
        platform,
        parent_commit: `abc${m}${String(i).padStart(3, "0")}`,
        hypothesis: `machine ${m} experiment ${i}`,
        config_diff: { DEPTH: `8 → ${8 + i}` },
        results: {
          val_bpb: value,
          delta: status === "crash" ? 0 : -0.001,
          peak_vram_mb: 22400,
          training_seconds: 300.1,
          num_steps: 900 + i,
          estimated_flops: 1.2e15,
          num_params: 50300000,
        },
        status,
        lesson: `lesson ${m}.${i}`,
        tags: TAGS[i % TAGS.length],
        prior_knowledge_used: lastKeep ? [lastKeep] : [],
      });
      if (status === "keep") lastKeep = id;
    }
  }
  // A retracted card (the fork rewrites the status in place and adds the reason).
  const victim =
    cards.find((c) => c.status === "keep" && c.platform === H100 && c.id.endsWith("_03ab")) ??
      cards.filter((c) => c.status === "keep" && c.platform === H100)[1];
  victim.status = "retracted";
  victim.retraction_reason = "baseline was misconfigured";
  await Deno.mkdir(join(dir, "knowledge", "cards"), { recursive: true });
  for (const card of cards) {
    await Deno.writeTextFile(
      join(dir, "knowledge", "cards", `${card.id}.json`),
      JSON.stringify(card, null, 2),
    );
  }
  // Broken cards, each something the fork's own readers would crash on.
  const brokenDir = join(dir, "knowledge", "cards");
  const good = cards[1];
  const broken: Record<string, string | Uint8Array> = {
    "missing_hypothesis.json": JSON.stringify({ ...good, id: "b1", hypothesis: undefined }),
    "nan.json": JSON.stringify({ ...good, id: "b2" }).replace(/"val_bpb":[^,]+/, '"val_bpb":NaN'),
    "latin1.json": new Uint8Array([
      ...new TextEncoder().encode('{"id":"b3","hypothesis":"caf'),
      0xe9,
      ...new TextEncoder().encode('"}'),
    ]),
    "truncated.json": JSON.stringify(good).slice(0, 40),
    "string_result.json": JSON.stringify({ ...good, id: "b5", results: { val_bpb: "0.99" } }),
    "duplicate_id.json": JSON.stringify({ ...good, hypothesis: "a 7-hex id collision" }),
  };
  for (const [name, content] of Object.entries(broken)) {
    const path = join(brokenDir, name);
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
  }
  await Deno.writeTextFile(
    join(dir, "knowledge", "queue.json"),
    JSON.stringify([
      {
        id: "q1",
        hypothesis: "Try SwiGLU activation",
        category: "architecture",
        priority: 1,
        status: "pending",
        assigned_to: null,
        created_at: "2026-03-08T10:00:00",
        claimed_at: null,
      },
      {
        id: "q2",
        hypothesis: "Increase model depth to 12 layers",
        category: "architecture",
        priority: 2,
        status: "in_progress",
        assigned_to: "agent-7",
        created_at: "2026-03-08T10:00:00",
        claimed_at: "2026-03-08T11:00:00",
      },
      {
        id: "q3",
        hypothesis: "Halve batch size",
        category: "batch_size",
        priority: 3,
        status: "completed",
        assigned_to: "agent-2",
        created_at: "2026-03-08T09:00:00",
        claimed_at: "2026-03-08T09:10:00",
      },
      { id: "q4", hypothesis: "", category: "other", priority: 5, status: "pending" },
    ]),
  );
  return {
    cards,
    broken: [...Object.keys(broken).filter((n) => n !== "duplicate_id.json"), `${good.id}.json`]
      .sort(),
  };
}

Deno.test("commons: a fork base migrates; brief, coverage and lineage agree with the source", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fork-" });
  const { cards: source } = await writeForkBase(dir);
  const kb = openKnowledgeBase(join(dir, "ours"));
  const fork = readForkBase(dir);
  const report = await importCommons(fork, {
    kb,
    harnessHash: "commons-fork",
    budgetS: 300,
    agent: "migrator",
  });
  // Every broken card reported by its path; the duplicate id is the later file (sorted names).
  const skippedNames = report.skipped.map((s) => s.where.split("/").at(-1)!);
  for (const name of ["missing_hypothesis.json", "nan.json", "latin1.json", "truncated.json"]) {
    assert.ok(skippedNames.includes(name), `${name} reported`);
  }
  const reasons = new Map(report.skipped.map((s) => [s.where.split("/").at(-1)!, s.reason]));
  assert.match(reasons.get("nan.json")!, /NaN/);
  assert.match(reasons.get("latin1.json")!, /UTF-8/);
  assert.match(reasons.get("missing_hypothesis.json")!, /hypothesis is missing/);
  assert.match(reasons.get("string_result.json")!, /val_bpb must be a number/);
  assert.ok(report.skipped.some((s) => /already used by/.test(s.reason)));
  assert.ok(report.skipped.some((s) => /queue\.json item 3/.test(s.where)));
  assert.equal(report.added.length, source.length);

  // Statuses mapped; the retracted card kept with a retraction record.
  const ours = new Map(report.added.map((card) => [card.source!.ref.slice(5), card]));
  for (const card of source) {
    const mine = ours.get(card.id)!;
    const expected = card.status === "revert"
      ? "discard"
      : card.status === "retracted"
      ? "inconclusive"
      : card.status;
    assert.equal(mine.status, expected, card.id);
    assert.equal(mine.results.val_bpb, card.status === "crash" ? null : card.results.val_bpb);
    assert.equal(mine.platform.device, card.platform.gpu);
    assert.equal(mine.source?.timestamp, card.timestamp);
    assert.equal(mine.commit, undefined); // parent_commit is not the commit that ran
    assert.ok(mine.recipe_diff?.includes(`against parent commit ${card.parent_commit}`));
    assert.ok(mine.recipe_diff?.includes(`DEPTH: ${card.config_diff.DEPTH}`));
  }
  const retracted = source.find((c) => c.status === "retracted")!;
  assert.deepEqual(report.retracted, [ours.get(retracted.id)!.id]);
  const detail = kb.getCard(ours.get(retracted.id)!.id);
  assert.equal(detail.retracted, true);
  assert.equal(detail.retractions[0].reason, "baseline was misconfigured");

  // read-brief: one class per machine, each best = the source's best keep (not retracted).
  const { brief } = await readBrief(kb, await queueSection(kb.dir));
  assert.equal(brief.cards, source.length);
  assert.equal(brief.retracted, 1);
  for (const gpu of ["NVIDIA H100", "Apple M2 Max"]) {
    const keeps = source.filter((c) => c.platform.gpu === gpu && c.status === "keep");
    const best = keeps.reduce((a, b) => a.results.val_bpb <= b.results.val_bpb ? a : b);
    const row = brief.best.find((b) => b.class.includes(gpu))!;
    assert.equal(row.card, ours.get(best.id)!.id, gpu);
    assert.equal(row.val_bpb, best.results.val_bpb);
  }
  // Queue: pending and in-progress fork items are pending here; completed ones are not imported.
  assert.deepEqual(brief.queue.pending.map((i) => i.hypothesis).sort(), [
    "Increase model depth to 12 layers",
    "Try SwiGLU activation",
  ]);
  assert.equal(report.itemsCompleted, 1);

  // Coverage: experiments per category = the source's non-retracted cards with that category.
  const { synthesis } = await coverage(kb);
  assert.ok(synthesis.coverage.filter((row) => row.experiments > 0).length >= 4);
  for (const row of synthesis.coverage) {
    const expected = source.filter((c) =>
      c.status !== "retracted" && categoriesOf(c.tags).includes(row.category)
    ).length;
    assert.equal(row.experiments, expected, row.category);
  }

  // Lineage: prior_knowledge_used mapped to our ids, transitively.
  for (const card of source.filter((c) => c.prior_knowledge_used.length > 0)) {
    const mine = ours.get(card.id)!;
    assert.deepEqual(mine.prior_cards, card.prior_knowledge_used.map((p) => ours.get(p)!.id));
  }
  const deepest = source.filter((c) => c.platform === H100).at(-1)!;
  const chain: string[] = [];
  for (let at = deepest; at.prior_knowledge_used.length > 0;) {
    at = source.find((c) => c.id === at.prior_knowledge_used[0])!;
    chain.push(ours.get(at.id)!.id);
  }
  const lineage = await kb.lineage(ours.get(deepest.id)!.id);
  assert.ok(chain.length >= 3, "the fixture has a real chain");
  assert.deepEqual(lineage.ancestors.map((a) => a.id), chain);

  // A second import adds nothing: no card, no retraction, no queue item.
  const again = await importCommons(readForkBase(dir), {
    kb,
    harnessHash: "commons-fork",
    budgetS: 300,
    agent: "migrator",
  });
  assert.equal(again.added.length, 0);
  assert.equal(again.existing.length, source.length);
  assert.equal(again.retracted.length, 0);
  assert.equal(again.itemsAdded.length, 0);
  assert.equal(again.itemsExisting, 2);
  assert.equal((await kb.listCards()).length, source.length);
  assert.equal((await readQueue(kb.dir)).items.length, 2);
});

Deno.test("import --commons CLI: warnings name the broken files; a dir without cards is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fork-cli-" });
  const { cards } = await writeForkBase(dir);
  const kb = join(dir, "ours");
  const result = await runCli(["import", "--commons", dir, "--kb", kb, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.added.length, cards.length);
  assert.match(result.stderr, /warning: skipped .*nan\.json: holds NaN/);
  assert.match(result.stderr, /warning: skipped .*latin1\.json: not valid UTF-8/);
  const withDevice = await runCli(["import", "--commons", dir, "--kb", kb, "--device", "x"]);
  assert.equal(withDevice.code, 2);
  assert.match(withDevice.stderr, /^error: --device: applies to a results\.tsv/);
  const empty = await Deno.makeTempDir({ prefix: "no-fork-" });
  const refused = await runCli(["import", "--commons", empty, "--kb", join(empty, "kb")]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^error: --commons: .* holds no cards\/ directory/);
  assert.throws(() => Deno.statSync(join(empty, "kb")), Deno.errors.NotFound);
});
