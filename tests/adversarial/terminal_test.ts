/**
 * Hostile names and hostile text: a queue item file named with terminal escape sequences, card
 * text with escape sequences, bidi overrides and zero-width characters, and card text with
 * `<script>` / `<!--`. No command prints a raw control byte, bidi or zero-width character
 * (file names included), JSON output stays exact, and generated Markdown carries no live markup.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { addItem, cli, hasRawHostileBytes, HOSTILE_TEXT, scratch, writeCards } from "./helpers.ts";

const EVIL_NAME = "item_\x1b]0;owned\x07\x1b[2J\u202e.json";

Deno.test("a queue item file named with escape sequences is reported, never printed raw", async () => {
  const { kb } = await scratch();
  await writeCards(kb, [{ hypothesis: "baseline" }]);
  const added = await addItem(kb, "raise the matrix learning rate", "learning_rate");
  assert.equal(added.code, 0, added.stderr);
  await Deno.writeTextFile(join(kb, "queue", "items", EVIL_NAME), "{}");
  await Deno.writeTextFile(join(kb, "queue", "events", EVIL_NAME), "{}");
  const runs = [
    await cli(["director", "status", "--kb", kb]),
    await addItem(kb, "deeper model", "architecture"),
    await cli(["director", "plan", "--kb", kb]),
    await cli(["director", "claim", "--agent", "a", "--kb", kb]),
  ];
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!hasRawHostileBytes(run.stdout + run.stderr), JSON.stringify(run.stderr));
    assert.match(run.stderr, /warning: .*item_\\x1b\]0;owned\\x07\\x1b\[2J\\u\{202e\}\.json/);
  }
});

Deno.test("hostile card text is escaped in every printer; JSON stays exact", async () => {
  const { kb } = await scratch();
  const [first, second] = await writeCards(kb, [
    { hypothesis: HOSTILE_TEXT, lesson: HOSTILE_TEXT, session: "s\u200b1" },
    { hypothesis: "plain", seed: 1 },
  ]);
  // A skipped file with a hostile name gets its warning escaped too.
  await Deno.writeTextFile(join(kb, "cards", "card_\x1b[2J\u202e.json"), "{}");
  const runs = [
    await cli(["read-brief", "--kb", kb]),
    await cli(["list-cards", "--kb", kb]),
    await cli(["show-card", first, "--kb", kb]),
    await cli(["lineage", second, "--kb", kb]),
    await cli(["read-meta", "--kb", kb]),
    await cli(["coverage", "--kb", kb]),
  ];
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!hasRawHostileBytes(run.stdout), JSON.stringify(run.stdout));
    assert.ok(!hasRawHostileBytes(run.stderr), JSON.stringify(run.stderr));
  }
  assert.match(runs[0].stderr, /warning: skipped .*card_\\x1b\[2J\\u\{202e\}\.json/);
  assert.match(runs[2].stdout, /ok\\x1b\]0;pwned\\x07\\x1b\[2J\\u\{202e\}evil/);

  const json = await cli(["show-card", first, "--kb", kb, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  assert.ok(!hasRawHostileBytes(json.stdout));
  assert.equal(JSON.parse(json.stdout).card.hypothesis, HOSTILE_TEXT, "JSON keeps the exact text");
});

Deno.test("views/meta.md and session reports carry no live markup from card text", async () => {
  const { kb } = await scratch();
  await writeCards(kb, [
    { hypothesis: HOSTILE_TEXT, lesson: "<!-- hide the rest", status: "keep" },
    { hypothesis: "<script>alert(2)</script>", seed: 1, status: "discard" },
  ]);
  const meta = await cli(["update-meta", "--kb", kb]);
  assert.equal(meta.code, 0, meta.stderr);
  const report = await cli(["synthesize", "--session", "s1", "--kb", kb]);
  assert.equal(report.code, 0, report.stderr);
  const sessions = [...Deno.readDirSync(join(kb, "views", "sessions"))].map((e) => e.name);
  assert.deepEqual(sessions, ["s1.md"]);
  for (const path of [join(kb, "views", "meta.md"), join(kb, "views", "sessions", "s1.md")]) {
    const text = await Deno.readTextFile(path);
    assert.doesNotMatch(text, /<script|<!--/i, path);
    assert.match(text, /&lt;script&gt;/);
    assert.ok(!hasRawHostileBytes(text), path);
  }
});
