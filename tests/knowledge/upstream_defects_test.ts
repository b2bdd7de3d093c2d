/**
 * One test per defect of the commons fork (design/UPSTREAM.md) that applies to the knowledge
 * layer: each would have caught the defect. (Queue atomicity, dedup against the queue and
 * claims belong to the director; the real-process concurrency test is concurrency_test.ts.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isValidId } from "../../src/util/ids.ts";
import { openKnowledgeBase, readBrief, synthesize } from "../../src/knowledge/mod.ts";
import { baseFlags, listDir, runCli, sampleInput, tempKb } from "./helpers.ts";

Deno.test("defect: card writes failed on one platform -> every backend writes", async () => {
  const kb = openKnowledgeBase(await tempKb());
  for (const backend of ["webgpu", "cpu"] as const) {
    const card = await kb.writeCard(sampleInput({
      platform: { backend, device: `${backend} device`, vendor: "v", cores: 16, memory_gb: 128 },
    }));
    assert.equal(kb.getCard(card.id).card.platform.backend, backend);
  }
});

Deno.test("defect: auto-recorded runs were fake keeps -> pending is never a keep, best or finding", async () => {
  const kb = openKnowledgeBase(await tempKb());
  await kb.writeCard(sampleInput({ results: { val_bpb: 1.0 } }));
  const auto = await kb.writeCard(
    sampleInput({ status: "pending", recipe_hash: "r2", results: { val_bpb: 0.8 } }),
  );
  let synthesis = synthesize(await kb.listCards());
  assert.equal(synthesis.classes[0].best?.val_bpb, 1.0);
  assert.equal(synthesis.findings.length, 0);
  assert.equal(synthesis.coverage.find((r) => r.category === "batch_size")?.keep, 1);
  // Judging it adds a record, not a second card: the run is counted once.
  await kb.completeCard(auto.id, { status: "keep", agent: "a" });
  synthesis = synthesize(await kb.listCards());
  assert.equal(synthesis.total, 2);
  assert.equal(synthesis.classes[0].best?.id, auto.id);
  assert.equal(listDir(join(kb.dir, "cards")).length, 2);
});

Deno.test("defect: the CLI rejected `discard` -> discard and revert are accepted", async () => {
  const kb = await tempKb();
  for (const status of ["discard", "revert"]) {
    const result = await runCli([
      "write-card",
      ...baseFlags(kb),
      "--hypothesis",
      "h",
      "--result",
      "1",
      "--status",
      status,
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status, "discard");
  }
});

Deno.test("defect: a crash logged as val_bpb 0 became the best -> 0 rejected, crash is null", async () => {
  const kb = openKnowledgeBase(await tempKb());
  await assert.rejects(
    () => kb.writeCard(sampleInput({ status: "crash", results: { val_bpb: 0 } })),
    /greater than 0/,
  );
  await assert.rejects(
    () => kb.writeCard(sampleInput({ status: "crash", results: { val_bpb: 1.1 } })),
    /null for a crash/,
  );
  await assert.rejects(
    () => kb.writeCard(sampleInput({ results: { val_bpb: 0 } })),
    /greater than 0/,
  );
  await kb.writeCard(sampleInput({ results: { val_bpb: 1.2 } }));
  await kb.writeCard(sampleInput({ status: "crash", results: { val_bpb: null } }));
  assert.equal(synthesize(await kb.listCards()).classes[0].best?.val_bpb, 1.2);
});

Deno.test("defect: lessons were never shown to agents -> the brief lists them", async () => {
  const kb = openKnowledgeBase(await tempKb());
  await kb.writeCard(sampleInput({ lesson: "warmup hurts at this budget" }));
  assert.match((await readBrief(kb)).text, /warmup hurts at this budget/);
});

Deno.test("defect: a corrupt file loaded as empty and was saved over -> reported and untouched", async () => {
  const kb = openKnowledgeBase(await tempKb());
  const card = await kb.writeCard(sampleInput());
  const path = join(kb.dir, "cards", `${card.id}.json`);
  await Deno.writeTextFile(path, "{ truncated");
  await kb.writeCard(sampleInput());
  await kb.rebuildIndex();
  assert.equal(await Deno.readTextFile(path), "{ truncated");
  assert.equal((await kb.skipped())[0].path, path);
});

Deno.test("defect: dedup dropped all open questions but one -> each open question survives", async () => {
  const kb = openKnowledgeBase(await tempKb());
  for (const hypothesis of ["unclear a", "unclear b", "unclear c"]) {
    await kb.writeCard(
      sampleInput({ hypothesis, status: "inconclusive", recipe_hash: hypothesis.slice(-1) }),
    );
  }
  const questions = synthesize(await kb.listCards()).openQuestions;
  for (const hypothesis of ["unclear a", "unclear b", "unclear c"]) {
    assert.ok(questions.some((q) => q.endsWith(hypothesis)), hypothesis);
  }
});

Deno.test("defect: 7-hex-char ids collided near 10^4 cards -> 10k ids unique, 128-bit", async () => {
  const { newId } = await import("../../src/util/ids.ts");
  const ids = new Set(Array.from({ length: 10_000 }, () => newId("card")));
  assert.equal(ids.size, 10_000);
  for (const id of [...ids].slice(0, 100)) assert.ok(isValidId(id, "card"));
});

Deno.test("defect: every write rewrote shared index/meta files -> a write adds one file, changes none", async () => {
  const kb = openKnowledgeBase(await tempKb());
  for (let i = 0; i < 3; i++) await kb.writeCard(sampleInput({ seed: i }));
  await kb.listCards(); // builds the derived index
  const snapshot = async () => {
    const files = new Map<string, string>();
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const path = join(dir, entry.name);
        if (entry.isDirectory) await walk(path);
        else {files.set(
            path,
            `${(await Deno.stat(path)).mtime?.getTime()}:${(await Deno.readFile(path)).length}`,
          );}
      }
    };
    await walk(kb.dir);
    return files;
  };
  const before = await snapshot();
  const card = await kb.writeCard(sampleInput({ seed: 99 }));
  const after = await snapshot();
  const added = [...after.keys()].filter((path) => !before.has(path));
  assert.deepEqual(added, [join(kb.dir, "cards", `${card.id}.json`)]);
  for (const [path, stamp] of before) assert.equal(after.get(path), stamp, `${path} changed`);
});

Deno.test("defect: tags fragmented (lr vs learning_rate) -> one category", async () => {
  const kb = openKnowledgeBase(await tempKb());
  await kb.writeCard(sampleInput({ tags: ["lr"] }));
  await kb.writeCard(sampleInput({ tags: ["learning_rate"] }));
  const cards = await kb.listCards();
  assert.deepEqual(cards.map((c) => c.tags), [["learning_rate"], ["learning_rate"]]);
});

Deno.test("defect: results from different hardware were mixed in one best -> one best per class", async () => {
  const kb = openKnowledgeBase(await tempKb());
  await kb.writeCard(sampleInput({ results: { val_bpb: 1.5 } }));
  await kb.writeCard(sampleInput({
    results: { val_bpb: 0.9 },
    platform: { backend: "webgpu", device: "H100", vendor: "nvidia", cores: 32, memory_gb: 512 },
  }));
  const { brief } = await readBrief(kb);
  assert.equal(brief.best.length, 2);
  assert.deepEqual(brief.best.map((b) => b.val_bpb).sort(), [0.9, 1.5]);
});
