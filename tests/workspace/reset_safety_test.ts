/**
 * Cards survive everything an agent does to its experiment branch: in a workspace the knowledge
 * base is its own git repository, ignored by the experiment repository, so `git reset --hard`,
 * checkouts and even `git clean -fdx` of an experiment never lose a record, committed or not.
 * A control shows the same steps do lose cards when the base lives inside the experiment history.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cardFiles, cli, git } from "./helpers.ts";

async function writeCards(cwd: string, count: number, kb?: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const result = await cli(cwd, [
      "write-card",
      "--hypothesis",
      `idea ${i}`,
      "--result",
      String(1.5 + i / 100),
      "--status",
      "discard",
      "--harness-hash",
      "h1",
      "--recipe-hash",
      `r${i}`,
      "--budget",
      "300",
      ...(kb ? ["--kb", kb] : []),
    ]);
    assert.equal(result.code, 0, result.stderr);
    ids.push(result.stdout.trim());
  }
  return ids;
}

Deno.test("cards survive git reset --hard, checkouts and git clean -fdx of the experiment branch", async () => {
  const ws = await Deno.makeTempDir({ prefix: "ar-reset-" });
  try {
    assert.equal((await cli(ws, ["init"])).code, 0);
    const kb = join(ws, "knowledge");
    await git(ws, "checkout", "-q", "-b", "autoresearch/test");
    // Two cards committed to the knowledge repository, one written after (never committed).
    const committed = await writeCards(ws, 2);
    await git(kb, "add", "-A");
    await git(kb, "commit", "-q", "-m", "cards");
    const kbHead = await git(kb, "rev-parse", "HEAD");
    // An experiment: edit, commit, a card for it, then revert the commit the way program.md says.
    await Deno.writeTextFile(join(ws, "recipe.ts"), "// experiment\n", { append: true });
    await git(ws, "commit", "-q", "-am", "try: an experiment");
    const late = await writeCards(ws, 1);
    await git(ws, "reset", "-q", "--hard", "HEAD~1");
    await git(ws, "checkout", "-q", "main");
    await git(ws, "checkout", "-q", "-b", "autoresearch/other");
    await git(ws, "checkout", "-q", "autoresearch/test");
    await git(ws, "clean", "-q", "-fdx");
    const expected = [...committed, ...late].map((id) => `${id}.json`).sort();
    assert.deepEqual(cardFiles(kb), expected);
    assert.equal(await git(kb, "rev-parse", "HEAD"), kbHead, "the base's history is untouched");
    const listed = await cli(ws, ["list-cards", "--json"]);
    assert.equal(JSON.parse(listed.stdout).length, 3, listed.stderr);
  } finally {
    await Deno.remove(ws, { recursive: true });
  }
});

Deno.test("control: a base tracked inside the experiment history loses cards on reset", async () => {
  const repo = await Deno.makeTempDir({ prefix: "ar-reset-" });
  try {
    await git(repo, "init", "-q", "-b", "main");
    await Deno.writeTextFile(join(repo, "recipe.ts"), "// baseline\n");
    await git(repo, "add", "-A");
    await git(repo, "commit", "-q", "-m", "baseline");
    await writeCards(repo, 1, "knowledge");
    await Deno.writeTextFile(join(repo, "recipe.ts"), "// experiment\n", { append: true });
    await git(repo, "add", "-A"); // an agent's `git add -A` takes the card into the experiment
    await git(repo, "commit", "-q", "-m", "try: an experiment");
    await git(repo, "reset", "-q", "--hard", "HEAD~1");
    assert.deepEqual(cardFiles(join(repo, "knowledge")), []);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});
