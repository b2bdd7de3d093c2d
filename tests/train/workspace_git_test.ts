/**
 * The git state a run records (real git in a scratch repository): a clean checkout is not
 * dirty; an uncommitted edit of the recipe is dirty with the edit as the diff; a recipe that was
 * never committed is dirty with the whole file; untracked notes do not count; outside git there
 * is no commit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gitState } from "../../src/train/workspace_git.ts";
import { git } from "../workspace/helpers.ts";

Deno.test("git state: clean, edited, never committed, untracked notes, no git", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ws-git-" });
  try {
    const recipe = join(dir, "recipe.ts");
    const none = await gitState(recipe);
    assert.deepEqual(none, { dirty: false }, "outside git: no commit");
    await git(dir, "init", "-q");
    await Deno.writeTextFile(recipe, "export const lr = 0.04;\n");
    await Deno.writeTextFile(join(dir, "program.md"), "notes\n");
    await git(dir, "add", "program.md");
    await git(dir, "commit", "-qm", "program");
    const fresh = await gitState(recipe);
    assert.equal(fresh.dirty, true, "the recipe was never committed");
    assert.match(fresh.diff ?? "", /\+export const lr = 0\.04;/);
    await git(dir, "add", "recipe.ts");
    await git(dir, "commit", "-qm", "recipe");
    await Deno.writeTextFile(join(dir, "notes.txt"), "untracked\n");
    const clean = await gitState(recipe);
    assert.match(clean.commit ?? "", /^[0-9a-f]{40}$/);
    assert.equal(clean.dirty, false, "untracked notes do not make it dirty");
    assert.equal(clean.diff, undefined);
    await Deno.writeTextFile(recipe, "export const lr = 0.05;\n");
    const edited = await gitState(recipe);
    assert.equal(edited.commit, clean.commit, "commit = HEAD, flagged dirty");
    assert.equal(edited.dirty, true);
    assert.match(edited.diff ?? "", /-export const lr = 0\.04;\n\+export const lr = 0\.05;/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
