/**
 * `autoresearch train` as a real process: bad input exits 2 before anything is trained or
 * written; without prepared data it names the missing file; and a short real run on the
 * embedded corpus prints upstream's summary block on stdout, writes the results JSON, a
 * checkpoint, and exactly one card with status `pending` (never keep) in the knowledge base.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCli } from "../cli_helpers.ts";

/** An empty working directory: no ./recipe.ts, so `train` trains the embedded default. */
const EMPTY_CWD = Deno.makeTempDirSync({ prefix: "train-cli-cwd-" });
globalThis.addEventListener("unload", () => Deno.removeSync(EMPTY_CWD));

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { env: { XDG_RUNTIME_DIR: "/tmp", ...env }, cwd: EMPTY_CWD });
}

function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch {
    return [];
  }
}

Deno.test("train CLI: bad input exits 2 with one line naming the field, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kb = join(dir, "kb");
    const cases: [string[], RegExp][] = [
      [["--budget", "-5"], /^error: --budget: /],
      [["--budget", "abc"], /^error: --budget: /],
      [["--seed", "1.5"], /^error: --seed: /],
      [["--backend", "tpu"], /^error: --backend: /],
      [["--hypothesis", " "], /^error: --hypothesis: /],
      [["--prior-cards", "card_nope"], /^error: (--prior-cards|prior_cards)/],
      [
        ["--prior-cards", "card_01J9Z3Z3Z3Z3Z3Z3Z3Z3Z3Z3Z3"],
        /^error: --prior-cards: .*does not exist/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(["train", "--kb", kb, "--cache", join(dir, "cache"), ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
      const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(listDir(join(kb, "cards")), [], "no card written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train CLI: without prepared data it says what to run, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cli(["train", "--cache", join(dir, "cache"), "--kb", join(dir, "kb")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /autoresearch prepare/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train CLI: a short real run prints the summary block and records a pending card", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = join(dir, "cache"), kb = join(dir, "kb"), results = join(dir, "run.json");
    const prep = await cli(["prepare", "--embedded", "--cache", cache]);
    assert.equal(prep.code, 0, prep.stderr);
    const r = await cli([
      "train",
      "--backend",
      "cpu",
      "--budget",
      "1",
      "--eval-tokens",
      "4096",
      "--cache",
      cache,
      "--kb",
      kb,
      "--results",
      results,
      "--agent",
      "tester",
      "--session",
      "t1",
      "--tags",
      "baseline",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], "---");
    const labels = lines.slice(1).map((l) => l.slice(0, 18));
    assert.deepEqual(labels, [
      "val_bpb:          ",
      "training_seconds: ",
      "total_seconds:    ",
      "peak_vram_mb:     ",
      "mfu_percent:      ",
      "total_tokens_M:   ",
      "num_steps:        ",
      "num_params_M:     ",
      "depth:            ",
    ]);
    assert.match(lines[1], /^val_bpb: {10}\d+\.\d{6}$/);
    assert.match(lines[9], /^depth: {12}4$/);
    const report = JSON.parse(await Deno.readTextFile(results));
    assert.equal(report.status, "ok");
    assert.ok(report.val_bpb > 0 && report.val_bpb < 20);
    assert.equal(lines[1], `val_bpb:          ${report.val_bpb.toFixed(6)}`);
    // The checkpoint was written before evaluation, as plain data.
    assert.deepEqual(listDir(report.checkpoint).sort(), ["model.bin", "model.json"]);
    // Exactly one card, pending, with the hashes and the run's figures.
    const cards = listDir(join(kb, "cards"));
    assert.equal(cards.length, 1);
    const card = JSON.parse(await Deno.readTextFile(join(kb, "cards", cards[0])));
    assert.equal(card.id, report.card_id);
    assert.equal(card.status, "pending");
    assert.equal(card.results.val_bpb, report.val_bpb);
    assert.match(card.harness_hash, /^[0-9a-f]{64}$/);
    assert.match(card.recipe_hash, /^[0-9a-f]{64}$/);
    assert.equal(card.budget_s, 1);
    assert.equal(card.seed, 42);
    assert.equal(card.platform.backend, "cpu");
    assert.equal(card.config.model.depth, 4);
    assert.deepEqual(card.tags, ["baseline"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start CLI: prepares the embedded corpus, trains, prints the block, the card and the brief", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = join(dir, "cache"), kb = join(dir, "kb");
    const r = await cli([
      "start",
      "--backend",
      "cpu",
      "--budget",
      "1",
      "--cache",
      cache,
      "--kb",
      kb,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^---\nval_bpb: {10}\d+\.\d{6}\n/);
    assert.match(r.stderr, /embedded default corpus/);
    const cards = listDir(join(kb, "cards"));
    assert.equal(cards.length, 1);
    const id = cards[0].replace(/\.json$/, "");
    assert.match(
      r.stdout,
      new RegExp(`knowledge brief:[\\s\\S]*${id}`),
      "the brief shows the card",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
