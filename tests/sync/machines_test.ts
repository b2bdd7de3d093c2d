/**
 * Many agents on many machines, for real: a bare repository, three clones, and three scripted
 * agents as concurrent processes (read the brief, `director claim --sync`, change one
 * hyperparameter, train the tiny recipe for 1 s, judge the card, keep or revert, `sync`), for
 * several rounds; then the same with every clone reporting the same host name; then one clone
 * offline for several rounds. Afterwards every clone holds every card, no item was worked twice
 * (offline duplicates are kept as cards but not accepted, and their agent is told), every item is
 * done exactly once, lineage resolves and the history is linear without conflicts.
 */
import assert from "node:assert/strict";
import { readQueue } from "../../src/director/mod.ts";
import {
  checkConverged,
  converge,
  partition,
  runAgent,
  runAgents,
  seedItems,
  sharedBase,
  sync,
} from "./helpers.ts";

async function threeAgents(rounds: number, hosts: string[]): Promise<void> {
  const shared = await sharedBase(["a", "b", "c"]);
  try {
    const items = await seedItems(shared.clones.a, 3 * rounds);
    const summaries = await runAgents(shared, [
      { clone: "a", name: "agent-a", rounds, host: hosts[0] },
      { clone: "b", name: "agent-b", rounds, host: hosts[1] },
      { clone: "c", name: "agent-c", rounds, host: hosts[2] },
    ]);
    const worked = summaries.flatMap((s) => s.worked);
    const lost = summaries.flatMap((s) => s.lost);
    console.log(`${worked.length} runs, ${lost.length} claims lost and retaken: ${lost.join(" ")}`);
    assert.equal(worked.length, 3 * rounds, "every item was worked");
    assert.equal(new Set(worked.map((w) => w.item)).size, worked.length, "no item worked twice");
    for (const summary of summaries) {
      assert.equal(
        summary.briefs,
        summary.worked.length + (summary.worked.length < rounds ? 1 : 0),
      );
      assert.ok(summary.syncCodes.every((code) => code === 0), "every sync reached the remote");
    }
    await converge(shared);
    await checkConverged(shared, summaries, items);
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
}

Deno.test("sync: three machines, three concurrent agents, several rounds", async () => {
  await threeAgents(3, ["machine-a", "machine-b", "machine-c"]);
});

Deno.test("sync: three machines that all report the same host name", async () => {
  await threeAgents(2, ["same-host", "same-host", "same-host"]);
});

Deno.test("sync: one machine offline for several rounds, then sync: nothing lost, losers told", async () => {
  const shared = await sharedBase(["a", "c"], ["c"]);
  try {
    const items = await seedItems(shared.clones.a, 4);
    await sync(shared.clones.c); // c has the queue, then loses the network
    await partition(shared, "c", true);
    // c works the two most urgent items offline (its claims are provisional), then a works
    // the same two online: c claimed earlier by the clock, but a's claims are pushed first.
    const offline = await runAgent(shared.clones.c, "agent-c", 2, { AUTORESEARCH_HOSTNAME: "c" });
    const online = await runAgent(shared.clones.a, "agent-a", 2, { AUTORESEARCH_HOSTNAME: "a" });
    assert.deepEqual(offline.syncCodes, [3, 3], "offline syncs exit 3");
    assert.deepEqual(offline.provisional, offline.worked.map((w) => w.item));
    assert.deepEqual(online.worked.map((w) => w.item), offline.worked.map((w) => w.item));
    // Back online: c's sync pushes everything it recorded and learns that its claims lost.
    await partition(shared, "c", false);
    const back = await sync(shared.clones.c, "agent-c");
    assert.equal(back.report.offline, false);
    const lost = back.resolution.lost.filter((l) => l.local).map((l) => l.item).sort();
    assert.deepEqual(lost, offline.worked.map((w) => w.item).sort(), "the loser is told");
    for (const l of back.resolution.lost) assert.equal(l.claim.winner.agent, "agent-a");
    const pushedCards = back.report.outgoing.filter((c) => c.kind === "card").map((c) => c.id);
    assert.deepEqual(pushedCards.sort(), offline.worked.map((w) => w.card).sort());
    // The next sync of c reports nothing new: the losses were acknowledged once, by a record.
    const again = await sync(shared.clones.c, "agent-c");
    assert.deepEqual(again.resolution.lost, []);
    // c's agent now takes the remaining items: none of the lost ones.
    const more = await runAgent(shared.clones.c, "agent-c", 2, { AUTORESEARCH_HOSTNAME: "c" });
    const remaining = items.filter((id) => !online.worked.some((w) => w.item === id));
    assert.deepEqual(more.worked.map((w) => w.item).sort(), remaining.sort());
    await converge(shared);
    const all = [online, { ...offline, worked: [...offline.worked, ...more.worked] }];
    await checkConverged(shared, all, items);
    // Nothing lost: c's cards of the lost items are in a's base, listed on the lost claims.
    const state = await readQueue(shared.clones.a);
    for (const w of offline.worked) {
      const item = state.items.find((s) => s.item.id === w.item)!;
      assert.equal(item.card, online.worked.find((o) => o.item === w.item)!.card);
      const mine = item.lostClaims.find((l) => l.agent === "agent-c")!;
      assert.deepEqual(mine.cards, [w.card]);
      assert.equal(mine.told, true);
      await Deno.stat(`${shared.clones.a}/cards/${w.card}.json`);
    }
  } finally {
    await Deno.remove(shared.root, { recursive: true });
  }
});
