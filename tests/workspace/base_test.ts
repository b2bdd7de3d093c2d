/**
 * Every command that creates a knowledge base gives it its `.gitignore` (so `git add -A` never
 * commits the derived index or views), and the library's `readBrief` shows the queue.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { addItem, openKnowledgeBase, readBrief } from "../../mod.ts";

function gitignoreOf(kb: string): string | null {
  try {
    return Deno.readTextFileSync(join(kb, ".gitignore"));
  } catch {
    return null;
  }
}

// [name, args, whether the base directory exists (empty) before the command runs]
const CREATORS: [string, string[], boolean][] = [
  ["read-brief", ["read-brief"], true],
  ["update-meta", ["update-meta"], false],
  ["plot", ["plot"], false],
  ["coverage", ["coverage"], true],
  ["director add", [
    "director",
    "add",
    "--hypothesis",
    "raise the matrix learning rate to 0.05",
    "--category",
    "learning_rate",
  ], false],
  ["director plan", ["director", "plan"], true],
];

for (const [name, args, exists] of CREATORS) {
  Deno.test(`${name} on a new or empty base writes the base's .gitignore`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "ar-base-" });
    try {
      const kb = join(dir, "kb");
      if (exists) await Deno.mkdir(kb);
      const result = await runCli([...args, "--kb", kb]);
      assert.equal(result.code, 0, result.stderr);
      const ignore = gitignoreOf(kb);
      assert(ignore !== null, `${name} left ${kb} without a .gitignore`);
      for (const line of ["index.sqlite*", "views", ".lock"]) {
        assert(ignore.split("\n").includes(line), `.gitignore lacks ${line}`);
      }
      // git itself agrees: nothing derived shows up as addable.
      const git = (...a: string[]) =>
        new Deno.Command("git", { args: a, cwd: kb, stdout: "piped", stderr: "piped" }).output();
      await git("init", "-q");
      const status = new TextDecoder().decode((await git("status", "--porcelain", "-uall")).stdout);
      assert(!/index\.sqlite|views\//.test(status), `derived files would be committed:\n${status}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("the library's readBrief lists pending queue items", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ar-base-" });
  try {
    const added = await addItem({ kb: dir }, {
      hypothesis: "try a warmdown ratio of 0.7",
      category: "schedule",
      priority: 2,
      createdBy: "director",
    });
    assert(added.item !== null);
    const kb = openKnowledgeBase(dir);
    try {
      const { text } = await readBrief(kb);
      assert(!text.includes("queue: empty"), text);
      assert.ok(text.includes(added.item.id), text);
    } finally {
      kb.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
