/**
 * Every knowledge command through the real CLI process: --help, text and --json output, the
 * full bad-input list (one-line error, exit code 2, nothing written), corrupt files on disk
 * (reported skip naming the file, no traceback) and one-line-per-card output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cpuCardPlatform } from "../../src/platform/mod.ts";
import { baseFlags, type CliResult, listDir, runCli, tempKb } from "./helpers.ts";

const COMMANDS = [
  "write-card",
  "read-brief",
  "read-meta",
  "coverage",
  "synthesize",
  "update-meta",
  "plot",
  "retract",
  "update-index",
  "show-card",
  "lineage",
  "list-cards",
];

function assertUsageError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 2, `exit code: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split("\n");
  assert.ok(lines[0].startsWith("error: "), result.stderr);
  assert.match(lines[0], pattern);
  assert.ok(!/\n\s+at /.test(result.stderr), "no traceback");
  assert.equal(result.stdout, "");
}

async function writeCard(kb: string, extra: string[], stdin?: string): Promise<string> {
  const result = await runCli(["write-card", ...baseFlags(kb), ...extra], { stdin });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

Deno.test("every command has --help naming --kb and --json", async () => {
  for (const command of COMMANDS) {
    const result = await runCli([command, "--help"]);
    assert.equal(result.code, 0, command);
    assert.match(result.stdout, /--kb <dir>/, command);
    assert.match(result.stdout, /--json/, command);
  }
});

Deno.test("write-card, show-card, list-cards, lineage: text and json", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, [
    "--hypothesis",
    "baseline",
    "--result",
    "1.0",
    "--status",
    "keep",
    "--tags",
    "lr, Batch-Size",
    "--lesson",
    "the baseline",
    "--commit",
    "abc1234",
    "--config",
    '{"depth":4}',
    "--num-params",
    "1000",
  ]);
  assert.match(base, /^card_[0-9A-Z]{26}$/);
  const child = await runCli([
    "write-card",
    ...baseFlags(kb),
    "--hypothesis",
    "child",
    "--result",
    "0.9",
    "--status",
    "revert",
    "--prior-cards",
    base,
    "--json",
  ]);
  const childCard = JSON.parse(child.stdout);
  assert.equal(childCard.status, "discard");
  assert.deepEqual(childCard.prior_cards, [base]);
  // The same description the trainer's cards get, so both land in one comparability class.
  assert.deepEqual(childCard.platform, { backend: "cpu", ...cpuCardPlatform() });

  const shown = JSON.parse((await runCli(["show-card", base, "--kb", kb, "--json"])).stdout);
  assert.deepEqual(shown.card.tags, ["learning_rate", "batch_size"]);
  assert.equal(shown.card.config.depth, 4);
  assert.equal(shown.card.results.num_params, 1000);
  const text = await runCli(["show-card", base, "--kb", kb]);
  assert.match(text.stdout, /hypothesis\s+baseline/);

  const list = await runCli(["list-cards", "--kb", kb]);
  assert.equal(list.stdout.trim().split("\n").length, 2);
  const lineage = JSON.parse(
    (await runCli(["lineage", childCard.id, "--kb", kb, "--json"])).stdout,
  );
  assert.deepEqual(lineage.ancestors.map((a: { id: string }) => a.id), [base]);
  const lineageText = await runCli(["lineage", base, "--kb", kb]);
  assert.match(lineageText.stdout, new RegExp(`\\+ ${childCard.id} discard 0\\.9000`));
});

Deno.test("pending card judged with --complete and a lesson from stdin", async () => {
  const kb = await tempKb();
  const id = await writeCard(kb, [
    "--hypothesis",
    "auto",
    "--result",
    "0.97",
    "--status",
    "pending",
  ]);
  const lesson = "long lesson from stdin ".repeat(100);
  const done = await runCli(
    ["write-card", "--kb", kb, "--complete", id, "--status", "keep", "--lesson-file", "-"],
    { stdin: lesson },
  );
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /judged keep/);
  const shown = JSON.parse((await runCli(["show-card", id, "--kb", kb, "--json"])).stdout);
  assert.equal(shown.status, "keep");
  assert.equal(shown.completion.lesson, lesson);
  assert.equal(shown.card.status, "pending");
  assertUsageError(
    await runCli(["write-card", "--kb", kb, "--complete", id, "--status", "keep"]),
    /already judged/,
  );
});

Deno.test("retract, read-brief, coverage, synthesize, update-meta, read-meta, plot, update-index", async () => {
  const kb = await tempKb();
  const a = await writeCard(kb, [
    "--hypothesis",
    "a",
    "--result",
    "1.0",
    "--status",
    "keep",
    "--session",
    "mar8",
    "--tags",
    "lr",
  ]);
  const b = await writeCard(kb, [
    "--hypothesis",
    "b",
    "--result",
    "0.5",
    "--status",
    "keep",
    "--session",
    "mar8",
  ]);
  const retract = await runCli(["retract", "--id", b, "--reason", "eval bug", "--kb", kb]);
  assert.equal(retract.code, 0, retract.stderr);

  const brief = await runCli(["read-brief", "--kb", kb]);
  assert.equal(brief.code, 0, brief.stderr);
  assert.match(brief.stdout, new RegExp(`\\(${a}\\) = 1\\.0000 \\(n=1\\)`));
  assert.match(brief.stdout, new RegExp(`${b} keep,retracted`));
  const briefJson = JSON.parse((await runCli(["read-brief", "--kb", kb, "--json"])).stdout);
  assert.equal(briefJson.best[0].card, a);
  assert.equal(briefJson.retracted, 1);

  const coverage = await runCli(["coverage", "--kb", kb]);
  assert.match(coverage.stdout, /learning_rate\s+1/);
  assert.match(coverage.stdout, /tokenizer\s+0 .* unexplored/);
  const coverageJson = JSON.parse((await runCli(["coverage", "--kb", kb, "--json"])).stdout);
  assert.equal(coverageJson.categories.length, 13);

  const session = await runCli(["synthesize", "--session", "mar8", "--kb", kb, "--json"]);
  assert.equal(JSON.parse(session.stdout).path, join(kb, "views", "sessions", "mar8.md"));
  const meta = await runCli(["update-meta", "--kb", kb, "--json"]);
  assert.equal(JSON.parse(meta.stdout).cards, 2);
  const readMeta = await runCli(["read-meta", "--kb", kb]);
  assert.match(readMeta.stdout, /# Meta-synthesis/);

  const out = join(kb, "chart.svg");
  const plot = await runCli(["plot", "--kb", kb, "--out", out]);
  assert.equal(plot.code, 0, plot.stderr);
  assert.match(await Deno.readTextFile(out), /<svg/);

  const index = JSON.parse((await runCli(["update-index", "--kb", kb, "--json"])).stdout);
  assert.equal(index.cards, 2);
  assert.equal(index.records, 3);
});

Deno.test("bad arguments: one-line error naming the field, exit 2, nothing written", async () => {
  const kb = await tempKb();
  const ok = ["--hypothesis", "h", "--result", "1", "--status", "keep"];
  const longFile = join(await tempKb(), "long.txt");
  await Deno.writeTextFile(longFile, "x".repeat(5000));
  const cases: [string[], RegExp, string?][] = [
    [["--hypothesis", "", "--result", "1", "--status", "keep"], /hypothesis.*empty or whitespace/],
    [["--hypothesis", "   ", "--result", "1", "--status", "keep"], /hypothesis.*empty/],
    [[...ok, "--tags", "a, ,b"], /--tags: .*empty/],
    [[...ok, "--tags", " "], /--tags/],
    [
      ["--hypothesis", "h", "--result", "abc", "--status", "keep"],
      /--result: must be a finite number/,
    ],
    [["--hypothesis", "h", "--result", "NaN", "--status", "keep"], /--result: must be a finite/],
    [
      ["--hypothesis", "h", "--result", "Infinity", "--status", "keep"],
      /--result: must be a finite/,
    ],
    [
      ["--hypothesis", "h", "--result", "-0.5", "--status", "keep"],
      /val_bpb \(--result\): must be greater than 0/,
    ],
    [["--hypothesis", "h", "--result", "0", "--status", "keep"], /greater than 0/],
    [[...ok, "--num-steps", "-3"], /num_steps \(--num-steps\): must not be negative/],
    [[...ok, "--peak-memory-mb", "1e999"], /--peak-memory-mb: must be a finite/],
    [
      ["--hypothesis", "h", "--result", "1", "--status", "bogus"],
      /status \(--status\): must be one of/,
    ],
    [["--hypothesis", "h", "--result", "1", "--status", "crash"], /val_bpb .*null for a crash/],
    [["--hypothesis", "h", "--status", "keep"], /val_bpb/],
    [
      ["--hypothesis-file", longFile, "--result", "1", "--status", "keep"],
      /hypothesis.*at most 4000/,
    ],
    [[...ok, "--lesson-file", "-"], /lesson.*at most 4000/, "y".repeat(4001)],
    [[...ok, "--lesson-file", "/nonexistent/file"], /--lesson-file: cannot read/],
    [[...ok, "--prior-cards", "../x"], /prior_cards\.0 \(--prior-cards\): must be a card id/],
    [[...ok, "--prior-cards", "card_01J9Z0000000000000000000AA"], /does not exist/],
    [[...ok, "--config", "[1]"], /--config: must be a JSON object/],
    [[...ok, "--config", "{oops"], /--config: must be JSON/],
    [[...ok, "--backend", "tpu"], /backend \(--backend\): must be one of webgpu, cpu, cuda/],
    [[...ok, "--agent", "a\nb"], /agent .*control characters/],
    [[...ok, "--lesson", "l", "--lesson-file", longFile], /not both/],
    [[...ok, "--bogus-flag"], /unknown option/],
  ];
  for (const [args, pattern, stdin] of cases) {
    const result = await runCli(["write-card", ...baseFlags(kb), ...args], { stdin });
    assertUsageError(result, pattern);
  }
  assert.deepEqual(listDir(join(kb, "cards")), [], "nothing written");
  const fresh = join(kb, "fresh");
  for (
    const args of [
      ["show-card", "../x", "--kb", fresh],
      ["lineage", "../../etc/passwd", "--kb", fresh],
      ["retract", "--id", "../x", "--reason", "r", "--kb", fresh],
      ["retract", "--id", "card_01J9Z0000000000000000000AA", "--reason", " ", "--kb", fresh],
      ["write-card", "--complete", "../x", "--status", "keep", "--kb", fresh],
      ["synthesize", "--kb", fresh],
      ["synthesize", "--session", "  ", "--kb", fresh],
    ]
  ) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.stderr.trimEnd().split("\n")[0].startsWith("error"), true, result.stderr);
  }
  assert.deepEqual(listDir(fresh), []);
});

Deno.test("control characters are stored but never break one-line output or reach the terminal", async () => {
  const kb = await tempKb();
  const hypothesis = "two\nlines \x1b[31mred\x1b[0m \r\u2028end";
  const id = await writeCard(kb, ["--hypothesis", hypothesis, "--result", "1", "--status", "keep"]);
  await writeCard(kb, ["--hypothesis", "plain", "--result", "1.1", "--status", "discard"]);
  const shown = JSON.parse((await runCli(["show-card", id, "--kb", kb, "--json"])).stdout);
  assert.equal(shown.card.hypothesis, hypothesis);
  for (
    const args of [["list-cards"], ["read-brief"], ["show-card", id], ["lineage", id], [
      "read-meta",
    ]]
  ) {
    const result = await runCli([...args, "--kb", kb]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes("\x1b"), `${args[0]} leaked ESC`);
    assert.ok(!result.stdout.includes("\r") && !result.stdout.includes("\u2028"), args[0]);
  }
  const list = (await runCli(["list-cards", "--kb", kb])).stdout.trimEnd().split("\n");
  assert.equal(list.length, 2);
  assert.match(list[0], /two\\nlines \\x1b\[31mred/);
});

Deno.test("the same commit twice in one second: two cards", async () => {
  const kb = await tempKb();
  const args = ["--hypothesis", "h", "--result", "1", "--status", "keep", "--commit", "deadbeef"];
  const [a, b] = await Promise.all([writeCard(kb, args), writeCard(kb, args)]);
  assert.notEqual(a, b);
  assert.equal(listDir(join(kb, "cards")).length, 2);
});

Deno.test("corrupt files on disk: reported skip naming the file, other cards still served", async () => {
  const kb = await tempKb();
  const good = await writeCard(kb, ["--hypothesis", "good", "--result", "1", "--status", "keep"]);
  const bad = await writeCard(kb, ["--hypothesis", "bad", "--result", "1", "--status", "keep"]);
  const badPath = join(kb, "cards", `${bad}.json`);
  const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0x22]);
  await Deno.writeFile(badPath, bytes);
  await Deno.writeTextFile(join(kb, "cards", "card_01J9Z0000000000000000000AA.json"), "[]");
  for (const command of ["read-brief", "coverage", "list-cards", "update-index", "read-meta"]) {
    const result = await runCli([command, "--kb", kb]);
    assert.equal(result.code, 0, `${command}: ${result.stderr}`);
    assert.ok(
      result.stderr.includes(`warning: skipped ${badPath}: not valid UTF-8`),
      result.stderr,
    );
    assert.match(
      result.stderr,
      /card_01J9Z0000000000000000000AA\.json: expected a JSON object, found a JSON list/,
    );
  }
  assert.match((await runCli(["list-cards", "--kb", kb])).stdout, new RegExp(good));
  const show = await runCli(["show-card", bad, "--kb", kb]);
  assert.equal(show.code, 1);
  assert.equal(show.stderr.trim(), `error: ${badPath}: not valid UTF-8`);
  assert.deepEqual(await Deno.readFile(badPath), bytes, "never overwritten");
});

Deno.test("--input takes a whole card as JSON (file or stdin); flags override; AUTORESEARCH_KB", async () => {
  const kb = await tempKb();
  const input = {
    agent: "trainer",
    session: "auto",
    hypothesis: "from the trainer",
    platform: { backend: "webgpu", device: "llvmpipe", vendor: "mesa", cores: 2, memory_gb: 8 },
    harness_hash: "h9",
    recipe_hash: "r9",
    budget_s: 60,
    seed: 3,
    config: { depth: 4 },
    results: { val_bpb: 1.5, num_steps: 10, mfu_percent: 1.2 },
    status: "pending",
  };
  const file = join(kb, "run.json");
  await Deno.writeTextFile(file, JSON.stringify(input));
  const fromFile = await runCli(["write-card", "--input", file, "--status", "discard", "--json"], {
    env: { AUTORESEARCH_KB: kb },
  });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const card = JSON.parse(fromFile.stdout);
  assert.equal(card.status, "discard");
  assert.equal(card.platform.backend, "webgpu");
  assert.equal(card.seed, 3);
  assert.equal(card.results.mfu_percent, 1.2);
  const fromStdin = await runCli(["write-card", "--kb", kb, "--input", "-", "--json"], {
    stdin: JSON.stringify(input),
  });
  assert.equal(JSON.parse(fromStdin.stdout).status, "pending");
  assertUsageError(
    await runCli(["write-card", "--kb", kb, "--input", "-"], { stdin: "[1,2]" }),
    /--input: must be a JSON object/,
  );
  assertUsageError(
    await runCli(["write-card", "--kb", kb, "--input", "-"], {
      stdin: JSON.stringify({ ...input, colour: "red" }),
    }),
    /colour.*not a known field/,
  );
  const list = await runCli(["list-cards", "--json"], { env: { AUTORESEARCH_KB: kb } });
  assert.equal(JSON.parse(list.stdout).length, 2);
  const plot = JSON.parse((await runCli(["plot", "--kb", kb, "--json"])).stdout);
  assert.equal(plot.path, join(kb, "views", "progress.svg"));
  assert.equal(plot.points, 2);
  const meta = JSON.parse((await runCli(["read-meta", "--kb", kb, "--json"])).stdout);
  assert.equal(meta.regenerated, true);
  assert.match(meta.text, /judge pending/);
});
