/**
 * Claims across machines as the queue folds them: claim file names unique per claim (same agent
 * and same host never collide), the first claim in the git order wins whatever the clocks say,
 * the loser's records never move the item, a `lost` record acknowledges it, and old host-named
 * claims stay readable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  claimNext,
  completeItem,
  heartbeatItem,
  readQueue,
  recordLost,
} from "../../src/director/mod.ts";
import { createItem } from "../../src/director/queue.ts";
import { writeClaimOrder } from "../../src/director/store.ts";

async function twoClones() {
  const root = await Deno.makeTempDir({ prefix: "sync-claims-" });
  const a = join(root, "a");
  const options = { kb: a, staleMinutes: 15 };
  const item = await createItem(options, { hypothesis: "h", category: "other", priority: 3 });
  const b = join(root, "b");
  await new Deno.Command("cp", { args: ["-r", a, b] }).output();
  return { root, a, b, item };
}

/** "git pull": copy the other clone's event files in (every name is new). */
function copyEvents(from: string, to: string): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(join(from, "queue", "events"))) {
    const target = join(to, "queue", "events", entry.name);
    try {
      Deno.statSync(target);
      continue;
    } catch { /* new to this clone */ }
    Deno.copyFileSync(join(from, "queue", "events", entry.name), target);
    names.push(entry.name);
  }
  return names;
}

function eventNames(kb: string): string[] {
  return [...Deno.readDirSync(join(kb, "queue", "events"))].map((e) => e.name).sort();
}

Deno.test("claims: same agent name on two clones makes two files; the first pushed wins", async () => {
  const { root, a, b, item } = await twoClones();
  try {
    // Same agent name on both machines; A claims earlier by the clock, B pushes first.
    const early = () => new Date("2026-01-01T00:00:00Z");
    const late = () => new Date("2026-01-01T00:05:00Z");
    const claimA = await claimNext({ kb: a, now: early }, "agent");
    const claimB = await claimNext({ kb: b, now: late }, "agent");
    assert.equal(claimA.claimed?.item.id, item.id);
    assert.equal(claimB.claimed?.item.id, item.id);
    const namesB = eventNames(b);
    copyEvents(b, a);
    const namesA = eventNames(a);
    assert.equal(namesA.length, 2, "two claim files, no collision");
    for (const name of namesA) {
      assert.match(name, /^item_\w{26}\.0000\.claim\.agent\.claim_\w{26}\.json$/);
    }
    // Without a git order the earlier clock wins ...
    assert.equal((await readQueue(a)).items[0].claim?.id, claimA.claimed?.claim?.id);
    // ... with one, B's claim (first in the history) wins although its clock is later.
    const mine = namesA.find((name) => !namesB.includes(name))!;
    await writeClaimOrder(a, "0".repeat(40), [...namesB, mine]);
    const state = (await readQueue(a)).items[0];
    assert.equal(state.status, "in_progress");
    assert.equal(state.claim?.id, claimB.claimed?.claim?.id);
    assert.equal(state.lostClaims.length, 1);
    assert.equal(state.lostClaims[0].id, claimA.claimed?.claim?.id);
    assert.equal(state.lostClaims[0].told, false);
    // A's agent finished offline: its completion names its own claim and is not accepted.
    const cardA = "card_01KAAAAAAAAAAAAAAAAAAAAAAA";
    await Deno.writeTextFile(
      join(a, "queue", "events", `${item.id}.0000.complete.ev_01KAAAAAAAAAAAAAAAAAAAAAAA.json`),
      JSON.stringify({
        id: "ev_01KAAAAAAAAAAAAAAAAAAAAAAA",
        kind: "complete",
        item: item.id,
        generation: 0,
        at: "2026-01-01T00:01:00.000Z",
        agent: "agent",
        card: cardA,
        claim: claimA.claimed?.claim?.id,
      }),
    );
    const after = (await readQueue(a)).items[0];
    assert.equal(after.status, "in_progress", "the loser's completion does not close the item");
    assert.deepEqual(after.lostClaims[0].cards, [cardA]);
    // The loser acknowledges; the winner completes.
    await recordLost({ kb: a }, item.id, after.lostClaims[0]);
    assert.equal((await readQueue(a)).items[0].lostClaims[0].told, true);
    await heartbeatItem({ kb: a }, item.id, "agent");
    const done = await completeItem({ kb: a }, item.id, "card_01KBBBBBBBBBBBBBBBBBBBBBBB");
    assert.equal(done.status, "completed");
    const final = (await readQueue(a)).items[0];
    assert.equal(final.status, "completed");
    assert.equal(final.card, "card_01KBBBBBBBBBBBBBBBBBBBBBBB");
    assert.equal(final.claim?.id, claimB.claimed?.claim?.id);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("claims: a loser is refused by name; an old host-named claim is still read", async () => {
  const { root, a, b, item } = await twoClones();
  try {
    const claimA = await claimNext({ kb: a }, "alice");
    await claimNext({ kb: b }, "bob");
    const namesB = eventNames(b);
    copyEvents(b, a);
    const mine = eventNames(a).find((name) => !namesB.includes(name))!;
    await writeClaimOrder(a, "0".repeat(40), [...namesB, mine]);
    await assert.rejects(
      () => heartbeatItem({ kb: a }, item.id, "alice"),
      new RegExp(`alice's claim ${claimA.claimed?.claim?.id} lost generation 0 to bob`),
    );
    // An old base: a claim named after the host, id claim_<host>.
    const old = await createItem({ kb: a }, { hypothesis: "old", category: "other", priority: 1 });
    await Deno.writeTextFile(
      join(a, "queue", "events", `${old.id}.0000.claim.vm-1.json`),
      JSON.stringify({
        id: "claim_vm-1",
        kind: "claim",
        item: old.id,
        generation: 0,
        at: "2026-01-01T00:00:00.000Z",
        agent: "carol",
      }),
    );
    const state = await readQueue(a);
    assert.deepEqual(state.problems, []);
    const oldState = state.items.find((s) => s.item.id === old.id)!;
    assert.equal(oldState.status, "in_progress");
    assert.equal(oldState.claim?.id, "claim_vm-1");
    // Old heartbeats without a claim field still count for the claim of their agent.
    await heartbeatItem({ kb: a }, old.id, "carol");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
