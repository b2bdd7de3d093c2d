/**
 * `autoresearch init [DIR]`: the layout of a new workspace (recipe, instructions, .gitignore,
 * a knowledge base in its own git repository, the baseline commit), idempotence (a second run
 * changes nothing, an edited recipe is kept), and bad input refused with nothing written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, git } from "./helpers.ts";
import { DEFAULT_TEMPLATE } from "../../src/workspace/mod.ts";

Deno.test("init lays out a workspace with a baseline commit and a separate knowledge repository", async () => {
  const root = await Deno.makeTempDir({ prefix: "ar-init-" });
  try {
    const ws = join(root, "research");
    const result = await cli(root, ["init", "research", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.dir, await Deno.realPath(ws));
    for (const name of ["recipe.ts", "program.md", "director.md"]) {
      assert.equal(
        await Deno.readTextFile(join(ws, name)),
        DEFAULT_TEMPLATE.files[name],
        `${name} is the embedded template`,
      );
    }
    // The baseline commit holds exactly the template and the .gitignore; nothing is left over.
    const tracked = (await git(ws, "ls-files")).split("\n").sort();
    assert.deepEqual(tracked, [".gitignore", "director.md", "program.md", "recipe.ts"]);
    assert.match(await git(ws, "log", "--format=%s"), /^baseline: /);
    assert.equal(await git(ws, "status", "--porcelain", "--ignored=no"), "");
    // knowledge/ is ignored by the experiment repository and is its own repository.
    assert.equal(await git(ws, "check-ignore", "knowledge/"), "knowledge/");
    assert.equal(
      await Deno.realPath(await git(join(ws, "knowledge"), "rev-parse", "--show-toplevel")),
      await Deno.realPath(join(ws, "knowledge")),
    );
    assert.match(await Deno.readTextFile(join(ws, "knowledge", ".gitignore")), /index\.sqlite/);
    for (const derived of ["run.log", "run.json", "results.tsv", "checkpoints/x", "views/y"]) {
      assert.equal(await git(ws, "check-ignore", derived), derived, `${derived} is ignored`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("init again changes nothing and keeps an edited recipe", async () => {
  const root = await Deno.makeTempDir({ prefix: "ar-init-" });
  try {
    assert.equal((await cli(root, ["init"])).code, 0);
    const head = await git(root, "rev-parse", "HEAD");
    const again = await cli(root, ["init", "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).commit, null);
    assert.equal(await git(root, "rev-parse", "HEAD"), head);

    const edited = DEFAULT_TEMPLATE.files["recipe.ts"] + "\n// an agent's edit\n";
    await Deno.writeTextFile(join(root, "recipe.ts"), edited);
    await Deno.remove(join(root, "director.md"));
    const third = await cli(root, ["init", "--json"]);
    assert.equal(third.code, 0, third.stderr);
    const report = JSON.parse(third.stdout);
    const state = Object.fromEntries(
      report.files.map((f: { path: string; state: string }) => [f.path, f.state]),
    );
    assert.deepEqual(state, {
      "recipe.ts": "kept",
      "program.md": "unchanged",
      "director.md": "created",
    });
    assert.equal(await Deno.readTextFile(join(root, "recipe.ts")), edited, "the edit survives");
    // Only the restored file was committed; the edit stays an uncommitted change of the agent's.
    assert.equal(await git(root, "status", "--porcelain"), "M recipe.ts");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("init refuses bad input and writes nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "ar-init-" });
  try {
    await Deno.writeTextFile(join(root, "a-file"), "x");
    const onFile = await cli(root, ["init", "a-file"]);
    assert.equal(onFile.code, 2);
    assert.match(onFile.stderr, /^error: DIR: .*not a directory/);
    const badTrainer = await cli(root, ["init", "ws", "--trainer", "nonesuch"]);
    assert.equal(badTrainer.code, 2);
    assert.match(badTrainer.stderr, /^error: --trainer: must be one of default/);
    // A knowledge/ that is a link (it would take the records elsewhere) is refused up front.
    await Deno.mkdir(join(root, "elsewhere"));
    await Deno.mkdir(join(root, "linked"));
    await Deno.symlink(join(root, "elsewhere"), join(root, "linked", "knowledge"));
    const linked = await cli(root, ["init", "linked"]);
    assert.equal(linked.code, 2);
    assert.match(linked.stderr, /^error: knowledge: .*not a directory/);
    assert.deepEqual([...Deno.readDirSync(join(root, "linked"))].map((e) => e.name), ["knowledge"]);
    assert.deepEqual([...Deno.readDirSync(join(root, "elsewhere"))], []);
    // A repository that tracks knowledge/ (a clone of this project) is not made a workspace.
    const clone = join(root, "clone");
    await Deno.mkdir(join(clone, "knowledge"), { recursive: true });
    await Deno.writeTextFile(join(clone, "knowledge", "FORMAT.md"), "# format\n");
    await git(clone, "init", "-q");
    await git(clone, "add", "-A");
    await git(clone, "commit", "-q", "-m", "a project");
    const inClone = await cli(clone, ["init"]);
    assert.equal(inClone.code, 2);
    assert.match(inClone.stderr, /^error: DIR: .*tracks knowledge\/ in its own history/);
    assert.equal(await git(clone, "status", "--porcelain"), "");
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((e) => e.name).sort(),
      ["a-file", "clone", "elsewhere", "linked"],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
