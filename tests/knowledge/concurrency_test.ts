/**
 * Concurrency with real processes: 8 writers x 50 cards at once give 400 readable cards and a
 * consistent index; a writer killed with SIGKILL mid-write leaves no partial card.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { listDir, runCli, sampleInput, tempKb } from "./helpers.ts";

const WRITER = fileURLToPath(new URL("./writer_proc.ts", import.meta.url));

function spawnWriter(dir: string, count: number, mode = ""): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, dir, String(count), ...(mode ? [mode] : [])],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

Deno.test("8 processes x 50 cards at once: 400 cards, all readable, index consistent", async () => {
  const dir = await tempKb();
  const writers = Array.from({ length: 8 }, () => spawnWriter(dir, 50));
  const results = await Promise.all(writers.map((w) => w.output()));
  for (const result of results) {
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  }
  const files = listDir(join(dir, "cards")).filter((name) => name.endsWith(".json"));
  assert.equal(files.length, 400);
  const kb = openKnowledgeBase(dir);
  const cards = await kb.listCards();
  assert.deepEqual(await kb.skipped(), []);
  assert.equal(cards.length, 400);
  assert.deepEqual(cards.map((c) => `${c.id}.json`).sort(), files.sort());
  for (const name of files) kb.getCard(name.slice(0, -5)); // every file parses and validates
  const perWriter = new Map<string, number>();
  for (const card of cards) perWriter.set(card.agent, (perWriter.get(card.agent) ?? 0) + 1);
  assert.deepEqual([...perWriter.values()], Array(8).fill(50));
  // A rebuild from scratch agrees with the incrementally built index.
  await kb.rebuildIndex();
  assert.deepEqual((await kb.listCards()).map((c) => c.id), cards.map((c) => c.id));
  kb.close();
});

Deno.test("SIGKILL mid-write leaves no partial card", async () => {
  const dir = await tempKb();
  for (let round = 0; round < 4; round++) {
    const writer = spawnWriter(dir, 0, "big");
    const start = listDir(join(dir, "cards")).length;
    // Let it get going (at least one card), then kill it at an arbitrary moment.
    const deadline = Date.now() + 60_000;
    while (listDir(join(dir, "cards")).filter((n) => n.endsWith(".json")).length <= start) {
      if (Date.now() > deadline) throw new Error("writer made no progress");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 7 * round));
    writer.kill("SIGKILL");
    const status = await writer.status;
    assert.equal(status.signal, "SIGKILL");
    await writer.stderr.cancel();
  }
  const kb = openKnowledgeBase(dir);
  const cards = await kb.listCards();
  assert.deepEqual(await kb.skipped(), [], "no partial or corrupt card");
  const files = listDir(join(dir, "cards")).filter((n) => n.endsWith(".json"));
  assert.equal(cards.length, files.length);
  for (const card of cards) assert.equal(kb.getCard(card.id).card.recipe_diff?.length, 24 * 8000);
  kb.close();
});

Deno.test("concurrent first reads of a fresh base build one consistent index", async () => {
  const dir = await tempKb();
  const kb = openKnowledgeBase(dir);
  for (let i = 0; i < 200; i++) {
    await kb.writeCard(sampleInput({ seed: i, recipe_hash: `r${i % 40}` }));
  }
  kb.close();
  const results = await Promise.all(
    Array.from({ length: 6 }, () => runCli(["read-brief", "--kb", dir, "--json"])),
  );
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  const briefs = results.map((result) => JSON.parse(result.stdout));
  for (const brief of briefs) {
    assert.equal(brief.cards, 200);
    assert.deepEqual(brief.best, briefs[0].best);
  }
});
