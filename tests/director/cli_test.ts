/**
 * The director CLI as agents use it, each command a real process: the whole lifecycle (plan ->
 * claim -> heartbeat -> complete with a card -> the brief shows it done), stale release under a
 * fake clock (AUTORESEARCH_NOW), corrupt records, and bad input (exit 2, nothing written).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, cliJson, recipeConfig, snapshotFiles, tempKb, writeCard } from "./helpers.ts";

interface ItemJson {
  id: string;
  status: string;
  hypothesis: string;
  card: string | null;
  seeds?: number[];
  base?: { card?: string; recipe_hash?: string };
  claim: { agent: string; generation: number; heartbeatAt: string } | null;
  releases: { stale: boolean; agent: string; reason: string | null }[];
}

Deno.test("lifecycle: plan -> claim -> heartbeat -> complete with its seeds' cards -> brief shows it done", async () => {
  const kb = await tempKb();
  const base = await writeCard(kb, { hypothesis: "baseline", tags: ["other"], valBpb: 1.1 });
  const best = await writeCard(kb, {
    hypothesis: "Raise the matrix learning rate to 0.06",
    tags: ["learning_rate"],
    valBpb: 1.05,
    delta: -0.05,
    priorCards: [base.id],
    config: recipeConfig({ "optim.matrixLr": 0.06 }),
    recipeHash: "lr006",
  });
  const plan = await cliJson<{ suggestions: { enqueued?: string; priority: number }[] }>(
    ["director", "plan", "--kb", kb, "--enqueue", "--limit", "4"],
  );
  assert.equal(plan.suggestions.length, 4);
  assert.ok(plan.suggestions.every((s) => s.enqueued?.startsWith("item_")));

  const claim = await cliJson<{ claimed: ItemJson }>(
    ["director", "claim", "--kb", kb, "--agent", "worker1"],
  );
  const id = claim.claimed.id;
  assert.equal(id, plan.suggestions[0].enqueued, "the most urgent suggestion is claimed first");
  // A single-run best is replicated (fixed seeds) before anything is built on it.
  assert.match(claim.claimed.hypothesis, new RegExp(`^Replicate ${best.id} .* seeds 1, 2`));
  assert.deepEqual(claim.claimed.seeds, [1, 2]);
  assert.deepEqual(claim.claimed.base, { card: best.id, recipe_hash: "lr006" });

  let brief = await cliJson<
    { queue: { pending: { id: string }[]; inProgress: { id: string; agent: string }[] } }
  >(
    ["read-brief", "--kb", kb],
  );
  assert.deepEqual(brief.queue.inProgress.map((item) => item.id), [id]);
  assert.equal(brief.queue.inProgress[0].agent, "worker1");

  const beat = await cli(["director", "heartbeat", id, "--kb", kb, "--agent", "worker1"]);
  assert.equal(beat.code, 0, beat.stderr);
  const seeds = [];
  for (const seed of [1, 2]) {
    seeds.push(
      await writeCard(kb, {
        hypothesis: "Raise the matrix learning rate to 0.06",
        tags: ["learning_rate"],
        valBpb: seed === 1 ? 1.04 : 1.06,
        priorCards: [best.id],
        config: recipeConfig({ "optim.matrixLr": 0.06 }),
        recipeHash: "lr006",
        seed,
      }),
    );
  }
  const done = await cliJson<ItemJson & { cards: string[] }>(
    [
      "director",
      "complete",
      id,
      "--card",
      seeds[0].id,
      "--card",
      seeds[1].id,
      "--kb",
      kb,
      "--agent",
      "worker1",
    ],
  );
  assert.equal(done.status, "completed");
  assert.equal(done.card, seeds[0].id);
  assert.deepEqual(done.cards, [seeds[0].id, seeds[1].id]);

  brief = await cliJson(["read-brief", "--kb", kb]);
  assert.equal(brief.queue.inProgress.length, 0);
  assert.ok(!brief.queue.pending.some((item) => item.id === id));
  assert.equal(brief.queue.pending.length, 3);
  const text = await cli(["read-brief", "--kb", kb]);
  assert.ok(text.stdout.includes(seeds[0].id), "the result card is in the brief");
  assert.ok(!text.stdout.includes(id), "the completed item is no longer queued");

  const status = await cliJson<{ counts: Record<string, number>; items: ItemJson[] }>(
    ["director", "status", "--kb", kb],
  );
  assert.deepEqual(status.counts, {
    total: 4,
    pending: 3,
    in_progress: 0,
    completed: 1,
    dropped: 0,
    stale: 0,
  });
  assert.equal(status.items.find((item) => item.id === id)?.card, seeds[0].id);
  const plain = await cli(["director", "status", "--kb", kb]);
  // The done item shows its result: the mean val_bpb of its seeds and their verdicts.
  assert.match(
    plain.stdout,
    new RegExp(
      `${id} .*\\| val_bpb 1\\.0500 \\(mean of 2\\), keep x2 -> ${seeds[0].id}, ${seeds[1].id}`,
    ),
  );
  assert.match(plain.stdout, /throughput: .* items\/hour/);

  // Completing again, or with a card that does not exist, is refused.
  const again = await cli(["director", "complete", id, "--card", seeds[0].id, "--kb", kb]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^error: id: cannot complete .* it is completed\n$/);
});

Deno.test("stale claims are released under a fake clock, recorded, and the old holder is told", async () => {
  const kb = await tempKb();
  const t = (minutes: number) => ({
    AUTORESEARCH_NOW: new Date(Date.parse("2026-03-01T12:00:00Z") + minutes * 60_000)
      .toISOString(),
  });
  const added = await cliJson<{ item: { id: string } }>([
    "director",
    "add",
    "--kb",
    kb,
    "--hypothesis",
    "Halve weight decay",
    "--category",
    "regularization",
  ], t(0));
  const id = added.item.id;
  await cliJson(["director", "claim", "--kb", kb, "--agent", "alice"], t(0));
  await cliJson(["director", "heartbeat", id, "--kb", kb, "--agent", "alice"], t(10));
  // 14 minutes after the heartbeat: alive, nothing to claim.
  let claim = await cliJson<{ claimed: ItemJson | null; released: string[] }>(
    ["director", "claim", "--kb", kb, "--agent", "bob"],
    t(24),
  );
  assert.equal(claim.claimed, null);
  let status = await cliJson<{ counts: { stale: number } }>(
    ["director", "status", "--kb", kb],
    t(26),
  );
  assert.equal(status.counts.stale, 1, "status flags the stale claim");
  // A configurable timeout: with 30 minutes it is not stale yet.
  claim = await cliJson(
    ["director", "claim", "--kb", kb, "--agent", "bob", "--stale-minutes", "30"],
    t(26),
  );
  assert.equal(claim.claimed, null);
  // Default 15 minutes: released (recorded) and claimed by bob.
  claim = await cliJson(["director", "claim", "--kb", kb, "--agent", "bob"], t(26));
  assert.deepEqual(claim.released, [id]);
  assert.equal(claim.claimed?.id, id);
  assert.equal(claim.claimed?.claim?.generation, 1);
  status = await cliJson(["director", "status", "--kb", kb], t(26));
  const item = (status as unknown as { items: ItemJson[] }).items[0];
  assert.equal(item.claim?.agent, "bob");
  assert.equal(item.releases.length, 1);
  assert.equal(item.releases[0].stale, true);
  assert.equal(item.releases[0].agent, "alice");
  const late = await cli(["director", "heartbeat", id, "--kb", kb, "--agent", "alice"], t(27));
  assert.equal(late.code, 2);
  assert.match(late.stderr, /claimed by bob, not alice .*stale/);
  // Env var sets the timeout too; release --stale sweeps.
  const sweep = await cliJson<{ released: string[] }>(
    ["director", "release", "--stale", "--kb", kb],
    { ...t(40), AUTORESEARCH_STALE_MINUTES: "10" },
  );
  assert.deepEqual(sweep.released, [id]);
});

Deno.test("a corrupt queue record is reported with its path and skipped; the next add loses nothing", async () => {
  const kb = await tempKb();
  const ids: string[] = [];
  for (const hypothesis of ["Deeper model with 6 layers", "Shorter warmdown of 0.3"]) {
    const out = await cliJson<{ item: { id: string } }>(
      ["director", "add", "--kb", kb, "--hypothesis", hypothesis, "--category", "other"],
    );
    ids.push(out.item.id);
  }
  const path = join(kb, "queue", "items", `${ids[0]}.json`);
  const bytes = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, bytes.slice(0, 40)); // truncated on disk
  const status = await cli(["director", "status", "--kb", kb]);
  assert.equal(status.code, 0);
  assert.ok(status.stderr.includes(`warning: ${path}: invalid JSON`), status.stderr);
  assert.match(status.stdout, /queue: 1 items: 1 pending/);
  const add = await cli([
    "director",
    "add",
    "--kb",
    kb,
    "--hypothesis",
    "Use SwiGLU in the MLP",
    "--category",
    "architecture",
  ]);
  assert.equal(add.code, 0, add.stderr);
  assert.equal(await Deno.readTextFile(path), bytes.slice(0, 40), "corrupt file left as it was");
  const after = await cliJson<{ counts: { total: number }; problems: { path: string }[] }>(
    ["director", "status", "--kb", kb],
  );
  assert.equal(after.counts.total, 2);
  assert.deepEqual(after.problems.map((p) => p.path), [path]);
  const heartbeat = await cli(["director", "heartbeat", ids[0], "--kb", kb]);
  assert.equal(heartbeat.code, 2);
  assert.match(heartbeat.stderr, /is unreadable: invalid JSON/);
  const brief = await cli(["read-brief", "--kb", kb]);
  assert.equal(brief.code, 0, brief.stderr);
  assert.match(brief.stdout, /1 unreadable queue records skipped/);
  assert.doesNotMatch(brief.stdout, /queue:\n {2}empty/);
});

Deno.test("bad input: one line naming the field, exit 2, nothing written", async () => {
  const kb = await tempKb();
  const card = await writeCard(kb, { hypothesis: "baseline", tags: ["other"] });
  const added = await cliJson<{ item: { id: string } }>(
    ["director", "add", "--kb", kb, "--hypothesis", "Halve batch", "--category", "batch_size"],
  );
  const id = added.item.id;
  const before = await snapshotFiles(kb);
  const add = (...extra: string[]) => ["director", "add", "--kb", kb, ...extra];
  const cases: [string[], RegExp][] = [
    [add("--hypothesis", "  ", "--category", "other"), /^error: hypothesis: must not be empty/],
    [add("--hypothesis", "x".repeat(4001), "--category", "other"), /^error: hypothesis: .*4000/],
    [add("--hypothesis", "h", "--category", "lr"), /^error: category: must be one of/],
    [add("--hypothesis", "h", "--category", "other", "--priority", "0"), /^error: priority:/],
    [add("--hypothesis", "h", "--category", "other", "--priority", "2.5"), /^error: priority:/],
    [add("--hypothesis", "h", "--category", "other", "--priority", "NaN"), /^error: priority:/],
    [add("--hypothesis", "h", "--category", "other", "--config", "{lr:1"), /^error: config:/],
    [add("--hypothesis", "h", "--category", "other", "--config", "[1]"), /^error: config:/],
    [
      add("--hypothesis", "h", "--category", "other", "--prior-cards", "../x"),
      /^error: prior-cards:/,
    ],
    [
      add(
        "--hypothesis",
        "h",
        "--category",
        "other",
        "--prior-cards",
        `${card.id},card_01JAAAAAAAAAAAAAAAAAAAAAAA`,
      ),
      /^error: prior-cards: no card card_01JAAAAAAAAAAAAAAAAAAAAAAA/,
    ],
    [add("--category", "other"), /^error: required option '--hypothesis/],
    [["director", "claim", "--kb", kb], /^error: required option '--agent/],
    [["director", "claim", "--kb", kb, "--agent", " "], /^error: agent: must not be empty/],
    [
      ["director", "claim", "--kb", kb, "--agent", "a\nb"],
      /^error: agent: must not contain control/,
    ],
    [
      ["director", "claim", "--kb", kb, "--agent", "a", "--stale-minutes", "-1"],
      /^error: stale-minutes:/,
    ],
    [
      ["director", "heartbeat", "../../etc/passwd", "--kb", kb],
      /^error: id: must be a queue item id/,
    ],
    [
      ["director", "heartbeat", "item_01JAAAAAAAAAAAAAAAAAAAAAAA", "--kb", kb],
      /^error: id: no queue item/,
    ],
    [["director", "heartbeat", id, "--kb", kb], /^error: id: cannot heartbeat .* it is pending/],
    [
      ["director", "complete", id, "--kb", kb, "--card", card.id],
      /^error: id: cannot complete .* pending/,
    ],
    [
      ["director", "complete", id, "--kb", kb, "--card", "card_01JAAAAAAAAAAAAAAAAAAAAAAA"],
      /^error: card: no card/,
    ],
    [["director", "complete", id, "--kb", kb], /^error: required option '--card/],
    [["director", "release", id, "--kb", kb], /^error: id: cannot release .* pending/],
    [["director", "release", "--kb", kb], /^error: id: required/],
    [["director", "drop", id, "--kb", kb], /^error: required option '--reason/],
    [["director", "drop", id, "--kb", kb, "--reason", " \t"], /^error: reason: must not be empty/],
    [["director", "plan", "--kb", kb, "--limit", "0"], /^error: limit:/],
    [["director", "status", "--kb", kb], /^error: AUTORESEARCH_NOW:/],
  ];
  for (const [args, pattern] of cases) {
    const env: Record<string, string> = args.includes("status") ? { AUTORESEARCH_NOW: "soon" } : {};
    const result = await cli(args, env);
    assert.equal(result.code, 2, `${args.join(" ")} -> ${result.code} ${result.stderr}`);
    assert.match(result.stderr, pattern, args.join(" "));
    assert.equal(result.stderr.split("\n")[0].startsWith("error: "), true);
  }
  const after = await snapshotFiles(kb);
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), "no file added");
  for (const [path, bytes] of before) assert.equal(after.get(path), bytes, path);
  // On a base that does not exist yet, refused commands do not create it.
  const missing = `${kb}-missing`;
  for (const args of [["heartbeat", id], ["complete", id, "--card", card.id], ["release", id]]) {
    const result = await cli(["director", ...args, "--kb", missing]);
    assert.equal(result.code, 2, result.stderr);
  }
  assert.equal(await Deno.stat(missing).then(() => true, () => false), false);
});

Deno.test("stored text with newlines and escape codes prints on one line, escaped", async () => {
  const kb = await tempKb();
  const evil = "two\nlines \x1b[31mred\x1b[0m and \u2028 more";
  const added = await cliJson<{ item: { id: string; hypothesis: string } }>(
    ["director", "add", "--kb", kb, "--hypothesis", evil, "--category", "other"],
  );
  assert.equal(added.item.hypothesis, evil, "stored as given");
  const status = await cli(["director", "status", "--kb", kb]);
  const claim = await cli(["director", "claim", "--kb", kb, "--agent", "a"]);
  for (const output of [status.stdout, claim.stdout]) {
    assert.ok(!output.includes("\x1b"), "no raw escape reaches the terminal");
    assert.ok(output.includes("two\\nlines \\x1b[31mred"), output);
  }
  const line = status.stdout.split("\n").find((l) => l.includes(added.item.id));
  assert.match(line ?? "", /two\\nlines .* more$/);
});
