/**
 * The queue as a library: claim order, every state change and its refusals, stale release under
 * a fake clock, the fold of records two machines wrote, and corrupt records reported, skipped
 * and left untouched.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  claimNext,
  completeItem as complete,
  dropItem as drop,
  foldItem,
  heartbeatItem as heartbeat,
  type QueueEvent,
  type QueueOptions,
  readQueue,
  releaseItem as release,
  releaseStale,
} from "../../src/director/mod.ts";
import { createItem } from "../../src/director/queue.ts";
import { queueSection } from "../../src/director/brief.ts";
import { UsageError } from "../../src/util/errors.ts";
import { snapshotFiles, tempKb } from "./helpers.ts";

function fakeClock(start: string) {
  let now = Date.parse(start);
  return {
    now: () => new Date(now),
    advance(minutes: number) {
      now += minutes * 60_000;
    },
  };
}

async function setup(): Promise<{ options: QueueOptions; clock: ReturnType<typeof fakeClock> }> {
  const clock = fakeClock("2026-01-01T00:00:00.000Z");
  return { options: { kb: await tempKb(), now: clock.now, staleMinutes: 15 }, clock };
}

Deno.test("claim hands out the most urgent item first, then the oldest, then nothing", async () => {
  const { options, clock } = await setup();
  const low = await createItem(options, { hypothesis: "low", category: "other", priority: 4 });
  clock.advance(1);
  const urgent = await createItem(options, {
    hypothesis: "urgent",
    category: "other",
    priority: 1,
  });
  clock.advance(1);
  const mid1 = await createItem(options, { hypothesis: "mid one", category: "other", priority: 2 });
  clock.advance(1);
  const mid2 = await createItem(options, { hypothesis: "mid two", category: "other", priority: 2 });
  const order = [];
  for (let i = 0; i < 4; i++) order.push((await claimNext(options, `a${i}`)).claimed?.item.id);
  assert.deepEqual(order, [urgent.id, mid1.id, mid2.id, low.id]);
  assert.equal((await claimNext(options, "late")).claimed, null);
  const state = await readQueue(options.kb);
  assert.deepEqual(state.items.map((s) => s.status), Array(4).fill("in_progress"));
  assert.deepEqual(state.items.find((s) => s.item.id === urgent.id)?.claim?.agent, "a0");
});

Deno.test("heartbeat, release, re-claim (next generation), complete; refusals name the state", async () => {
  const { options, clock } = await setup();
  const item = await createItem(options, { hypothesis: "h", category: "schedule", priority: 3 });
  await assert.rejects(() => heartbeat(options, item.id), /it is pending/);
  await assert.rejects(() => complete(options, item.id, "card_x"), UsageError);
  const first = await claimNext(options, "alice");
  assert.equal(first.claimed?.claim?.generation, 0);
  clock.advance(5);
  const beat = await heartbeat(options, item.id, "alice");
  assert.equal(beat.claim?.heartbeatAt, "2026-01-01T00:05:00.000Z");
  await assert.rejects(() => heartbeat(options, item.id, "bob"), /claimed by alice, not bob/);
  await release(options, item.id, "machine reboot", "alice");
  let state = (await readQueue(options.kb)).items[0];
  assert.equal(state.status, "pending");
  assert.equal(state.releases.length, 1);
  assert.equal(state.releases[0].reason, "machine reboot");
  const second = await claimNext(options, "bob");
  assert.equal(second.claimed?.claim?.generation, 1);
  await assert.rejects(() => release(options, item.id, undefined, "alice"), /claimed by bob/);
  await complete(options, item.id, "card_01JAAAAAAAAAAAAAAAAAAAAAAA", "bob");
  state = (await readQueue(options.kb)).items[0];
  assert.equal(state.status, "completed");
  assert.equal(state.card, "card_01JAAAAAAAAAAAAAAAAAAAAAAA");
  assert.equal(state.claim?.agent, "bob");
  await assert.rejects(() => drop(options, item.id, "no"), /already completed/);
  await assert.rejects(() => heartbeat(options, item.id), /it is completed/);
  await assert.rejects(
    () => heartbeat(options, "item_01JAAAAAAAAAAAAAAAAAAAAAAA"),
    /no queue item/,
  );
  const section = await queueSection(options.kb);
  assert.deepEqual(section, { pending: [], inProgress: [], unreadable: 0 });
});

Deno.test("drop takes pending and in-progress items off the work list with the reason", async () => {
  const { options } = await setup();
  const a = await createItem(options, { hypothesis: "a", category: "data", priority: 3 });
  const b = await createItem(options, { hypothesis: "b", category: "data", priority: 3 });
  await drop(options, a.id, "superseded by b");
  const claimed = await claimNext(options, "alice");
  assert.equal(claimed.claimed?.item.id, b.id);
  await drop(options, b.id, "broken idea");
  const items = (await readQueue(options.kb)).items;
  assert.deepEqual(items.map((s) => [s.status, s.dropReason]), [
    ["dropped", "superseded by b"],
    ["dropped", "broken idea"],
  ]);
  assert.equal((await claimNext(options, "bob")).claimed, null);
});

Deno.test("stale claims are released after the timeout (fake clock), recorded, not silent", async () => {
  const { options, clock } = await setup();
  const item = await createItem(options, { hypothesis: "h", category: "other", priority: 3 });
  await claimNext(options, "alice");
  clock.advance(10);
  await heartbeat(options, item.id, "alice");
  clock.advance(14); // 14 min after the heartbeat: still alive
  let result = await claimNext(options, "bob");
  assert.equal(result.claimed, null);
  assert.deepEqual(result.released, []);
  clock.advance(2); // 16 min after the heartbeat: stale
  result = await claimNext(options, "bob");
  assert.equal(result.released.length, 1);
  assert.equal(result.claimed?.item.id, item.id);
  assert.equal(result.claimed?.claim?.generation, 1);
  const state = (await readQueue(options.kb)).items[0];
  assert.equal(state.claim?.agent, "bob");
  assert.equal(state.releases.length, 1);
  assert.equal(state.releases[0].stale, true);
  assert.equal(state.releases[0].agent, "alice");
  assert.match(state.releases[0].reason ?? "", /no heartbeat since 2026-01-01T00:10:00.000Z/);
  // The release is a file of its own in the event log.
  const names = await Array.fromAsync(Deno.readDir(join(options.kb, "queue", "events")));
  assert.ok(names.some((entry) => entry.name.includes(".0000.release.")));
  // Alice comes back: her heartbeat is refused and names the release.
  await assert.rejects(
    () => heartbeat(options, item.id, "alice"),
    /claimed by bob, not alice \(a claim was released at .*stale\)/,
  );
  // releaseStale with a shorter timeout releases bob too.
  clock.advance(3);
  const released = await releaseStale({ ...options, staleMinutes: 2 });
  assert.deepEqual(released.map((s) => s.item.id), [item.id]);
  assert.equal((await readQueue(options.kb)).items[0].status, "pending");
  // Bob finished anyway: his late completion is kept (alice's is not: hers is older).
  await assert.rejects(() => complete(options, item.id, "card_x", "alice"), /it is pending/);
  const late = await complete(options, item.id, "card_01JAAAAAAAAAAAAAAAAAAAAAAA", "bob");
  assert.equal(late.status, "completed");
  const final = (await readQueue(options.kb)).items[0];
  assert.equal(final.status, "completed");
  assert.equal(final.claim?.agent, "bob");
});

function event(fields: Partial<QueueEvent> & Pick<QueueEvent, "kind" | "at">): QueueEvent {
  return {
    id: `ev_${fields.at}`,
    item: "item_01JAAAAAAAAAAAAAAAAAAAAAAA",
    generation: 0,
    agent: "a",
    ...fields,
  };
}

Deno.test("fold: records written on two machines merge deterministically", () => {
  const item = {
    id: "item_01JAAAAAAAAAAAAAAAAAAAAAAA",
    hypothesis: "h",
    category: "other",
    priority: 3,
    config: null,
    priorCards: [],
    createdAt: "2026-01-01T00:00:00.000Z",
    createdBy: null,
    source: "add" as const,
    rationale: null,
  };
  // Two machines claimed generation 0 offline: the earlier claim wins.
  const both = foldItem(item, [
    event({ kind: "claim", at: "2026-01-01T00:02:00.000Z", agent: "late", id: "claim_b" }),
    event({ kind: "claim", at: "2026-01-01T00:01:00.000Z", agent: "early", id: "claim_a" }),
  ]);
  assert.equal(both.status, "in_progress");
  assert.equal(both.claim?.agent, "early");
  // A stale release on one machine and a completion on the other: the work was done.
  const done = foldItem(item, [
    event({ kind: "claim", at: "2026-01-01T00:01:00.000Z" }),
    event({ kind: "release", at: "2026-01-01T00:20:00.000Z", stale: true }),
    event({ kind: "complete", at: "2026-01-01T00:21:00.000Z", card: "card_x" }),
  ]);
  assert.equal(done.status, "completed");
  assert.equal(done.card, "card_x");
  // Heartbeats of an older generation do not keep a newer claim alive.
  const regen = foldItem(item, [
    event({ kind: "claim", at: "2026-01-01T00:01:00.000Z" }),
    event({ kind: "release", at: "2026-01-01T00:20:00.000Z" }),
    event({ kind: "claim", generation: 1, at: "2026-01-01T00:21:00.000Z", agent: "b" }),
    event({ kind: "heartbeat", generation: 0, at: "2026-01-01T00:30:00.000Z" }),
  ]);
  assert.equal(regen.claim?.agent, "b");
  assert.equal(regen.claim?.heartbeatAt, "2026-01-01T00:21:00.000Z");
  assert.equal(regen.nextGeneration, 2);
});

Deno.test("corrupt queue records are reported and skipped, never read as empty or rewritten", async () => {
  const { options } = await setup();
  const items = [];
  for (let i = 0; i < 5; i++) {
    items.push(await createItem(options, { hypothesis: `h${i}`, category: "other", priority: 3 }));
  }
  const itemsDir = join(options.kb, "queue", "items");
  const eventsDir = join(options.kb, "queue", "events");
  // A truncated item, an empty one, a JSON list, a wrong type, and an item with a claim file
  // that is garbage.
  const truncate = join(itemsDir, `${items[0].id}.json`);
  const text = await Deno.readTextFile(truncate);
  await Deno.writeTextFile(truncate, text.slice(0, text.length / 2));
  await Deno.writeTextFile(join(itemsDir, `${items[1].id}.json`), "");
  await Deno.writeTextFile(join(itemsDir, "item_01JBBBBBBBBBBBBBBBBBBBBBBB.json"), "[1, 2]");
  const wrong = JSON.parse(await Deno.readTextFile(join(itemsDir, `${items[2].id}.json`)));
  wrong.priority = "high";
  await Deno.writeTextFile(join(itemsDir, `${items[2].id}.json`), JSON.stringify(wrong));
  await Deno.writeTextFile(join(eventsDir, `${items[3].id}.0000.claim.vm.json`), '{"kind":');
  await Deno.writeFile(join(eventsDir, "junk.json"), new Uint8Array([0xff, 0xfe]));
  const before = await snapshotFiles(options.kb);

  const state = await readQueue(options.kb);
  assert.deepEqual(state.items.map((s) => s.item.id), [items[3].id, items[4].id]);
  const reasons = new Map(state.problems.map((p) => [p.path.split("/").pop(), p.reason]));
  assert.match(reasons.get(`${items[0].id}.json`) ?? "", /invalid JSON/);
  assert.equal(reasons.get(`${items[1].id}.json`), "empty file");
  assert.match(reasons.get("item_01JBBBBBBBBBBBBBBBBBBBBBBB.json") ?? "", /object/i);
  assert.match(reasons.get(`${items[2].id}.json`) ?? "", /priority/);
  assert.match(reasons.get(`${items[3].id}.0000.claim.vm.json`) ?? "", /invalid JSON/);
  assert.match(reasons.get("junk.json") ?? "", /not a queue event file name/);

  // The item whose claim record is unreadable is not stuck: the next claim goes past the
  // damaged generation (never reusing it), so it is handed out once, then the next item.
  const claimed = await claimNext(options, "alice");
  assert.equal(claimed.claimed?.item.id, items[3].id);
  assert.equal(claimed.claimed?.claim?.generation, 1);
  assert.equal(claimed.problems.length, 6);
  assert.equal((await claimNext(options, "bob")).claimed?.item.id, items[4].id);
  assert.equal((await claimNext(options, "carol")).claimed, null);
  // New records were added; none of the corrupt ones was touched.
  await createItem(options, { hypothesis: "after", category: "other", priority: 3 });
  const after = await snapshotFiles(options.kb);
  for (const [path, bytes] of before) assert.equal(after.get(path), bytes, path);
  assert.equal((await readQueue(options.kb)).items.length, 3);
});

Deno.test("two machines claim the same item offline: merging their files never collides, one wins", async () => {
  const { options } = await setup();
  const item = await createItem(options, { hypothesis: "h", category: "other", priority: 3 });
  // Machine B is a clone of the base; both claim while offline.
  const kbB = `${options.kb}-clone`;
  await new Deno.Command("cp", { args: ["-r", options.kb, kbB] }).output();
  const a = await claimNext(options, "alice");
  const later = {
    ...options,
    kb: kbB,
    now: () => new Date("2026-01-01T00:01:00Z"),
  };
  const b = await claimNext(later, "bob");
  assert.equal(a.claimed?.item.id, item.id);
  assert.equal(b.claimed?.item.id, item.id);
  // "git pull": copy B's records into A. Every file is new to A: no name collides.
  const eventsA = join(options.kb, "queue", "events");
  const eventsB = join(kbB, "queue", "events");
  for (const entry of Deno.readDirSync(eventsB)) {
    const target = join(eventsA, entry.name);
    const exists = await Deno.stat(target).then(() => true, () => false);
    if (exists) {
      assert.equal(
        await Deno.readTextFile(target),
        await Deno.readTextFile(join(eventsB, entry.name)),
      );
    } else await Deno.copyFile(join(eventsB, entry.name), target);
  }
  const merged = (await readQueue(options.kb)).items[0];
  assert.equal(merged.status, "in_progress");
  assert.equal(merged.claim?.agent, "alice", "the earlier claim wins");
  await assert.rejects(
    () => heartbeat(options, item.id, "bob"),
    /claim claim_\w+ lost generation 0 to alice/,
  );
  await heartbeat(options, item.id, "alice");
});
