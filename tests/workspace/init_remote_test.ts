/**
 * `autoresearch init --remote URL`: a workspace on a second machine starts from the shared
 * knowledge base (a clone), so `sync` moves cards both ways between workspaces; a remote that
 * cannot be cloned leaves nothing behind, and a base already shared elsewhere is not re-pointed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cardFiles, cli, git } from "./helpers.ts";

async function writeCard(ws: string, hypothesis: string): Promise<string> {
  const result = await cli(ws, [
    "write-card",
    "--hypothesis",
    hypothesis,
    "--result",
    "1.7",
    "--status",
    "discard",
    "--harness-hash",
    "h1",
    "--recipe-hash",
    "r1",
    "--budget",
    "300",
  ]);
  assert.equal(result.code, 0, result.stderr);
  return `${result.stdout.trim()}.json`;
}

Deno.test("two workspaces share one knowledge base through init --remote and sync", async () => {
  const root = await Deno.makeTempDir({ prefix: "ar-remote-" });
  try {
    const shared = join(root, "shared.git");
    await git(root, "init", "-q", "--bare", shared);
    assert.equal((await cli(root, ["init", "a", "--remote", shared])).code, 0);
    const a = join(root, "a");
    const first = await writeCard(a, "machine a: halve the batch");
    const syncA = await cli(a, ["sync"]);
    assert.equal(syncA.code, 0, syncA.stderr);

    const b = join(root, "b");
    const initB = await cli(root, ["init", "b", "--remote", shared, "--json"]);
    assert.equal(initB.code, 0, initB.stderr);
    assert.equal(JSON.parse(initB.stdout).knowledgeRepositoryCreated, true);
    assert.deepEqual(cardFiles(join(b, "knowledge")), [first], "b starts with a's card");
    const second = await writeCard(b, "machine b: double the warmup");
    assert.equal((await cli(b, ["sync"])).code, 0);
    assert.equal((await cli(a, ["sync"])).code, 0);
    assert.deepEqual(cardFiles(join(a, "knowledge")), [first, second].sort());
    // Each workspace's experiment history holds no card.
    assert.ok(!(await git(a, "ls-files")).includes("card_"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("init --remote refuses an unreachable remote and a base shared elsewhere", async () => {
  const root = await Deno.makeTempDir({ prefix: "ar-remote-" });
  try {
    const bad = await cli(root, ["init", "ws", "--remote", join(root, "no-such.git")]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --remote: cannot clone /);
    assert.deepEqual([...Deno.readDirSync(root)], [], "nothing left behind");
    const option = await cli(root, ["init", "ws", "--remote", "--upload-pack=touch x"]);
    assert.equal(option.code, 2);
    assert.deepEqual([...Deno.readDirSync(root)], []);

    assert.equal((await cli(root, ["init", "ws"])).code, 0);
    const one = join(root, "one.git");
    await git(root, "init", "-q", "--bare", one);
    assert.equal((await cli(root, ["init", "ws", "--remote", one])).code, 0, "origin set");
    assert.equal(await git(join(root, "ws", "knowledge"), "remote", "get-url", "origin"), one);
    const other = await cli(root, ["init", "ws", "--remote", join(root, "other.git")]);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /^error: --remote: .* already shares with origin /);
    assert.equal(await git(join(root, "ws", "knowledge"), "remote", "get-url", "origin"), one);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
