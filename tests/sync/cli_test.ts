/**
 * `autoresearch sync` as a real process against real git repositories: a base that is not a
 * repository is refused with how to fix it (exit 2, nothing written); `--init` and no remote
 * (exit 0, said so); offline (exit 3, committed locally); derived files never committed; a
 * corrupt or symlinked record that arrives is reported and skipped; a record rewritten locally
 * is not shared; duplicate ideas from two machines are merged; two judgements of one card are
 * both kept and reported as disputed; a push that loses a race is retried.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { snapshotFiles, writeCard } from "../director/helpers.ts";
import { addItem, claimNext, readQueue } from "../../src/director/mod.ts";
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { git, partition, sharedBase, sync } from "./helpers.ts";

const env = { XDG_RUNTIME_DIR: "/tmp", AUTORESEARCH_AGENT: "tester" };

Deno.test("sync: a base outside git is refused with how to fix it; --init; no remote", async () => {
  const root = await Deno.makeTempDir({ prefix: "sync-cli-" });
  try {
    const kb = join(root, "kb");
    await writeCard(kb, { hypothesis: "first", tags: ["other"] });
    const before = await snapshotFiles(kb);
    const refused = await runCli(["sync", "--kb", kb], { env });
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^error: kb: .* is not a git repository: .*git clone URL.*sync --init/,
    );
    assert.deepEqual(await snapshotFiles(kb), before, "nothing written");
    const bad = await runCli(["sync", "--kb", kb, "--remote", "x"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: remote: only with --init/);

    const init = await runCli(["sync", "--init", "--kb", kb], { env });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /initialised .* as a git repository/);
    assert.match(init.stdout, /no git remote: .*git -C .* remote add origin URL/);
    assert.match(await git(kb, "log", "--oneline"), /knowledge base: start/);
    assert.deepEqual(
      (await git(kb, "ls-files")).trim().split("\n").sort(),
      [
        ".gitignore",
        ...[...before.keys()].map((p) => p.slice(kb.length + 1)).filter((p) => p !== ".gitignore"),
      ].sort(),
    );
    // A new card with no remote: committed locally, exit 0, counted.
    await writeCard(kb, { hypothesis: "second", tags: ["other"] });
    const local = await runCli(["sync", "--kb", kb, "--json"], { env });
    assert.equal(local.code, 0, local.stderr);
    const report = JSON.parse(local.stdout);
    assert.equal(report.remote, null);
    assert.equal(report.committed, 1);
    assert.equal(report.unpushed.counts.card, 2);
    const twice = await runCli(["sync", "--init", "--kb", kb], { env });
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /already inside the git repository/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("sync: offline exits 3 and keeps everything; derived files are never committed", async () => {
  const shared = await sharedBase(["a", "b"], ["a"]);
  try {
    const { a, b } = shared.clones;
    await writeCard(a, { hypothesis: "one", tags: ["other"] });
    // Derived files: the index (read-brief), views (update-meta), the queue's lock.
    for (const args of [["read-brief"], ["update-meta"], ["director", "status"]]) {
      const result = await runCli([...args, "--kb", a], { env });
      assert.equal(result.code, 0, result.stderr);
    }
    await partition(shared, "a", true);
    const offline = await runCli(["sync", "--kb", a], { env });
    assert.equal(offline.code, 3, offline.stderr);
    assert.match(
      offline.stdout,
      /^sync: offline: origin unreachable \(.+\); 2 records committed locally/,
    );
    assert.match(offline.stdout, /unpushed: 1 card, 1 config file/);
    await partition(shared, "a", false);
    const online = await runCli(["sync", "--kb", a, "--json"], { env });
    assert.equal(online.code, 0, online.stderr);
    assert.equal(JSON.parse(online.stdout).out.counts.card, 1);
    const tracked = (await git(a, "ls-files")).trim().split("\n");
    assert.ok(tracked.length === 2 && tracked.includes(".gitignore"), tracked.join(" "));
    assert.ok(!tracked.some((p) => /index\.sqlite|views\/|\.lock/.test(p)));
    const inB = await runCli(["sync", "--kb", b], { env });
    assert.equal(inB.code, 0, inB.stderr);
    assert.match(inB.stdout, /1 card, 1 config file/);
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});

Deno.test("sync: a corrupt or symlinked record that arrives is reported and skipped", async () => {
  const shared = await sharedBase(["a", "b"]);
  try {
    const { a, b } = shared.clones;
    const good = await writeCard(a, { hypothesis: "good", tags: ["other"] });
    // A hostile or broken machine pushes a truncated card and a link to a file outside.
    const bad = "card_01KZZZZZZZZZZZZZZZZZZZZZZZ";
    await Deno.writeTextFile(join(a, "cards", `${bad}.json`), '{"schema": 1, "id": "');
    await Deno.symlink("/etc/hostname", join(a, "cards", "card_01KYYYYYYYYYYYYYYYYYYYYYYY.json"));
    await git(a, "add", "-A");
    await git(a, "commit", "-q", "-m", "hostile");
    await git(a, "push", "-q", "origin", "HEAD");
    const result = await runCli(["sync", "--kb", b, "--json"], { env });
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    const reasons = new Map(
      report.skipped.map((
        s: { path: string; reason: string },
      ) => [s.path.split("/").pop(), s.reason]),
    );
    assert.match(String(reasons.get(`${bad}.json`)), /invalid JSON/);
    assert.match(String(reasons.get("card_01KYYYYYYYYYYYYYYYYYYYYYYY.json")), /symbolic link/);
    assert.deepEqual(report.in.ids.card, [good.id]);
    const text = await runCli(["sync", "--kb", b], { env });
    assert.equal(text.code, 0);
    const brief = await runCli(["read-brief", "--kb", b], { env });
    assert.equal(brief.code, 0, brief.stderr);
    assert.match(brief.stderr, new RegExp(`skipped .*${bad}\\.json`));
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});

Deno.test("sync: a record rewritten locally is reported and never shared", async () => {
  const shared = await sharedBase(["a", "b"]);
  try {
    const { a, b } = shared.clones;
    const card = await writeCard(a, { hypothesis: "original", tags: ["other"] });
    await sync(a);
    const path = join(a, "cards", `${card.id}.json`);
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replace("original", "rewritten"));
    const result = await runCli(["sync", "--kb", a], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /cards\/card_\w+\.json was modified here: records are append-only/);
    await sync(b);
    assert.match(await Deno.readTextFile(join(b, "cards", `${card.id}.json`)), /original/);
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});

Deno.test("sync: duplicate ideas are merged; two judgements of one card are kept, disputed", async () => {
  const shared = await sharedBase(["a", "b"]);
  try {
    const { a, b } = shared.clones;
    const base = openKnowledgeBase(a);
    const pending = await base.writeCard({
      agent: "tester",
      session: "test",
      hypothesis: "a run waiting for its judgement",
      tags: ["other"],
      prior_cards: [],
      platform: { backend: "cpu", device: "test cpu", vendor: "test", cores: 2, memory_gb: 8 },
      harness_hash: "harness1",
      recipe_hash: "recipe1",
      budget_s: 300,
      seed: 0,
      config: {},
      results: { val_bpb: 1.0 },
      status: "pending",
    });
    base.close();
    await sync(a);
    await sync(b);
    const idea = {
      hypothesis: "raise the matrix learning rate to 0.06",
      category: "learning_rate",
      priority: 3,
      config: { "optim.matrixLr": 0.06 },
    };
    const first = await addItem({ kb: a }, { ...idea, createdBy: "alice" });
    const second = await addItem({ kb: b }, { ...idea, createdBy: "bob" });
    for (const [kb, agent, status] of [[a, "alice", "keep"], [b, "bob", "discard"]] as const) {
      const judged = openKnowledgeBase(kb);
      await judged.completeCard(pending.id, { status, agent });
      judged.close();
    }
    await sync(a);
    const result = await runCli(["sync", "--kb", b], { env });
    assert.equal(result.code, 0, result.stderr);
    const [earlier, later] = [first.item!.id, second.item!.id].sort();
    assert.match(
      result.stdout,
      new RegExp(`merged duplicate idea: ${later} dropped \\(duplicate of ${earlier}: same config`),
    );
    assert.match(
      result.stdout,
      new RegExp(
        `disputed: ${pending.id} judged (keep by alice and discard by bob|discard by bob and keep by alice)`,
      ),
    );
    await sync(a);
    for (const kb of [a, b]) {
      const state = await readQueue(kb);
      const dropped = state.items.find((s) => s.item.id === later)!;
      assert.equal(dropped.status, "dropped");
      assert.match(dropped.dropReason!, new RegExp(`duplicate of ${earlier}`));
      assert.equal(state.items.find((s) => s.item.id === earlier)!.status, "pending");
      assert.equal(
        [...Deno.readDirSync(join(kb, "completions"))].length,
        2,
        "both judgements kept",
      );
      const brief = await runCli(["read-brief", "--kb", kb], { env });
      assert.match(brief.stdout, new RegExp(`disputed judgements[^\n]*\n  ${pending.id} `));
    }
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});

Deno.test("sync: a push that loses the race to another machine is retried", async () => {
  const shared = await sharedBase(["a", "b"]);
  try {
    const { a, b } = shared.clones;
    await writeCard(a, { hypothesis: "start", tags: ["other"] });
    await sync(a);
    await sync(b);
    // The remote holds a's first push inside its pre-receive hook until b has pushed.
    const hook = join(shared.remote, "hooks", "pre-receive");
    await Deno.writeTextFile(
      hook,
      `#!/bin/sh
n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
if [ "$n" -eq 1 ]; then touch waiting; while [ ! -f release ]; do sleep 0.05; done; fi
cat >/dev/null
exit 0
`,
    );
    await Deno.chmod(hook, 0o755);
    await writeCard(a, { hypothesis: "from a", tags: ["other"] });
    await writeCard(b, { hypothesis: "from b", tags: ["other"] });
    const slow = runCli(["sync", "--kb", a, "--json"], { env });
    while (!await Deno.stat(join(shared.remote, "waiting")).then(() => true, () => false)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const fast = await sync(b);
    assert.equal(fast.report.outgoing.length, 1);
    await Deno.writeTextFile(join(shared.remote, "release"), "");
    const result = await slow;
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.push_attempts, 2, "rejected once, then pushed");
    assert.equal(report.in.counts.card, 1, "b's card came in on the retry");
    assert.equal(report.out.counts.card, 1);
    assert.equal((await git(shared.remote, "log", "--merges", "--oneline")).trim(), "");
    assert.equal(
      (await git(shared.remote, "ls-tree", "-r", "--name-only", "HEAD", "cards")).trim().split("\n")
        .length,
      3,
    );
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});

Deno.test("sync: a clone whose branch has another name shares the remote's branch", async () => {
  const shared = await sharedBase(["a", "b"]);
  try {
    const { a, b } = shared.clones;
    await git(b, "symbolic-ref", "HEAD", "refs/heads/trunk"); // another machine's default
    await writeCard(a, { hypothesis: "from a", tags: ["other"] });
    const first = await sync(a);
    await writeCard(b, { hypothesis: "from b", tags: ["other"] });
    const second = await sync(b);
    assert.equal(second.report.branch, first.report.branch);
    assert.equal(second.report.incoming.filter((c) => c.kind === "card").length, 1);
    assert.equal((await git(shared.remote, "branch")).trim().split("\n").length, 1);
    assert.match(
      await git(b, "status", "-sb"),
      new RegExp(`^## trunk\\.\\.\\.origin/${first.report.branch}`),
    );
    await sync(a);
    assert.equal([...Deno.readDirSync(join(a, "cards"))].length, 2);
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});

Deno.test("sync: of two duplicate ideas, a claimed one is kept and the unclaimed one dropped", async () => {
  const shared = await sharedBase(["a", "b"]);
  try {
    const { a, b } = shared.clones;
    const idea = {
      hypothesis: "halve the batch size for more optimizer steps",
      category: "batch_size",
      priority: 2,
      config: { totalBatchTokens: 8192 },
    };
    const earlier = (await addItem({ kb: a }, { ...idea, createdBy: "alice" })).item!;
    const later = (await addItem({ kb: b }, { ...idea, createdBy: "bob" })).item!;
    assert.ok(earlier.id < later.id);
    await claimNext({ kb: b }, "bob");
    await sync(a);
    const outcome = await sync(b);
    assert.deepEqual(outcome.resolution.merged.map((m) => [m.dropped, m.kept]), [[
      earlier.id,
      later.id,
    ]]);
    await sync(a);
    for (const kb of [a, b]) {
      const state = await readQueue(kb);
      assert.equal(state.items.find((s) => s.item.id === earlier.id)!.status, "dropped");
      assert.equal(state.items.find((s) => s.item.id === later.id)!.status, "in_progress");
    }
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});
