/**
 * A seeded generator of research efforts with known truth, for the statistics' simulation test
 * and `deno task bench stats`: simulated agents run a baseline, then ideas whose val_bpb is the
 * true mean plus Gaussian noise, keep a run when it lands below the current best mean (as
 * program.md says), replicate each new best (as the planner asks), sometimes rerun an idea until
 * a run looks lucky (cherry-picking, every run still recorded), and may run one idea with a real
 * effect. The cards are CardSummary rows the real synthesis reads, in one or more classes.
 */
import type { CardSummary } from "../../src/knowledge/mod.ts";
import { seededRandom } from "../../src/util/random.ts";

/** One comparability class of an effort: its noise and its baseline's true mean. */
export interface SimClass {
  device: string;
  sigma: number;
  base: number;
}

/** What one simulated effort does. */
export interface Scenario {
  classes: SimClass[];
  /** runs of the baseline recipe (seeds 0..n-1, one group) */
  baselineRuns: number;
  /** ideas with no effect, each run once */
  noiseIdeas: number;
  /** more runs of an idea whose run became the best (the planner's replicate) */
  replicatesOfNewBest: number;
  /** chance that an agent reruns an idea up to 3 times until one run looks lucky */
  cherryPick: number;
  /** one idea with a real effect (in sigmas, better), run `runs` times as one group */
  real?: { effectSigmas: number; runs: number };
  /** replicate the baseline this many more times alongside the real idea (power growth) */
  extraBaselineRuns?: number;
}

/** The effort: pure noise, 60 ideas, baseline x3, new bests replicated. */
export const PURE_NOISE: Scenario = {
  classes: [{ device: "cpu-a", sigma: 0.005, base: 2.2 }],
  baselineRuns: 3,
  noiseIdeas: 60,
  replicatesOfNewBest: 2,
  cherryPick: 0.2,
};

/**
 * A 1.6-sigma real effect among 20 noise ideas, the effect run `runs` times and the baseline
 * at least as often (so replicates, not a lucky baseline, decide).
 */
export function replicatedSmallEffect(runs: number): Scenario {
  return {
    ...PURE_NOISE,
    noiseIdeas: 20,
    real: { effectSigmas: 1.6, runs },
    extraBaselineRuns: Math.max(0, runs - PURE_NOISE.baselineRuns),
  };
}

/** A simulated effort: its cards (oldest first) and which recipes truly help. */
export interface Effort {
  cards: CardSummary[];
  /** recipe hash -> true gain in sigmas (> 0 is better); absent = no effect */
  truth: Map<string, number>;
  /** class key per simulated class */
  classKeys: string[];
}

/** Standard normal draws from a uniform source (Box-Muller). */
function gaussian(random: () => number): () => number {
  return () => {
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A valid, time-ordered card id for the n-th card of effort `effort`. */
export function simId(effort: number, n: number): string {
  let value = 1_700_000_000_000 + effort * 1_000_000 + n;
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[value % 32] + time;
    value = Math.floor(value / 32);
  }
  return `card_${time}${"0".repeat(16)}`;
}

/** Generate effort number `index` of `scenario` (same index, same effort). */
export function simulateEffort(scenario: Scenario, index: number): Effort {
  const random = seededRandom(0x5eed0000 + index * 7919);
  const normal = gaussian(random);
  const cards: CardSummary[] = [];
  const truth = new Map<string, number>();
  const classKeys: string[] = [];
  let n = 0;
  for (const [c, klass] of scenario.classes.entries()) {
    const classKey = `cpu|${klass.device}|h-sim|300`;
    classKeys.push(classKey);
    const runs = new Map<string, { values: number[]; kept: boolean; first: string }>();
    const record = (
      recipe: string,
      value: number,
      seed: number,
      status: "keep" | "discard",
      prior: string[],
      hypothesis: string,
      group: string | null,
    ): CardSummary => {
      const id = simId(index, n++);
      const card: CardSummary = {
        id,
        timestamp: new Date(1_700_000_000_000 + index * 1_000_000 + n * 1000).toISOString(),
        agent: `agent-${n % 3}`,
        session: `effort-${index}`,
        hypothesis,
        lesson: null,
        tags: ["learning_rate"],
        categories: ["learning_rate"],
        prior_cards: prior,
        backend: "cpu",
        device: klass.device,
        harness_hash: "h-sim",
        budget_s: 300,
        recipe_hash: recipe,
        seed,
        class_key: classKey,
        val_bpb: value,
        delta: null,
        written_status: status,
        status,
        completion_id: null,
        disputed: false,
        num_steps: 90,
        load_avg: null,
        group,
        retracted: false,
        retraction_reason: null,
      };
      cards.push(card);
      const entry = runs.get(recipe) ?? { values: [], kept: false, first: id };
      entry.values.push(value);
      if (status === "keep") entry.kept = true;
      runs.set(recipe, entry);
      return card;
    };
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const best = () => {
      let found: { recipe: string; mean: number; first: string } | null = null;
      for (const [recipe, entry] of runs) {
        if (!entry.kept) continue;
        const m = mean(entry.values);
        if (found === null || m < found.mean) found = { recipe, mean: m, first: entry.first };
      }
      return found!;
    };
    const draw = (effect: number) => klass.base - effect * klass.sigma + klass.sigma * normal();
    for (let s = 0; s < scenario.baselineRuns; s++) {
      record("base", draw(0), s, "keep", [], "baseline", "g-base");
    }
    const realAt = scenario.real ? Math.floor(random() * (scenario.noiseIdeas + 1)) : -1;
    for (let i = 0; i <= scenario.noiseIdeas; i++) {
      if (i === realAt && scenario.real) {
        const recipe = `real-${c}`;
        truth.set(recipe, scenario.real.effectSigmas);
        const parent = runs.get("base")!.first;
        for (let s = 0; s < scenario.real.runs; s++) {
          const value = draw(scenario.real.effectSigmas);
          record(
            recipe,
            value,
            s,
            value < best().mean ? "keep" : "discard",
            [parent],
            "real",
            "g-real",
          );
        }
        for (let s = 0; s < (scenario.extraBaselineRuns ?? 0); s++) {
          record("base", draw(0), scenario.baselineRuns + s, "keep", [], "baseline", "g-base2");
        }
      }
      if (i === scenario.noiseIdeas) break;
      const recipe = `idea-${c}-${i}`;
      const current = best();
      const attempts = random() < scenario.cherryPick ? 3 : 1;
      const values: number[] = [];
      for (let s = 0; s < attempts; s++) {
        values.push(draw(0));
        if (values[s] < current.mean) break;
      }
      const lowest = Math.min(...values);
      values.forEach((value, s) => {
        const status = value === lowest && value < current.mean ? "keep" : "discard";
        record(recipe, value, s, status, [current.first], `idea ${i}`, null);
      });
      if (lowest < current.mean) {
        for (let r = 0; r < scenario.replicatesOfNewBest; r++) {
          const value = draw(0);
          record(recipe, value, values.length + r, "discard", [current.first], `idea ${i}`, null);
        }
      }
    }
  }
  return { cards, truth, classKeys };
}
