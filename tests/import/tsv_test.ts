/**
 * `autoresearch import results.tsv`: a seeded overnight effort (a baseline and 130 experiments:
 * keeps, discards, crashes, plus malformed lines) imported into a fresh base. The brief's best
 * is the effort's best kept row, the lineage of the best is the chain of kept commits, crashes
 * carry no result, and importing again (or the file grown by a few rows) adds only what is new.
 */
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { openKnowledgeBase, readBrief } from "../../src/knowledge/mod.ts";
import { importResultsTsv, parseResultsTsv } from "../../src/record/tsv.ts";
import type { Platform } from "../../src/knowledge/schema.ts";
import { runCli } from "../cli_helpers.ts";
import { generateEffort, tsvText } from "./helpers.ts";

const H100: Platform = {
  backend: "cuda",
  device: "NVIDIA H100 80GB HBM3",
  vendor: "NVIDIA",
  cores: 26,
  memory_gb: 221,
};

const encode = (text: string) => new TextEncoder().encode(text);

/** The effort's rows with three malformed lines spliced in (their 1-based line numbers). */
function effortFile(rows: ReturnType<typeof generateEffort>): { text: string; bad: number[] } {
  const lines = tsvText(rows).trimEnd().split("\n");
  lines.splice(20, 0, "deadbee\t0.99\t44.0\tmaybe\tunknown status");
  lines.splice(50, 0, "not-hex\t0.99\t44.0\tkeep\tbad commit");
  lines.splice(90, 0, "cafe123\t0.99");
  return { text: `${lines.join("\n")}\n`, bad: [21, 51, 91] };
}

Deno.test("results.tsv: a 131-row effort imports once, with the right best and lineage", async () => {
  const rows = generateEffort(130, 7);
  const keeps = rows.filter((r) => r.status === "keep");
  const crashes = rows.filter((r) => r.status === "crash");
  assert.ok(keeps.length >= 10 && crashes.length >= 5, "the seeded effort is realistic");
  const { text, bad } = effortFile(rows);
  const kb = openKnowledgeBase(await Deno.makeTempDir({ prefix: "kb-tsv-" }));
  const options = {
    kb,
    platform: H100,
    harnessHash: "prepare-abc",
    budgetS: 300,
    agent: "karpathy",
    session: "mar8",
  };
  const report = await importResultsTsv(parseResultsTsv(encode(text)), options);
  assert.equal(report.added.length, rows.length);
  assert.deepEqual(report.skipped.map((s) => s.where), bad.map((n) => `line ${n}`));
  // One card per row, in order; crashes have no result; deltas against the last keep.
  let lastKeep: number | null = null;
  for (const [i, row] of rows.entries()) {
    const card = report.added[i];
    assert.equal(card.commit, row.commit);
    assert.equal(card.status, row.status);
    assert.equal(card.hypothesis, row.description);
    if (row.status === "crash") {
      assert.equal(card.results.val_bpb, null);
      assert.equal(card.results.peak_memory_mb, undefined);
    } else {
      assert.equal(card.results.val_bpb, row.valBpb);
      assert.equal(card.results.peak_memory_mb, Number((row.memoryGb * 1024).toFixed(1)));
      if (lastKeep !== null) {
        assert.ok(Math.abs(card.results.delta! - (row.valBpb - lastKeep)) < 1e-9);
      }
    }
    if (row.status === "keep") lastKeep = row.valBpb;
  }
  // The brief: one class, its best is the effort's best kept row.
  const best = Math.min(...keeps.map((r) => r.valBpb));
  const bestCard = report.added[rows.findIndex((r) => r.status === "keep" && r.valBpb === best)];
  const { brief, text: briefText } = await readBrief(kb);
  assert.equal(brief.cards, rows.length);
  assert.equal(brief.best.length, 1);
  assert.equal(brief.best[0].card, bestCard.id);
  assert.equal(brief.best[0].val_bpb, best);
  assert.ok(briefText.includes(`(${bestCard.id}) = ${best.toFixed(4)}`), briefText);
  // The lineage of the best: every earlier kept commit, nearest first.
  const lineage = await kb.lineage(bestCard.id);
  const keptBefore = keeps.filter((r) => r.valBpb > best).map((r) => r.commit).reverse();
  assert.deepEqual(lineage.ancestors.map((a) => a.card?.id), lineage.ancestors.map((a) => a.id));
  const byId = new Map(report.added.map((c) => [c.id, c]));
  assert.deepEqual(lineage.ancestors.map((a) => byId.get(a.id)!.commit), keptBefore);
  assert.deepEqual(lineage.ancestors.map((a) => a.depth), keptBefore.map((_, i) => i + 1));

  // Again: nothing doubles.
  const second = await importResultsTsv(parseResultsTsv(encode(text)), options);
  assert.equal(second.added.length, 0);
  assert.equal(second.existing.length, rows.length);
  assert.equal((await kb.listCards()).length, rows.length);

  // The file grown by the next night's rows: only those are added, built on the last keep.
  const more = generateEffort(140, 7).slice(rows.length);
  const grown = `${text}${tsvText(more).split("\n").slice(1).join("\n")}`;
  const third = await importResultsTsv(parseResultsTsv(encode(grown)), options);
  assert.equal(third.added.length, more.length);
  assert.equal(third.existing.length, rows.length);
  const lastKept = report.added.filter((c) => c.status === "keep").at(-1)!;
  assert.deepEqual(third.added[0].prior_cards, [lastKept.id]);
});

Deno.test("import CLI: a results.tsv twice adds nothing; a file that is not one writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tsv-cli-" });
  const kb = join(dir, "knowledge");
  const rows = generateEffort(300, 3);
  await Deno.writeTextFile(join(dir, "results.tsv"), tsvText(rows));
  const flags = [
    "--kb",
    kb,
    "--device",
    "NVIDIA H100 80GB HBM3",
    "--backend",
    "cuda",
    "--harness-hash",
    "prepare-abc",
    "--budget",
    "300",
    "--session",
    "mar8",
  ];
  // Two imports of the same file at once (two agents, one base): the rows land once.
  const [first, rival] = await Promise.all([
    runCli(["import", join(dir, "results.tsv"), ...flags, "--json"]),
    runCli(["import", join(dir, "results.tsv"), ...flags, "--json"]),
  ]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(rival.code, 0, rival.stderr);
  const added = [first, rival].map((r) => JSON.parse(r.stdout).added.length);
  assert.deepEqual(added.sort((a, b) => a - b), [0, rows.length]);
  const second = await runCli(["import", join(dir, "results.tsv"), ...flags, "--json"]);
  assert.equal(second.code, 0, second.stderr);
  const report = JSON.parse(second.stdout);
  assert.equal(report.added.length, 0);
  assert.equal(report.existing.length, rows.length);
  assert.equal([...Deno.readDirSync(join(kb, "cards"))].length, rows.length);

  await Deno.writeTextFile(join(dir, "notes.csv"), "name,score\nfoo,1\n");
  const other = join(dir, "other-kb");
  const refused = await runCli([
    "import",
    join(dir, "notes.csv"),
    ...flags.slice(2),
    "--kb",
    other,
  ]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^error: .*notes\.csv: is not a results\.tsv: its first line/);
  assert.equal(refused.stderr.trim().split("\n").length, 1);
  assert.throws(() => Deno.statSync(other), Deno.errors.NotFound);

  // A bad flag shared by every row is one error naming the flag, and nothing is written.
  const badFlags = [...flags.slice(2), "--kb", other];
  const badHash = await runCli([
    "import",
    join(dir, "results.tsv"),
    ...badFlags,
    "--harness-hash",
    "a b",
  ]);
  assert.equal(badHash.code, 2);
  assert.match(badHash.stderr, /^error: harness_hash \(--harness-hash\): must be 1-128 characters/);
  const badCores = await runCli(["import", join(dir, "results.tsv"), ...badFlags, "--cores", "0"]);
  assert.equal(badCores.code, 2);
  assert.match(badCores.stderr, /^error: platform\.cores \(--cores\): must be at least 1\n$/);
  assert.throws(() => Deno.statSync(other), Deno.errors.NotFound);
});
