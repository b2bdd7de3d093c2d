/**
 * Claims under real concurrency: 200 items, 8 processes claiming until the queue is empty while
 * a ninth process reads the status in a loop (and this test runs the `status` and `read-brief`
 * CLI commands meanwhile).
 * Every item must be claimed exactly once, none lost, and no read may ever see fewer items than
 * exist or a queue going backwards.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createItem } from "../../src/director/queue.ts";
import { readQueue } from "../../src/director/mod.ts";
import { cliJson, tempKb } from "./helpers.ts";

const ITEMS = 200;

interface BriefJson {
  queue: { pending: unknown[]; inProgress: unknown[] };
  omitted: Record<string, number>;
}
const CLAIMERS = 8;

function spawn(script: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<string> {
  const output = await child.output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `worker failed: ${stderr}`);
  return new TextDecoder().decode(output.stdout);
}

Deno.test("8 processes claim 200 items: each exactly once; a 9th reader never sees a partial queue", async () => {
  const kb = await tempKb();
  const categories = ["architecture", "optimizer", "learning_rate", "schedule", "data"];
  const ids = new Set<string>();
  for (let i = 0; i < ITEMS; i++) {
    const item = await createItem({ kb }, {
      hypothesis: `experiment number ${i}`,
      category: categories[i % categories.length],
      priority: 1 + (i % 5),
    });
    ids.add(item.id);
  }
  const dir = await Deno.makeTempDir({ prefix: "director-conc-" });
  const go = join(dir, "go");
  const stop = join(dir, "stop");
  const reader = spawn("./status_reader.ts", [kb, stop]);
  const claimers = Array.from(
    { length: CLAIMERS },
    (_, i) => spawn("./claim_worker.ts", [kb, `agent${i}`, go]),
  );
  // Start all claimers at once: wait until every one is loaded and waiting.
  // (A worker that died before it was ready is not waited for beyond a minute; its exit code
  // fails the test below.)
  for (let i = 0, waits = 0; i < CLAIMERS && waits < 6000; i++) {
    while (!await Deno.stat(`${go}.agent${i}.ready`).then(() => true, () => false)) {
      if (++waits >= 6000) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  await Deno.writeTextFile(go, "");

  // Meanwhile, the real `status` command, as an agent would type it.
  const cliReads: number[] = [];
  const outputs = claimers.map(finish);
  let running = true;
  const all = Promise.all(outputs).finally(() => running = false);
  const briefReads: number[] = [];
  while (running) {
    const status = await cliJson<{ counts: { total: number } }>(["director", "status", "--kb", kb]);
    cliReads.push(status.counts.total);
    // read-brief lists a few items per state and counts the rest as omitted.
    const brief = await cliJson<BriefJson>(["read-brief", "--kb", kb]);
    briefReads.push(
      brief.queue.pending.length + (brief.omitted.queue_pending ?? 0) +
        brief.queue.inProgress.length + (brief.omitted.queue_in_progress ?? 0),
    );
  }
  const claimedLists = (await all).map((out) => JSON.parse(out) as string[]);
  await Deno.writeTextFile(stop, "");
  const seen = JSON.parse(await finish(reader));

  const claimed = claimedLists.flat();
  assert.equal(claimed.length, ITEMS, "every item claimed");
  assert.equal(new Set(claimed).size, ITEMS, "no item claimed twice");
  for (const id of claimed) assert.ok(ids.has(id));
  assert.ok(
    claimedLists.filter((list) => list.length > 0).length >= 2,
    `claims spread over processes: ${claimedLists.map((l) => l.length)}`,
  );

  assert.ok(seen.reads >= 5, `reader read ${seen.reads} times`);
  assert.equal(seen.minTotal, ITEMS, "a read saw fewer items than exist");
  assert.equal(seen.backwards, 0, "a read saw fewer claims than the read before");
  assert.equal(seen.inconsistent, 0);
  assert.equal(seen.problems, 0);
  assert.ok(cliReads.length >= 1);
  for (const total of cliReads) assert.equal(total, ITEMS, "status CLI saw a partial queue");
  assert.ok(briefReads.length >= 1);
  for (const total of briefReads) assert.equal(total, ITEMS, "read-brief saw a partial queue");

  const state = await readQueue(kb);
  assert.equal(state.items.length, ITEMS);
  assert.ok(state.items.every((s) => s.status === "in_progress" && s.claim?.generation === 0));
  const holders = new Map(state.items.map((s) => [s.item.id, s.claim!.agent]));
  claimedLists.forEach((list, i) => {
    for (const id of list) assert.equal(holders.get(id), `agent${i}`);
  });
});
