/**
 * Statistics benchmark: on the same seeded simulated efforts as tests/knowledge/simulation_test.ts,
 * how often the synthesis confirms a finding under pure noise, confirms a real 4-sigma effect run
 * 3 times, and confirms a real 1.6-sigma effect as runs accumulate; beside the same rates under
 * the OLD rule (kept here only: best single run so far, confirmed beyond 2 sigma of a noise floor
 * pooled over every replicated recipe, or when the recipe's mean was below the previous best).
 * Run alone with `deno task bench stats`.
 */
import { type CardSummary, synthesize } from "../src/knowledge/mod.ts";
import {
  type Effort,
  PURE_NOISE,
  replicatedSmallEffect,
  type Scenario,
  simulateEffort,
} from "../tests/knowledge/simulation.ts";

/** The old rule's confirmed findings (recipe hashes), as synthesis.ts had it before issue 8. */
function oldRuleConfirmed(cards: CardSummary[]): Set<string> {
  const ordered = [...cards].sort((a, b) => a.id < b.id ? -1 : 1);
  const best = new Map<string, number>();
  const groups = new Map<string, { n: number; mean: number; m2: number }>();
  const findings: { klass: string; recipe: string; value: number; prevBest: number }[] = [];
  for (const card of ordered) {
    if (card.val_bpb === null || card.status === "pending" || card.retracted) continue;
    const key = `${card.class_key}|${card.recipe_hash}`;
    const group = groups.get(key) ?? { n: 0, mean: 0, m2: 0 };
    group.n++;
    const delta = card.val_bpb - group.mean;
    group.mean += delta / group.n;
    group.m2 += delta * (card.val_bpb - group.mean);
    groups.set(key, group);
    if (card.status !== "keep") continue;
    const previous = best.get(card.class_key);
    if (previous !== undefined && card.val_bpb < previous) {
      findings.push({
        klass: card.class_key,
        recipe: card.recipe_hash,
        value: card.val_bpb,
        prevBest: previous,
      });
    }
    if (previous === undefined || card.val_bpb < previous) best.set(card.class_key, card.val_bpb);
  }
  const sigma = new Map<string, number>();
  const pooled = new Map<string, { squares: number; dof: number }>();
  for (const [key, group] of groups) {
    if (group.n < 2) continue;
    const klass = key.slice(0, key.lastIndexOf("|"));
    const entry = pooled.get(klass) ?? { squares: 0, dof: 0 };
    entry.squares += group.m2;
    entry.dof += group.n - 1;
    pooled.set(klass, entry);
  }
  for (const [klass, entry] of pooled) sigma.set(klass, Math.sqrt(entry.squares / entry.dof));
  const confirmed = new Set<string>();
  for (const finding of findings) {
    const s = sigma.get(finding.klass) ?? 0;
    const gain = finding.prevBest - finding.value;
    const group = groups.get(`${finding.klass}|${finding.recipe}`)!;
    if ((s > 0 && gain / s > 2) || (group.n >= 2 && group.mean < finding.prevBest)) {
      confirmed.add(finding.recipe);
    }
  }
  return confirmed;
}

function newRuleConfirmed(cards: CardSummary[]): Set<string> {
  return new Set(
    synthesize(cards).findings.filter((f) => f.confirmed).map((f) => f.recipe_hash),
  );
}

interface Rates {
  anyFalse: number;
  real: number;
}

function rates(
  scenario: Scenario,
  efforts: number,
  rule: (cards: CardSummary[]) => Set<string>,
): Rates {
  let anyFalse = 0;
  let real = 0;
  for (let i = 0; i < efforts; i++) {
    const effort: Effort = simulateEffort(scenario, i);
    const confirmed = rule(effort.cards);
    if ([...confirmed].some((recipe) => !effort.truth.has(recipe))) anyFalse++;
    if ([...effort.truth.keys()].some((recipe) => confirmed.has(recipe))) real++;
  }
  return { anyFalse: anyFalse / efforts, real: real / efforts };
}

function pct(value: number): string {
  return `${(100 * value).toFixed(1)}%`.padStart(6);
}

/** Print the rates of the new and the old rule side by side. */
export function run(): void {
  const efforts = 400;
  console.log(
    `simulated efforts (${efforts} each, sigma 0.005, baseline x3, new bests replicated twice, ` +
      `20% of ideas cherry-picked; tests/knowledge/simulation.ts)`,
  );
  console.log("scenario                                    measure                new     old");
  const row = (name: string, measure: string, fresh: number, old: number) =>
    console.log(`${name.padEnd(43)} ${measure.padEnd(20)} ${pct(fresh)}  ${pct(old)}`);
  const started = performance.now();
  const noise = PURE_NOISE;
  const noiseNew = rates(noise, efforts, newRuleConfirmed);
  const noiseOld = rates(noise, efforts, oldRuleConfirmed);
  row("pure noise, 60 ideas", "any false finding", noiseNew.anyFalse, noiseOld.anyFalse);
  for (const ideas of [20, 60]) {
    const scenario = { ...PURE_NOISE, noiseIdeas: ideas, real: { effectSigmas: 4, runs: 3 } };
    const fresh = rates(scenario, efforts, newRuleConfirmed);
    const old = rates(scenario, efforts, oldRuleConfirmed);
    row(`4-sigma effect x3 runs, ${ideas} noise ideas`, "real one confirmed", fresh.real, old.real);
    row("", "any false finding", fresh.anyFalse, old.anyFalse);
  }
  for (const runs of [2, 4, 8, 16]) {
    const scenario = replicatedSmallEffect(runs);
    const fresh = rates(scenario, efforts, newRuleConfirmed);
    const old = rates(scenario, efforts, oldRuleConfirmed);
    row(
      `1.6-sigma effect, ${runs} runs (baseline too)`,
      "real one confirmed",
      fresh.real,
      old.real,
    );
  }
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

if (import.meta.main) run();
