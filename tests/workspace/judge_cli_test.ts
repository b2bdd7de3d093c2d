/**
 * Judging from the CLI: a crash card can carry a lesson (`write-card --complete ID --status crash
 * --lesson ...`), and a bad `--complete` is reported as `--complete`, the flag the user typed.
 */
import assert from "node:assert/strict";
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { listDir, runCli, sampleInput, tempKb } from "../knowledge/helpers.ts";
import { join } from "node:path";

Deno.test("a crash card takes a lesson through write-card --complete --status crash", async () => {
  const dir = await tempKb();
  try {
    const kb = openKnowledgeBase(dir);
    const crash = await kb.writeCard(
      sampleInput({ status: "crash", results: { val_bpb: null }, lesson: undefined }),
    );
    kb.close();
    const lesson = "lr 1e12 diverges at step 0: the loss is NaN before the first update";
    const ok = await runCli([
      "write-card",
      "--complete",
      crash.id,
      "--status",
      "crash",
      "--lesson",
      lesson,
      "--kb",
      dir,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const shown = await runCli(["show-card", crash.id, "--kb", dir, "--json"]);
    assert.equal(JSON.parse(shown.stdout).completion.lesson, lesson);
    const brief = await runCli(["read-brief", "--kb", dir, "--json"]);
    assert.ok(brief.stdout.includes("lr 1e12 diverges"), brief.stdout);
    // A crash is judged crash, nothing else: a keep is refused and names --complete.
    const keep = await runCli([
      "write-card",
      "--complete",
      crash.id,
      "--status",
      "keep",
      "--kb",
      dir,
    ]);
    assert.equal(keep.code, 2);
    assert.match(keep.stderr, /^error: --complete: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad --complete is reported as --complete, not --card, and writes nothing", async () => {
  const dir = await tempKb();
  try {
    const kb = openKnowledgeBase(dir);
    const kept = await kb.writeCard(sampleInput({ status: "keep" }));
    kb.close();
    const before = listDir(join(dir, "completions"));
    for (
      const target of [kept.id, "card_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "not-a-card"]
    ) {
      const result = await runCli([
        "write-card",
        "--complete",
        target,
        "--status",
        "discard",
        "--kb",
        dir,
      ]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^error: --complete: /, result.stderr);
      assert.ok(!result.stderr.includes("--card"), result.stderr);
    }
    assert.deepEqual(listDir(join(dir, "completions")), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
