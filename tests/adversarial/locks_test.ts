/**
 * Stuck locks: a real process takes the queue lock or the base lock and is then stopped with
 * SIGSTOP (hung, not dead, so the OS never frees the lock). `director claim`, `add`, `complete`
 * and `retract` / `write-card --complete` wait a bounded time, say whom they wait for, then fail
 * with one error line naming the lock and its holder; nothing is written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertRefused, cli, listTree, scratch, writeCards } from "./helpers.ts";

/** Start a process holding the lock at `path`, then stop it. Returns how to end it. */
async function stoppedHolder(path: string): Promise<{ pid: number; end: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./lock_holder.ts", import.meta.url).pathname, path],
    stdout: "piped",
    env: { AUTORESEARCH_AGENT: "stuck-agent" },
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "locked"
  Deno.kill(child.pid, "SIGSTOP");
  return {
    pid: child.pid,
    end: async () => {
      Deno.kill(child.pid, "SIGKILL");
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel();
    },
  };
}

const FAST = { AUTORESEARCH_LOCK_TIMEOUT_S: "2" };

Deno.test("a stopped holder of the queue lock: claim, add and complete fail naming it", async () => {
  const { kb } = await scratch();
  const [card] = await writeCards(kb, [{ hypothesis: "baseline", status: "pending" }]);
  const add = (hypothesis: string, env = {}) =>
    cli(["director", "add", "--kb", kb, "--hypothesis", hypothesis, "--category", "other"], env);
  assert.equal((await add("first idea")).code, 0);
  const claimed = await cli(["director", "claim", "--agent", "a", "--kb", kb, "--json"]);
  const item = JSON.parse(claimed.stdout).claimed.id as string;
  const before = await listTree(join(kb, "queue"));

  const holder = await stoppedHolder(join(kb, "queue", ".lock"));
  try {
    const started = Date.now();
    const runs = await Promise.all([
      cli(["director", "claim", "--agent", "b", "--kb", kb], FAST),
      add("second idea", FAST),
      cli(["director", "complete", item, "--card", card, "--agent", "a", "--kb", kb], FAST),
    ]);
    assert.ok(Date.now() - started < 60_000, "bounded wait");
    for (const run of runs) {
      assertRefused(
        run,
        1,
        new RegExp(`queue/\\.lock: lock still held by pid ${holder.pid} .*agent stuck-agent`),
      );
      assert.match(run.stderr, /waiting for lock .*queue\/\.lock held by pid/);
    }
  } finally {
    await holder.end();
  }
  assert.deepEqual(await listTree(join(kb, "queue")), before, "nothing written");
  // With the holder gone, the same command works at once.
  assert.equal((await add("second idea")).code, 0);
});

Deno.test("a stopped holder of the base lock: retract and judging fail naming it", async () => {
  const { kb } = await scratch();
  const [card] = await writeCards(kb, [{ hypothesis: "baseline", status: "pending" }]);
  const holder = await stoppedHolder(join(kb, ".lock"));
  try {
    const retract = await cli(["retract", "--id", card, "--reason", "bad run", "--kb", kb], FAST);
    assertRefused(retract, 1, new RegExp(`\\.lock: lock still held by pid ${holder.pid}`));
    const judge = await cli(
      ["write-card", "--complete", card, "--status", "keep", "--kb", kb],
      FAST,
    );
    assertRefused(judge, 1, new RegExp(`\\.lock: lock still held by pid ${holder.pid}`));
  } finally {
    await holder.end();
  }
  assert.deepEqual(await listTree(join(kb, "retractions")), []);
  assert.deepEqual(await listTree(join(kb, "completions")), []);
});

Deno.test("a stopped process holding the index's write lock: readers still answer", async () => {
  const { kb } = await scratch();
  await writeCards(kb, [{ hypothesis: "first" }]);
  assert.equal((await cli(["list-cards", "--kb", kb])).code, 0); // the index exists now
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./sqlite_holder.ts", import.meta.url).pathname,
      join(kb, "index.sqlite"),
    ],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "locked"
  Deno.kill(child.pid, "SIGSTOP");
  try {
    await writeCards(kb, [{ hypothesis: "second", seed: 1 }]); // the index must be updated
    const started = Date.now();
    const listed = await cli(["list-cards", "--kb", kb], FAST);
    assert.ok(Date.now() - started < 30_000, "bounded");
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout.trim().split("\n").length, 2);
    assert.match(listed.stderr, /warning: skipped .*index\.sqlite: locked by another process/);
  } finally {
    Deno.kill(child.pid, "SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
  }
});
