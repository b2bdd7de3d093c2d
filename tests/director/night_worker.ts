/**
 * A simulated worker of the all-night test: claims items through the real queue, "trains" each
 * seed (val_bpb drawn from a known response surface plus noise, after a fixed pause), writes
 * real cards through the knowledge layer, completes the item with every seed's card, and logs
 * what it did as JSON lines. Runs until the stop file exists.
 * Usage: deno run -A night_worker.ts KB AGENT STOP_FILE LOG_FILE SEED
 */
import { claimNext, completeItem } from "../../src/director/mod.ts";
import { openKnowledgeBase } from "../../src/knowledge/store.ts";
import { effectiveConfig, type FlatConfig } from "../../src/knowledge/config_keys.ts";
import { seededRandom } from "../../src/util/random.ts";
import { BASELINE, nested, recipeHashOf, stepsFor, surface } from "./night_surface.ts";

const [kb, agent, stopFile, logFile, seedText] = Deno.args;
const random = seededRandom(Number(seedText));
const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

while (!await exists(stopFile)) {
  const { claimed } = await claimNext({ kb }, agent);
  if (!claimed) {
    await Deno.writeTextFile(logFile, JSON.stringify({ idle: Date.now() }) + "\n", {
      append: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    continue;
  }
  const claimedAt = Date.now();
  const { item } = claimed;
  const base = openKnowledgeBase(kb);
  try {
    let baseConfig: FlatConfig = BASELINE;
    let baseVal: number | null = null;
    if (item.base?.card) {
      const card = base.getCard(item.base.card).card;
      baseConfig = effectiveConfig(card);
      baseVal = card.results.val_bpb;
    }
    const target: FlatConfig = { ...baseConfig, ...(item.config ?? {}) };
    const seeds = item.seeds ?? [Math.floor(random() * 1000) + 100];
    const cards: string[] = [];
    for (const seed of seeds) {
      await new Promise((resolve) => setTimeout(resolve, 80)); // the "training"
      const val = surface(target) + 0.004 * gauss();
      const card = await base.writeCard({
        agent,
        session: "night",
        hypothesis: item.hypothesis,
        tags: [item.category],
        prior_cards: item.base?.card ? [item.base.card] : [],
        platform: { backend: "cpu", device: "sim cpu", vendor: "sim", cores: 2, memory_gb: 8 },
        harness_hash: "harness-sim",
        recipe_hash: recipeHashOf(target),
        budget_s: 20,
        seed,
        config: nested(target),
        results: { val_bpb: val, num_steps: stepsFor(target) },
        status: baseVal === null || val < baseVal ? "keep" : "discard",
      });
      cards.push(card.id);
    }
    await completeItem({ kb }, item.id, cards, agent);
    await Deno.writeTextFile(
      logFile,
      JSON.stringify({
        item: item.id,
        config: item.config,
        base: item.base ?? null,
        seeds,
        cards,
        claimedAt,
        completedAt: Date.now(),
      }) + "\n",
      { append: true },
    );
  } finally {
    base.close();
  }
}
