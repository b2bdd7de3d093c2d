/**
 * The all-night simulation (no LLM): a director process plans at a fixed rhythm, keeping the
 * queue topped up, and two worker processes claim, "train" (val_bpb from a known response surface
 * plus noise, written as real cards) and complete, for a few hundred items. Checked on the
 * records they leave: no item run twice, no tried config queued again, no invalid config, no
 * change a run of that many steps cannot feel, the queue never empty for longer than one item
 * takes, every seed's card linked to its item. Prints the rates.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readQueue } from "../../src/director/mod.ts";
import { budgetProblem } from "../../src/director/plan.ts";
import { recipeValidator } from "../../src/cli/recipe_check.ts";
import { openKnowledgeBase } from "../../src/knowledge/store.ts";
import { configChange, effectiveConfig, type FlatConfig } from "../../src/knowledge/config_keys.ts";
import { BASELINE, stepsFor, surface } from "./night_surface.ts";

const HERE = new URL(".", import.meta.url).pathname;
const TARGET_ITEMS = 200;
const DEADLINE_MS = 35_000;

function spawn(script: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(HERE, script), ...args],
    stdout: "null",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: "/tmp" },
  }).spawn();
}

async function lines<T>(path: string): Promise<T[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as T);
  } catch {
    return [];
  }
}

interface WorkLog {
  item?: string;
  config?: Record<string, unknown> | null;
  seeds?: number[];
  cards?: string[];
  claimedAt?: number;
  completedAt?: number;
  idle?: number;
}

Deno.test("all night: a director and two workers through a few hundred items", async () => {
  const dir = await Deno.makeTempDir({ prefix: "night-" });
  const kb = join(dir, "kb");
  const stop = join(dir, "stop");
  const logs = [join(dir, "w1.jsonl"), join(dir, "w2.jsonl")];
  const directorLog = join(dir, "director.jsonl");
  const started = Date.now();
  const processes = [
    spawn("night_director.ts", [kb, stop, directorLog, "100", "10"]),
    spawn("night_worker.ts", [kb, "worker1", stop, logs[0], "1"]),
    spawn("night_worker.ts", [kb, "worker2", stop, logs[1], "2"]),
  ];
  let done = 0;
  while (Date.now() - started < DEADLINE_MS) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    done = (await lines<WorkLog>(logs[0])).filter((l) => l.item).length +
      (await lines<WorkLog>(logs[1])).filter((l) => l.item).length;
    if (done >= TARGET_ITEMS) break;
  }
  await Deno.writeTextFile(stop, "");
  const stopped = Date.now();
  for (const child of processes) {
    const { code } = await child.status;
    const stderr = await new Response(child.stderr).text();
    assert.equal(code, 0, stderr);
  }
  const work = [...await lines<WorkLog>(logs[0]), ...await lines<WorkLog>(logs[1])]
    .filter((l) => l.item);
  const rounds = await lines<{ ms: number; enqueued: number }>(directorLog);
  assert.ok(work.length >= 60, `only ${work.length} items in ${DEADLINE_MS} ms`);

  // No item run twice.
  const ids = work.map((w) => w.item!);
  assert.equal(new Set(ids).size, ids.length, "an item was run twice");

  const state = await readQueue(kb);
  const base = openKnowledgeBase(kb);
  try {
    const cards = (await base.listCards()).filter((c) => !c.retracted);
    const configs = new Map(cards.map((c) => [c.id, effectiveConfig(base.getCard(c.id).card)]));
    const validate = recipeValidator();
    const linked = new Map<string, string>();
    let changes = 0;
    for (const { item, status, cards: done } of state.items) {
      const baseConfig: FlatConfig = item.base?.card ? configs.get(item.base.card)! : BASELINE;
      if (item.config) {
        changes++;
        // No invalid config queued.
        validate(item.config, baseConfig);
        // No change a run of that many steps cannot feel (the base's steps).
        assert.equal(
          budgetProblem(item.config, baseConfig, stepsFor(baseConfig)),
          null,
          `${item.hypothesis}`,
        );
        // No tried config queued again: no card older than the item ran base + change.
        const target = { ...baseConfig, ...item.config };
        const twin = cards.find((c) =>
          c.timestamp < item.createdAt && configChange(target, configs.get(c.id)!).length === 0
        );
        assert.equal(twin, undefined, `${item.id} re-queues ${twin?.id}: ${item.hypothesis}`);
      }
      // Every seed linked to its item: one card per seed, each linked once.
      if (status === "completed") {
        if (item.seeds) assert.equal(done.length, item.seeds.length, item.id);
        for (const card of done) {
          assert.equal(linked.get(card), undefined, `${card} linked to two items`);
          linked.set(card, item.id);
        }
      }
    }
    const unlinked = cards.filter((c) => !linked.has(c.id));
    // Cards of items still in progress when the test stopped are the only unlinked ones.
    const inFlight = state.items.filter((s) => s.status === "in_progress").length;
    assert.ok(unlinked.length <= inFlight * 3, `${unlinked.length} cards with no item`);

    // The queue never ran dry for longer than one item takes a worker (claim to claim: the
    // worker's wall time per item, so machine load stretches both sides alike).
    const durations = work.map((w) => w.completedAt! - w.claimedAt!).sort((a, b) => a - b);
    const runTime = durations[Math.floor(durations.length * 0.9)];
    const itemTime = Math.round((stopped - started) * 2 / work.length);
    const pendingSpans = state.items.map((s) => [
      Date.parse(s.item.createdAt),
      s.claim ? Date.parse(s.claim.claimedAt) : stopped,
    ]).filter(([from]) => from < stopped).sort((a, b) => a[0] - b[0]);
    let covered = pendingSpans[0][0];
    let longestDry = 0;
    let dryTotal = 0;
    const spells: string[] = [];
    for (const [from, to] of pendingSpans) {
      if (from > covered) {
        longestDry = Math.max(longestDry, from - covered);
        dryTotal += from - covered;
        spells.push(`${from - covered} ms at +${covered - started} ms`);
      }
      covered = Math.max(covered, to);
    }
    console.log(`dry spells: ${spells.join(", ")}`);
    const hours = (stopped - started) / 3_600_000;
    const best = Math.min(...cards.map((c) => c.val_bpb ?? Infinity));
    console.log(
      `night: ${work.length} items (${changes} config changes) and ${cards.length} cards in ` +
        `${((stopped - started) / 1000).toFixed(1)} s = ${(work.length / hours).toFixed(0)} ` +
        `items/hour; plan rounds ${rounds.length} (median ${
          rounds.map((r) => r.ms).sort((a, b) => a - b)[Math.floor(rounds.length / 2)]
        } ms); one item ${itemTime} ms per worker (run p90 ${runTime} ms); queue dry ${dryTotal} ms in all, longest ` +
        `${longestDry} ms; best val_bpb ${best.toFixed(4)} (surface optimum 2.0, baseline ` +
        `${surface(BASELINE).toFixed(4)})`,
    );
    assert.ok(
      longestDry <= Math.max(itemTime, 1),
      `the queue was empty for ${longestDry} ms, longer than one item (${itemTime} ms)`,
    );
    assert.ok(best < surface(BASELINE) - 0.02, "the night made progress on the surface");
  } finally {
    base.close();
  }
});
