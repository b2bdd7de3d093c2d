/**
 * The planner: turns the knowledge base into concrete next experiments, each explained by the
 * cards behind it. Four sources, most valuable first:
 * 1. the neighbourhood of the current best config: one more step along a change that helped
 *    (best card vs the prior card it built on);
 * 2. promising single results that need a replicate (an improvement seen once);
 * 3. open questions (inconclusive cards, lessons that ask something), one suggestion each;
 * 4. unexplored taxonomy categories (no card yet), with a concrete change per category.
 * A suggestion that repeats a tried card (a recorded dead end included) or an open queue item is
 * never proposed; saturated categories (>= 5 tries, <= 1 keep) get no new ideas.
 */
import type { CardSummary } from "../knowledge/index.ts";
import type { Synthesis } from "../knowledge/synthesis.ts";
import { oneLine, truncate } from "../util/text.ts";
import { addItem, openItemsForDedup } from "./add.ts";
import { cardConfig, loadTriedCards, type TriedCards } from "./cards.ts";
import { flattenConfig } from "../knowledge/config_keys.ts";
import { type Comparable, findDuplicate } from "./dedup.ts";
import type { QueueOptions } from "./queue.ts";
import type { Problem } from "./store.ts";

/** One proposed experiment. */
export interface Suggestion {
  /** The concrete change and what is expected. */
  hypothesis: string;
  /** Taxonomy category. */
  category: string;
  /** 1 (most urgent) to 5. */
  priority: number;
  /** The config change (dotted keys into the recipe config), when it is one. */
  config: Record<string, unknown> | null;
  /** Where it comes from. */
  source: "neighbourhood" | "replicate" | "open_question" | "unexplored" | "baseline";
  /** Why, naming the cards behind it. */
  rationale: string;
  /** The cards behind it. */
  priorCards: string[];
  /** Queue item id when enqueued. */
  enqueued?: string;
  /** Why it was not enqueued (a duplicate that appeared meanwhile). */
  skipped?: string;
}

/** Options of `planExperiments`. */
export interface PlanOptions extends QueueOptions {
  /** At most this many suggestions (default 8). */
  limit?: number;
  /** Add the suggestions to the queue. */
  enqueue?: boolean;
  /** Recorded as the creator of enqueued items. */
  agent?: string;
}

/** What the planner proposes, and the unreadable records it skipped. */
export interface PlanResult {
  /** The suggestions, best first. */
  suggestions: Suggestion[];
  /** Unreadable card or queue files. */
  problems: Problem[];
}

/** A number written compactly (4 significant digits). */
function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

function live(cards: CardSummary[]): CardSummary[] {
  return cards.filter((card) => !card.retracted);
}

/** The best (kept) card of each comparability class, most recently active class first. */
function bestCards(cards: TriedCards, synthesis: Synthesis): CardSummary[] {
  return synthesis.classes
    .map((stats) => (stats.best ? cards.byId.get(stats.best.id) : undefined))
    .filter((card): card is CardSummary => card !== undefined);
}

/** Recipe config keys (last part, lower-case) -> the category a change of them belongs to. */
const KEY_CATEGORY: [RegExp, string][] = [
  [/^(warmup|warmdown)|finallr/, "schedule"],
  [/lr$|lrfrac$/, "learning_rate"],
  [/^(muon|adam|ortho)/, "optimizer"],
  [/weightdecay|dropout|softcap/, "regularization"],
  [/^(depth|width|vegate)/, "architecture"],
  [/^(headdim|windowpattern|heads)/, "attention"],
  [/^seqlen/, "data"],
  [/^totalbatch/, "batch_size"],
  [/^devicebatch/, "efficiency"],
  [/^vocab/, "tokenizer"],
];

/** The taxonomy category of a change to config `key`, else `fallback`. */
function categoryOfKey(key: string, fallback: string): string {
  const last = key.split(".").pop()!.toLowerCase().replace(/_/g, "");
  return KEY_CATEGORY.find(([pattern]) => pattern.test(last))?.[1] ?? fallback;
}

/** Next step along the change from `parent` to `best` on numeric knobs that differ. */
function neighbourhood(cards: TriedCards, synthesis: Synthesis): Suggestion[] {
  const out: Suggestion[] = [];
  for (const best of bestCards(cards, synthesis)) {
    const parent = best.prior_cards.map((id) => cards.byId.get(id)).find((card) =>
      card && card.class_key === best.class_key && card.val_bpb !== null && !card.retracted
    );
    if (!parent || parent.val_bpb! <= best.val_bpb!) continue;
    const bestConfig = cardConfig(cards.base, best.id);
    const parentConfig = cardConfig(cards.base, parent.id);
    if (!bestConfig || !parentConfig) continue;
    const now = flattenConfig(bestConfig);
    const before = flattenConfig(parentConfig);
    // What was already built on the best card: a step tried there is not proposed again.
    const tried = cards.summaries
      .filter((card) => card.prior_cards.includes(best.id) && !card.retracted)
      .map((card) => ({ card, config: cardConfig(cards.base, card.id) }))
      .filter((child) => child.config !== null)
      .map((child) => ({ card: child.card, flat: flattenConfig(child.config!) }));
    for (const [key, value] of Object.entries(now)) {
      const old = before[key];
      if (typeof value !== "number" || typeof old !== "number" || value === old) continue;
      let next = value > 0 && old > 0 ? value * (value / old) : value + (value - old);
      if (Number.isInteger(value) && Number.isInteger(old)) {
        next = Math.round(next);
        if (next === value) next = value + Math.sign(value - old);
      }
      next = Number(next.toPrecision(6));
      const already = tried.find((child) => {
        const at = child.flat[key];
        return typeof at === "number" && (next > value ? at > value : at < value);
      });
      // A card built on the best already moved further this way: its result (a dead end
      // or not) is recorded, so the step is not proposed again.
      if (already) continue;
      const verb = next > value ? "Raise" : "Lower";
      out.push({
        hypothesis: `${verb} ${key} from ${fmt(value)} to ${fmt(next)}: one more step in the ` +
          `direction that took val_bpb from ${fmt(parent.val_bpb!)} to ${fmt(best.val_bpb!)}`,
        category: categoryOfKey(key, best.categories[0] ?? "other"),
        priority: 1,
        config: { [key]: next },
        source: "neighbourhood",
        rationale: `current best ${best.id} (val_bpb ${fmt(best.val_bpb!)}) changed ${key} ` +
          `${fmt(old)} -> ${fmt(value)} from ${parent.id} (val_bpb ${fmt(parent.val_bpb!)})`,
        priorCards: [best.id, parent.id],
      });
    }
  }
  return out;
}

/** Improvements over the class best that are not confirmed (beyond noise or replicated). */
function replications(cards: TriedCards, synthesis: Synthesis): Suggestion[] {
  const out: Suggestion[] = [];
  for (const finding of synthesis.findings) {
    const card = cards.byId.get(finding.id);
    if (finding.confirmed || !card) continue;
    const noise = finding.sigmas === null ? "class noise unknown" : `${fmt(finding.sigmas)} sigma`;
    out.push({
      hypothesis: `Replicate ${card.id} ("${truncate(oneLine(card.hypothesis), 80)}") with seed ` +
        `${card.seed + 1}: confirm its gain of ${fmt(finding.gain)} val_bpb is not noise`,
      category: card.categories[0] ?? "other",
      priority: 2,
      config: null,
      source: "replicate",
      rationale: `${card.id} beat its class best by ${fmt(finding.gain)} in a single run ` +
        `(${noise}; recipe ${card.recipe_hash} not replicated)`,
      priorCards: [card.id],
    });
  }
  return out;
}

/** Inconclusive results and lessons that ask a question, one suggestion each. */
function openQuestions(cards: TriedCards, synthesis: Synthesis): Suggestion[] {
  const out: Suggestion[] = [];
  // A best that already gets a replicate (an unconfirmed finding) needs no second rerun.
  const replicated = new Set(synthesis.findings.filter((f) => !f.confirmed).map((f) => f.id));
  for (const stats of synthesis.classes) {
    const best = stats.best ? cards.byId.get(stats.best.id) : undefined;
    if (stats.noise !== null || !best || replicated.has(best.id)) continue;
    out.push({
      hypothesis:
        `Rerun the best recipe of ${stats.label} (${best.id}) with seed ${best.seed + 1} ` +
        `to measure the noise floor of its class`,
      category: best.categories[0] ?? "other",
      priority: 3,
      config: null,
      source: "open_question",
      rationale: `${stats.label} has no replicate runs, so no gain in it can be confirmed`,
      priorCards: [best.id],
    });
  }
  for (const card of live(cards.summaries)) {
    const category = card.categories[0] ?? "other";
    const question = card.lesson?.split(/(?<=[.!?])\s+/).find((s) => s.trim().endsWith("?"));
    if (question) {
      out.push({
        hypothesis: `Answer the open question from ${card.id}: ${oneLine(question.trim())}`,
        category,
        priority: 3,
        config: null,
        source: "open_question",
        rationale: `the lesson of ${card.id} leaves this open`,
        priorCards: [card.id],
      });
    } else if (card.status === "inconclusive") {
      out.push({
        hypothesis: `Settle inconclusive ${card.id} ("${truncate(oneLine(card.hypothesis), 80)}")` +
          ` with two more seeds (${card.seed + 1}, ${card.seed + 2})`,
        category,
        priority: 3,
        config: null,
        source: "open_question",
        rationale: `${card.id} was judged inconclusive`,
        priorCards: [card.id],
      });
    }
  }
  return out;
}

/** A concrete first experiment per category, relative to a known config when there is one. */
interface Idea {
  category: string;
  key: string | null;
  apply: (value: unknown) => unknown;
  text: (from: string, to: string) => string;
}

const num = (f: (x: number) => number) => (x: unknown) => typeof x === "number" ? f(x) : null;

const IDEAS: Idea[] = [
  {
    category: "architecture",
    key: "model.depth",
    apply: num((x) => x + 2),
    text: (a, b) => `Increase depth from ${a} to ${b} layers at the same width`,
  },
  {
    category: "optimizer",
    key: "optim.muonMomentumEnd",
    apply: num((x) => Math.min(0.99, Number((x + 0.02).toFixed(4)))),
    text: (a, b) => `Raise Muon's final momentum from ${a} to ${b}`,
  },
  {
    category: "learning_rate",
    key: "optim.matrixLr",
    apply: num((x) => x * 1.5),
    text: (a, b) => `Raise the Muon matrix learning rate from ${a} to ${b} (x1.5)`,
  },
  {
    category: "schedule",
    key: "optim.warmdownRatio",
    apply: num((x) => Math.min(1, Number((x + 0.2).toFixed(4)))),
    text: (a, b) => `Lengthen the LR warmdown from ${a} to ${b} of the budget`,
  },
  {
    category: "batch_size",
    key: "totalBatchTokens",
    apply: num((x) => Math.max(1, Math.round(x / 2))),
    text: (a, b) => `Halve the tokens per step from ${a} to ${b} to take twice the steps`,
  },
  {
    category: "attention",
    key: "model.windowPattern",
    apply: (x) => x === "L" ? "SSSL" : "L",
    text: (a, b) => `Change the attention window pattern from "${a}" to "${b}"`,
  },
  {
    category: "normalization",
    key: null,
    apply: () => null,
    text: () => "Give the parameter-free RMSNorm a learned per-channel gain (init 1)",
  },
  {
    category: "initialization",
    key: null,
    apply: () => null,
    text: () => "Initialise lm_head with std 0.01 instead of 0.001",
  },
  {
    category: "regularization",
    key: "optim.weightDecay",
    apply: num((x) => x / 2),
    text: (a, b) => `Halve Muon weight decay from ${a} to ${b}`,
  },
  {
    category: "data",
    key: "model.seqLen",
    apply: num((x) => Math.max(16, Math.round(x / 2))),
    text: (a, b) => `Halve the sequence length from ${a} to ${b} (more documents per step)`,
  },
  {
    category: "tokenizer",
    key: null,
    apply: () => null,
    text: () =>
      "Halve the tokenizer vocabulary (a new harness: compare against its own baseline run)",
  },
  {
    category: "efficiency",
    key: "deviceBatchRows",
    apply: num((x) => x * 2),
    text: (a, b) => `Double the micro-batch from ${a} to ${b} rows (fewer accumulation steps)`,
  },
];

function unexplored(cards: TriedCards, synthesis: Synthesis, categories: string[]): Suggestion[] {
  const best = bestCards(cards, synthesis)[0];
  const config = best ? cardConfig(cards.base, best.id) : null;
  const flat = config ? flattenConfig(config) : {};
  const out: Suggestion[] = [];
  for (const idea of IDEAS) {
    if (!categories.includes(idea.category)) continue;
    const from = idea.key ? flat[idea.key] : undefined;
    const to = from === undefined ? undefined : idea.apply(from);
    // A known value that the idea cannot move (wrong type, already there): nothing to propose.
    if (from !== undefined && (to === null || to === undefined || to === from)) continue;
    const known = from !== undefined;
    out.push({
      hypothesis: known
        ? idea.text(typeof from === "number" ? fmt(from) : String(from), String(to))
        : fallbackText(idea),
      category: idea.category,
      priority: 3,
      config: known ? { [idea.key!]: to } : null,
      source: "unexplored",
      rationale: `no card explores ${idea.category} yet` +
        (best && known ? `; values relative to the best run ${best.id}` : ""),
      priorCards: best && known ? [best.id] : [],
    });
  }
  return out;
}

function fallbackText(idea: Idea): string {
  const generic: Record<string, string> = {
    architecture: "Increase depth by 2 layers at the same width",
    optimizer: "Raise Muon's final momentum by 0.02",
    learning_rate: "Raise the Muon matrix learning rate by x1.5",
    schedule: "Lengthen the LR warmdown by 0.2 of the budget",
    batch_size: "Halve the tokens per step to take twice the steps",
    attention: 'Switch the attention window pattern between "L" and "SSSL"',
    regularization: "Halve Muon weight decay",
    data: "Halve the sequence length (more documents per step)",
    efficiency: "Double the micro-batch rows (fewer accumulation steps)",
  };
  return generic[idea.category] ?? idea.text("", "");
}

/**
 * Propose up to `limit` concrete experiments for the base in `options.kb`, skipping anything
 * already tried or queued; with `enqueue`, add them (each one dedup-checked again under the lock).
 */
export async function planExperiments(options: PlanOptions): Promise<PlanResult> {
  const cards = await loadTriedCards(options.kb);
  try {
    const open = await openItemsForDedup(options.kb);
    const problems: Problem[] = [...cards.problems];
    // The same (cached) synthesis read-brief shows, so plan and brief never disagree.
    const synthesis = await cards.base.synthesis();
    const empty = synthesis.coverage
      .filter((row) => row.state === "unexplored" && row.category !== "other")
      .map((row) => row.category as string);
    const saturated = new Set<string>(
      synthesis.coverage.filter((row) => row.state === "saturated").map((row) => row.category),
    );
    // Saturated categories (many ideas, several dead ends, none confirmed): no new idea there.
    const deadEnds = saturated;
    const candidates: Suggestion[] = [];
    if (live(cards.summaries).length === 0) {
      candidates.push({
        hypothesis: "Run the unmodified baseline recipe to anchor every later comparison",
        category: "other",
        priority: 1,
        config: null,
        source: "baseline",
        rationale: "the knowledge base has no cards yet; the first run is always the baseline",
        priorCards: [],
      });
    }
    candidates.push(
      ...neighbourhood(cards, synthesis),
      ...replications(cards, synthesis),
      ...openQuestions(cards, synthesis),
      ...unexplored(cards, synthesis, empty),
    );

    const limit = options.limit ?? 8;
    const taken: Comparable[] = [];
    const suggestions: Suggestion[] = [];
    for (const candidate of candidates) {
      if (suggestions.length >= limit) break;
      if (candidate.source === "unexplored" || candidate.source === "neighbourhood") {
        if (deadEnds.has(candidate.category)) continue;
      }
      if (candidate.source === "unexplored" && saturated.has(candidate.category)) continue;
      // Replicates repeat a card on purpose, so only the queue and this plan count for them.
      const against = candidate.source === "replicate" || candidate.source === "open_question"
        ? [...open, ...taken]
        : [...open, ...taken, ...cards.comparables];
      if (findDuplicate(candidate, against)) continue;
      suggestions.push(candidate);
      taken.push({
        kind: "item",
        id: `suggestion ${suggestions.length}`,
        hypothesis: candidate.hypothesis,
        categories: [candidate.category],
        config: candidate.config,
      });
    }
    if (options.enqueue) {
      for (const suggestion of suggestions) {
        const result = await addItem({ ...options, triedCards: [] }, {
          hypothesis: suggestion.hypothesis,
          category: suggestion.category,
          priority: suggestion.priority,
          config: suggestion.config,
          priorCards: suggestion.priorCards,
          createdBy: options.agent ?? "director",
          source: "plan",
          rationale: suggestion.rationale,
        });
        if (result.item) suggestion.enqueued = result.item.id;
        else suggestion.skipped = `duplicates ${result.duplicate!.existing.id}`;
      }
    }
    return { suggestions, problems };
  } finally {
    cards.base.close();
  }
}
