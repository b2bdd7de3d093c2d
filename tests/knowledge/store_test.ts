/**
 * The record store and its derived index: immutable card files, judgements and retractions as
 * separate records, incremental index refresh, rebuild, and every kind of on-disk corruption
 * reported (path + reason) and skipped without being overwritten.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { DataError, UsageError } from "../../src/util/errors.ts";
import { listDir, sampleInput, tempKb } from "./helpers.ts";

Deno.test("writeCard creates one immutable file named by a unique id", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  const card = await kb.writeCard(sampleInput());
  assert.match(card.id, /^card_[0-9A-Z]{26}$/);
  assert.deepEqual(listDir(join(dir, "cards")), [`${card.id}.json`]);
  const stored = JSON.parse(await Deno.readTextFile(join(dir, "cards", `${card.id}.json`)));
  assert.deepEqual(stored, card);
  assert.ok(listDir(dir).includes(".gitignore"));
  assert.match(await Deno.readTextFile(join(dir, ".gitignore")), /index\.sqlite/);
});

Deno.test("the same commit recorded twice in one second gives two cards, no overwrite", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  const a = await kb.writeCard(sampleInput({ commit: "abc1234", hypothesis: "first" }));
  const b = await kb.writeCard(sampleInput({ commit: "abc1234", hypothesis: "second" }));
  assert.notEqual(a.id, b.id);
  assert.equal(listDir(join(dir, "cards")).length, 2);
  assert.equal(kb.getCard(a.id).card.hypothesis, "first");
  assert.equal(kb.getCard(b.id).card.hypothesis, "second");
});

Deno.test("a pending card is judged by a completion record; the card file is untouched", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  const card = await kb.writeCard(sampleInput({ status: "pending", lesson: undefined }));
  const path = join(dir, "cards", `${card.id}.json`);
  const before = await Deno.readTextFile(path);
  let [summary] = await kb.listCards();
  assert.equal(summary.status, "pending");
  await kb.completeCard(card.id, { status: "revert", agent: "judge", lesson: "no gain" });
  assert.equal(await Deno.readTextFile(path), before);
  [summary] = await kb.listCards();
  assert.equal(summary.status, "discard");
  assert.equal(summary.written_status, "pending");
  assert.equal(summary.lesson, "no gain");
  const detail = kb.getCard(card.id);
  assert.equal(detail.status, "discard");
  assert.equal(detail.completion?.agent, "judge");
  // A judgement is revised only with a reason, by a record that supersedes it.
  await assert.rejects(
    () => kb.completeCard(card.id, { status: "keep", agent: "x" }),
    /already judged discard .*; revising a judgement needs a reason/,
  );
  const kept = await kb.writeCard(sampleInput());
  await assert.rejects(
    () => kb.completeCard(kept.id, { status: "keep", agent: "x" }),
    /written with status keep/,
  );
  await assert.rejects(
    () => kb.completeCard(card.id, { status: "maybe" as "keep", agent: "x" }),
    UsageError,
  );
});

Deno.test("a pending card judged crash loses its val_bpb", async () => {
  const kb = openKnowledgeBase(await tempKb());
  const card = await kb.writeCard(sampleInput({ status: "pending", results: { val_bpb: 0.5 } }));
  await kb.completeCard(card.id, { status: "crash", agent: "judge" });
  const [summary] = await kb.listCards();
  assert.equal(summary.status, "crash");
  assert.equal(summary.val_bpb, null);
});

Deno.test("retract writes its own record; the card stays, flagged; twice is refused", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  const card = await kb.writeCard(sampleInput());
  await kb.retract(card.id, "baseline was misconfigured", "lead");
  assert.equal(listDir(join(dir, "retractions")).length, 1);
  assert.equal(listDir(join(dir, "cards")).length, 1);
  const [summary] = await kb.listCards();
  assert.equal(summary.retracted, true);
  assert.equal(summary.retraction_reason, "baseline was misconfigured");
  assert.deepEqual(await kb.listCards({ includeRetracted: false }), []);
  await assert.rejects(() => kb.retract(card.id, "again", "lead"), /already retracted/);
  await assert.rejects(() => kb.retract(card.id, "  ", "lead"), /reason: must not be empty/);
});

Deno.test("path-like and unknown ids are usage errors, never file access", async () => {
  const kb = openKnowledgeBase(await tempKb());
  for (const id of ["../x", "card_../../etc/passwd", "", "cards/x"]) {
    assert.throws(
      () => kb.getCard(id),
      (e: unknown) => e instanceof UsageError && /card id/.test(e.rule),
    );
    await assert.rejects(() => kb.retract(id, "r", "a"), UsageError);
    await assert.rejects(() => kb.completeCard(id, { status: "keep", agent: "a" }), UsageError);
    await assert.rejects(() => kb.lineage(id), UsageError);
  }
  assert.throws(() => kb.getCard("card_01J9Z0000000000000000000AA"), /no card/);
});

const CORRUPT: [string, Uint8Array | string, RegExp][] = [
  ["truncated", '{"schema": 1, "id": "card_', /invalid JSON/],
  ["empty", "", /empty file/],
  ["list", "[1, 2]", /JSON list/],
  ["missing fields", '{"schema": 1}', /is required/],
  ["non-utf8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /UTF-8/],
  ["wrong type", "WRONG_TYPE", /must be a number/],
  ["number", "42", /JSON number/],
];

Deno.test("corrupt card files are reported with path and reason, skipped, never overwritten", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  const good = await kb.writeCard(sampleInput());
  const goodJson = JSON.parse(await Deno.readTextFile(join(dir, "cards", `${good.id}.json`)));
  const files = new Map<string, Uint8Array>();
  for (const [name, content, _reason] of CORRUPT) {
    const id = (await kb.writeCard(sampleInput({ hypothesis: name }))).id;
    let bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    if (content === "WRONG_TYPE") {
      bytes = new TextEncoder().encode(
        JSON.stringify({ ...goodJson, id, results: { val_bpb: "0.9" } }),
      );
    }
    const path = join(dir, "cards", `${id}.json`);
    await Deno.writeFile(path, bytes);
    files.set(path, bytes);
  }
  const cards = await kb.listCards();
  assert.deepEqual(cards.map((c) => c.id), [good.id]);
  const skipped = await kb.skipped();
  assert.equal(skipped.length, CORRUPT.length);
  for (const [name, _content, reason] of CORRUPT) {
    const hit = skipped.filter((s) => reason.test(s.reason));
    assert.ok(hit.length >= 1, `${name}: no skip matching ${reason} in ${JSON.stringify(skipped)}`);
    assert.ok(hit.every((s) => files.has(s.path)));
  }
  // Further writes, refreshes and rebuilds never touch the corrupt files.
  await kb.writeCard(sampleInput());
  await kb.rebuildIndex();
  for (const [path, bytes] of files) assert.deepEqual(await Deno.readFile(path), bytes);
  assert.throws(() => kb.getCard([...files.keys()][0].split("/").at(-1)!.slice(0, -5)), DataError);
});

Deno.test("a repaired file is picked up; a card whose id disagrees with its name is skipped", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  const card = await kb.writeCard(sampleInput());
  const path = join(dir, "cards", `${card.id}.json`);
  const original = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, "{");
  assert.equal((await kb.listCards()).length, 0);
  await Deno.writeTextFile(path, original + " ");
  assert.equal((await kb.listCards()).length, 1);
  const other = await kb.writeCard(sampleInput());
  await Deno.writeTextFile(join(dir, "cards", `${other.id}.json`), original);
  assert.equal((await kb.listCards()).length, 1);
  assert.match((await kb.skipped())[0].reason, /does not match file name/);
  await Deno.writeTextFile(join(dir, "cards", "notes.json"), "{}");
  assert.ok((await kb.skipped()).some((s) => /record name/.test(s.reason)));
});

Deno.test("the index is incremental, survives deletion and corruption, and drops vanished files", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  for (let i = 0; i < 5; i++) await kb.writeCard(sampleInput({ seed: i }));
  assert.equal((await kb.refreshIndex()).added, 5);
  assert.equal((await kb.refreshIndex()).added, 0);
  const extra = await kb.writeCard(sampleInput({ seed: 9 }));
  assert.equal((await kb.refreshIndex()).added, 1);
  await Deno.remove(join(dir, "cards", `${extra.id}.json`));
  assert.equal((await kb.refreshIndex()).removed, 1);
  kb.close();
  // Garbage in place of the index: rebuilt from the cards.
  await Deno.writeTextFile(join(dir, "index.sqlite"), "this is not a database".repeat(100));
  for (const suffix of ["-wal", "-shm"]) {
    await Deno.remove(join(dir, `index.sqlite${suffix}`)).catch(() => {});
  }
  const again = openKnowledgeBase(dir);
  assert.equal((await again.listCards()).length, 5);
  again.close();
  // Deleted index: rebuilt.
  for (const suffix of ["", "-wal", "-shm"]) {
    await Deno.remove(join(dir, `index.sqlite${suffix}`)).catch(() => {});
  }
  const fresh = openKnowledgeBase(dir);
  assert.equal((await fresh.listCards()).length, 5);
  assert.equal((await fresh.rebuildIndex()).added, 5);
  fresh.close();
});

Deno.test("a temp file left by a killed writer is neither a card nor a skip", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  await kb.writeCard(sampleInput());
  await Deno.writeTextFile(join(dir, "cards", ".tmp-1234-abc"), '{"partial');
  assert.equal((await kb.listCards()).length, 1);
  assert.deepEqual(await kb.skipped(), []);
});

Deno.test("a missing base reads as empty and creates nothing", async () => {
  const dir = join(await tempKb(), "none");
  const kb = openKnowledgeBase(dir);
  assert.deepEqual(await kb.listCards(), []);
  assert.deepEqual(listDir(dir), []);
});

Deno.test("lineage follows prior_cards both ways, transitively", async () => {
  const kb = openKnowledgeBase(await tempKb());
  const a = await kb.writeCard(sampleInput({ hypothesis: "a" }));
  const b = await kb.writeCard(sampleInput({ hypothesis: "b", prior_cards: [a.id] }));
  const c = await kb.writeCard(sampleInput({ hypothesis: "c", prior_cards: [b.id, a.id] }));
  const d = await kb.writeCard(sampleInput({ hypothesis: "d", prior_cards: [c.id] }));
  const ofC = await kb.lineage(c.id);
  assert.deepEqual(ofC.ancestors.map((x) => [x.id, x.depth]), [[b.id, 1], [a.id, 1]]);
  assert.deepEqual(ofC.descendants.map((x) => [x.card.id, x.depth]), [[d.id, 1]]);
  const ofA = await kb.lineage(a.id);
  assert.deepEqual(ofA.ancestors, []);
  assert.deepEqual(ofA.descendants.map((x) => x.card.id).sort(), [b.id, c.id, d.id].sort());
});

Deno.test("warm reads skip listing a settled directory, yet see every new record", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  for (let i = 0; i < 3; i++) await kb.writeCard(sampleInput({ seed: i }));
  const old = new Date(Date.now() - 3_600_000);
  for (const sub of ["cards", "completions", "retractions"]) {
    Deno.utimeSync(join(dir, sub), old, old);
  }
  assert.equal((await kb.listCards()).length, 3); // full scan, records the settled mtimes
  assert.equal((await kb.listCards()).length, 3); // skips listing
  // Proof that listing was skipped: a card slipped in with the old mtime restored is unseen
  // until update-index rebuilds (cards are only ever added through a new directory entry).
  const hidden = await openKnowledgeBase(dir).writeCard(sampleInput({ seed: 7 }));
  Deno.utimeSync(join(dir, "cards"), old, old);
  assert.equal((await kb.listCards()).length, 3);
  await kb.rebuildIndex();
  assert.ok((await kb.listCards()).some((c) => c.id === hidden.id));
  const card = await kb.writeCard(sampleInput({ seed: 9, status: "pending" }));
  assert.equal((await kb.listCards()).length, 5);
  await kb.completeCard(card.id, { status: "keep", agent: "a" });
  await kb.retract(card.id, "oops", "a");
  const [latest] = (await kb.listCards()).slice(-1);
  assert.equal(latest.status, "keep");
  assert.equal(latest.retracted, true);
});

Deno.test("the cached synthesis is recomputed after any new record", async () => {
  const kb = openKnowledgeBase(await tempKb());
  await kb.writeCard(sampleInput({ results: { val_bpb: 1.0 } }));
  assert.equal((await kb.synthesis()).classes[0].best?.val_bpb, 1.0);
  assert.equal((await kb.synthesis()).total, 1);
  const better = await kb.writeCard(sampleInput({ recipe_hash: "r2", results: { val_bpb: 0.9 } }));
  assert.equal((await kb.synthesis()).classes[0].best?.val_bpb, 0.9);
  await kb.retract(better.id, "bad eval", "a");
  const synthesis = await kb.synthesis();
  assert.equal(synthesis.classes[0].best?.val_bpb, 1.0);
  assert.equal(synthesis.retracted, 1);
});

Deno.test("an unusable cached synthesis state is recomputed, never trusted", async () => {
  const { DatabaseSync } = await import("node:sqlite");
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  await kb.writeCard(sampleInput({ results: { val_bpb: 1.0 } }));
  await kb.synthesis();
  kb.close();
  const db = new DatabaseSync(join(dir, "index.sqlite"));
  for (const value of ["0:{not json", '0:{"version":1}', '0:{"version":3,"deferred":7}']) {
    db.prepare("UPDATE meta SET value = ? WHERE key = 'cache:synthesis-state'").run(value);
    db.prepare("INSERT OR REPLACE INTO meta VALUES ('generation', '1')").run();
    db.prepare("INSERT OR REPLACE INTO meta VALUES ('full_epoch', '0')").run();
    const reopened = openKnowledgeBase(dir);
    await reopened.writeCard(sampleInput({ recipe_hash: "r2", results: { val_bpb: 0.9 } }));
    const synthesis = await reopened.synthesis();
    assert.equal(synthesis.total, (await reopened.listCards()).length, value);
    assert.equal(synthesis.classes[0].best?.val_bpb, 0.9);
    reopened.close();
  }
  db.close();
});

Deno.test("when the index file cannot be created, reads still work from an in-memory index", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  await kb.writeCard(sampleInput());
  await Deno.mkdir(join(dir, "index.sqlite")); // not a file: sqlite cannot open it
  await Deno.writeTextFile(join(dir, "index.sqlite", "keep"), "x");
  assert.equal((await kb.listCards()).length, 1);
  assert.equal((await kb.synthesis()).total, 1);
  kb.close();
});
