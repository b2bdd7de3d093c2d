/**
 * The planner: turns the knowledge base into concrete next experiments, each a validated config
 * change on a named base (card and recipe hash), with a hypothesis written from the cards'
 * numbers. It replicates before it builds:
 * 1. an unconfirmed best (a mean from too few runs, or within noise) gets a replicate with fixed
 *    seeds at priority 1, and nothing is built on it until it is confirmed;
 * 2. every confirmed direction (an idea whose mean beat its reference's, as the synthesis says)
 *    is extended one step from the anchor (the best confirmed recipe, else the baseline);
 * 3. open questions (lessons that ask something, inconclusive ideas) until a card answers them;
 * 4. exploration: one step of each tunable knob from the anchor, ranked by expected gain per run.
 * It knows the budget: a change a run of S steps cannot feel (a momentum ramp longer than the
 * run, a schedule shift under one step) or that would leave too few steps is never proposed. It
 * never proposes what was run (seed twins included) or is queued, nor an invalid recipe.
 */
import type { CardSummary } from "../knowledge/index.ts";
import { MAX_REPLICATES, MIN_NOISE_DF, type Synthesis } from "../knowledge/synthesis.ts";
import {
  changeHolds,
  configChange,
  type ConfigValidator,
  type FlatConfig,
} from "../knowledge/config_keys.ts";
import { oneLine, truncate } from "../util/text.ts";
import { addItems, itemComparable, openItemsForDedup } from "./add.ts";
import { loadTriedCards, type TriedCards } from "./cards.ts";
import { type Comparable, findDuplicate, normalizeHypothesis, similarity } from "./dedup.ts";
import { type ItemBase, type QueueOptions, readQueue } from "./queue.ts";
import type { Problem } from "./store.ts";

/** One proposed experiment. */
export interface Suggestion {
  /** The concrete change and what is expected, with the numbers behind it. */
  hypothesis: string;
  /** Taxonomy category. */
  category: string;
  /** 1 (most urgent) to 5. */
  priority: number;
  /** The config change (canonical dotted recipe keys), when it is one. */
  config: Record<string, unknown> | null;
  /** What the change applies to (card and recipe hash), when known. */
  base: ItemBase | null;
  /** Fixed seeds to run (replicates), else null. */
  seeds: number[] | null;
  /** Where it comes from. */
  source: "neighbourhood" | "replicate" | "open_question" | "unexplored" | "baseline";
  /** Why, naming the cards behind it. */
  rationale: string;
  /** The cards behind it. */
  priorCards: string[];
  /** Expected val_bpb gain per run (the ranking of exploration), when estimated. */
  value?: number;
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
  /**
   * Keep this many items pending: enqueue up to `keepFull` minus the pending count (implies
   * `enqueue`; `limit` still caps the suggestions).
   */
  keepFull?: number;
  /** Recorded as the creator of enqueued items. */
  agent?: string;
  /** Checks a change against the recipe; a suggestion it rejects is never made. */
  validateChange?: ConfigValidator;
  /**
   * The workspace recipe as a flat config (config_keys.ts): on a base without cards, single
   * steps from it are proposed beside the baseline runs, so workers are not idle meanwhile.
   */
  recipeConfig?: FlatConfig;
}

/** What the planner proposes, and the unreadable records it skipped. */
export interface PlanResult {
  /** The suggestions, best first. */
  suggestions: Suggestion[];
  /** Unreadable card or queue files. */
  problems: Problem[];
  /** Optimizer steps a run takes in the focus class (median of recent cards), when known. */
  stepsPerRun: number | null;
}

/** A run shorter than this many steps is too short to learn from a bigger model. */
export const MIN_STEPS = 25;
/** Unconfirmed promising ideas (besides the best) replicated at once. */
export const PROMISING_REPLICATES = 2;
/** Runs a recipe needs before its mean is trusted enough to build on (replicate target). */
export const REPLICATE_TARGET = 3;

/** A number written compactly (4 significant digits). */
function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

function live(cards: CardSummary[]): CardSummary[] {
  return cards.filter((card) => !card.retracted);
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
export function categoryOfKey(key: string, fallback = "other"): string {
  const last = key.split(".").pop()!.toLowerCase().replace(/_/g, "");
  return KEY_CATEGORY.find(([pattern]) => pattern.test(last))?.[1] ?? fallback;
}

/** Runs of one recipe in one class. */
interface RecipeRuns {
  hash: string;
  classKey: string;
  cards: CardSummary[];
  mean: number;
  n: number;
  seeds: Set<number>;
}

/** Per (class, recipe) runs with a val_bpb, from live cards. */
function recipeRuns(cards: CardSummary[]): Map<string, RecipeRuns> {
  const out = new Map<string, RecipeRuns>();
  for (const card of live(cards)) {
    if (card.val_bpb === null || card.status === "crash") continue;
    const key = `${card.class_key}#${card.recipe_hash}`;
    let runs = out.get(key);
    if (!runs) {
      runs = {
        hash: card.recipe_hash,
        classKey: card.class_key,
        cards: [],
        mean: 0,
        n: 0,
        seeds: new Set(),
      };
      out.set(key, runs);
    }
    runs.cards.push(card);
    runs.n++;
    runs.mean += (card.val_bpb - runs.mean) / runs.n;
    runs.seeds.add(card.seed);
  }
  return out;
}

/**
 * The budget in steps: the median `results.num_steps` of the runs of recipe `hash` in a class
 * (its cost decides its steps), else of the class's recent runs; null when unknown.
 */
function stepsPerRun(cards: TriedCards, classKey: string, hash?: string): number | null {
  if (hash !== undefined) {
    const own = stepsPerRun(
      { ...cards, summaries: cards.summaries.filter((card) => card.recipe_hash === hash) },
      classKey,
    );
    if (own !== null) return own;
  }
  const steps: number[] = [];
  const recent = live(cards.summaries).filter((card) => card.class_key === classKey).slice(-20);
  for (const summary of recent) {
    const value = cards.cardOf(summary.id)?.results.num_steps;
    if (typeof value === "number" && value > 0) steps.push(value);
  }
  if (steps.length === 0) return null;
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)];
}

/** Relative cost per optimizer step of `change` against `base` (compute per step ratio). */
function stepCostRatio(base: FlatConfig, change: FlatConfig): number {
  const get = (key: string) => {
    const value = key in change ? change[key] : base[key];
    return typeof value === "number" ? value : NaN;
  };
  const was = (key: string) => (typeof base[key] === "number" ? base[key] as number : NaN);
  const ratio = (key: string, power = 1) => {
    const r = (get(key) / was(key)) ** power;
    return Number.isFinite(r) && r > 0 ? r : 1;
  };
  return ratio("model.depth") * ratio("model.width", 2) * ratio("totalBatchTokens");
}

/**
 * Why a run of `steps` steps could not feel `change` on `base` (or would be starved of steps),
 * or null when it can.
 */
export function budgetProblem(
  change: FlatConfig,
  base: FlatConfig,
  steps: number | null,
): string | null {
  if (steps === null) return null;
  const num = (key: string) => typeof base[key] === "number" ? base[key] as number : null;
  const ramp = num("optim.muonMomentumRampSteps");
  const rampAfter = typeof change["optim.muonMomentumRampSteps"] === "number"
    ? change["optim.muonMomentumRampSteps"] as number
    : ramp;
  if ("optim.muonMomentumEnd" in change && rampAfter !== null && steps < rampAfter / 4) {
    return `runs take ${steps} steps, a quarter of the ${rampAfter}-step momentum ramp at most: ` +
      `the final momentum is never reached`;
  }
  for (const key of ["optim.warmupRatio", "optim.warmdownRatio"]) {
    const from = num(key);
    const to = change[key];
    if (typeof to === "number" && from !== null && Math.abs(to - from) * steps < 1) {
      return `runs take ${steps} steps: moving ${key} by ${fmt(Math.abs(to - from))} shifts ` +
        `the schedule by less than one step`;
    }
  }
  const cost = stepCostRatio(base, change);
  if (cost > 1 && steps / cost < MIN_STEPS) {
    return `runs take ${steps} steps; this costs x${fmt(cost)} per step, leaving about ` +
      `${Math.floor(steps / cost)} (< ${MIN_STEPS})`;
  }
  return null;
}

/** One knob the explorer steps, and how: by a factor, or by a delta within bounds. */
interface Knob {
  key: string;
  /** `mul`: value x factor^k; `add`: value + delta * k (k = 1, 2, ... both directions). */
  kind: "mul" | "add";
  /** The factor or delta of one step. */
  step: number;
  /** Values must stay in [min, max]. */
  min?: number;
  max?: number;
  /** Values are integers (rounded; widths to a multiple of the head size). */
  integer?: boolean;
  /** Prior expected gain of one step, in val_bpb (before the category's track record). */
  prior: number;
}

/** The explorer's knobs: keys of the recipe (config_keys vocabulary) and their steps. */
const KNOBS: Knob[] = [
  { key: "optim.matrixLr", kind: "mul", step: 1.5, prior: 0.012 },
  { key: "optim.embeddingLr", kind: "mul", step: 1.5, prior: 0.006 },
  { key: "optim.unembeddingLr", kind: "mul", step: 1.5, prior: 0.006 },
  { key: "optim.scalarLr", kind: "mul", step: 1.5, prior: 0.003 },
  { key: "optim.warmdownRatio", kind: "add", step: 0.1, min: 0, max: 1, prior: 0.008 },
  { key: "optim.warmupRatio", kind: "add", step: 0.05, min: 0, max: 0.5, prior: 0.004 },
  { key: "optim.finalLrFrac", kind: "add", step: 0.05, min: 0, max: 1, prior: 0.003 },
  { key: "optim.weightDecay", kind: "mul", step: 2, prior: 0.004 },
  { key: "optim.muonMomentumStart", kind: "add", step: 0.03, min: 0, max: 0.99, prior: 0.003 },
  { key: "optim.muonMomentumEnd", kind: "add", step: 0.02, min: 0, max: 0.999, prior: 0.003 },
  {
    key: "optim.muonMomentumRampSteps",
    kind: "mul",
    step: 2,
    integer: true,
    min: 1,
    prior: 0.003,
  },
  { key: "optim.muonBeta2", kind: "add", step: 0.02, min: 0.5, max: 0.999, prior: 0.002 },
  { key: "model.depth", kind: "add", step: 1, integer: true, min: 1, prior: 0.015 },
  { key: "model.width", kind: "add", step: 0, integer: true, min: 1, prior: 0.015 },
  { key: "model.softcap", kind: "mul", step: 1.25, prior: 0.002 },
  { key: "totalBatchTokens", kind: "mul", step: 2, integer: true, min: 1, prior: 0.01 },
  { key: "model.seqLen", kind: "mul", step: 2, integer: true, min: 16, prior: 0.006 },
];

/** Most exploration drafts per plan (the planner stops at its limit long before, as a rule). */
const MAX_DRAFTS = 2000;

/** How far the explorer reaches from the anchor (steps of 1..SCALES knob steps). */
const SCALES = 4;

/** The values k steps of `knob` away from `value`, both directions. */
function knobValues(knob: Knob, value: number, k: number, base: FlatConfig): number[] {
  const head = typeof base["model.headDim"] === "number" ? base["model.headDim"] as number : 1;
  const raw = knob.key === "model.width"
    ? [value + head * k, value - head * k]
    : knob.kind === "mul"
    ? [value * knob.step ** k, value / knob.step ** k]
    : [value + knob.step * k, value - knob.step * k];
  return raw
    .map((v) => (knob.integer ? Math.round(v) : Number(v.toPrecision(4))))
    .filter((v) => v >= (knob.min ?? 0) && v <= (knob.max ?? Infinity));
}

/** Hypothesis verbs by direction. */
function verb(from: number, to: number): string {
  return to > from ? "Raise" : "Lower";
}

/** A change with everything the planner needs to check and rank it. */
interface Draft extends Suggestion {
  target: FlatConfig | null;
  replicates: string | null;
}

/** Keys of a confirmed direction: numeric keys that differ between a reference and an idea. */
function directionOf(from: FlatConfig, to: FlatConfig): { key: string; a: number; b: number }[] {
  return configChange(from, to)
    .filter((d) => typeof d.from === "number" && typeof d.to === "number")
    .map((d) => ({ key: d.key, a: d.from as number, b: d.to as number }));
}

/**
 * One more step from `value` along a -> b: additive for integer counts (depth 4 -> 6 -> 8),
 * geometric for rates and for power-of-two sizes (batch 16384 -> 8192 -> 4096).
 */
function extend(value: number, a: number, b: number, integer: boolean): number {
  const ratio = b / a;
  const powerOfTwo = Number.isInteger(Math.log2(ratio)) || Number.isInteger(Math.log2(1 / ratio));
  const geometric = value > 0 && a > 0 && b > 0 && (!integer || powerOfTwo);
  let next = geometric ? value * ratio : value + (b - a);
  if (integer) {
    next = Math.round(next);
    if (next === value) next = value + Math.sign(b - a);
  }
  return Number(next.toPrecision(6));
}

/** The question a lesson asks: everything up to its last "?" (never cut at the first). */
export function questionOf(lesson: string | null): string | null {
  if (!lesson) return null;
  const end = lesson.lastIndexOf("?");
  if (end < 0) return null;
  return oneLine(lesson.slice(0, end + 1).trim());
}

/** Words in questions that name a recipe key. */
const QUESTION_KEYS: [RegExp, string][] = [
  [/\bwidth\b/i, "model.width"],
  [/\b(depth|layers?)\b/i, "model.depth"],
  [/\bhead[\s_-]*dim\b/i, "model.headDim"],
  [/\b(seq[\s_-]*len|sequence length|context)\b/i, "model.seqLen"],
  [/\bwarm[\s_-]*down\b/i, "optim.warmdownRatio"],
  [/\bwarm[\s_-]*up\b/i, "optim.warmupRatio"],
  [/\b(matrix|muon)\s*(lr|learning rate)\b/i, "optim.matrixLr"],
  [/\bembedding\s*(lr|learning rate)\b/i, "optim.embeddingLr"],
  [/\bweight[\s_-]*decay\b/i, "optim.weightDecay"],
  [/\b(batch|tokens per step)\b/i, "totalBatchTokens"],
];

/** A concrete config change a question asks about ("width 64?"), or null. */
export function questionChange(question: string): FlatConfig | null {
  for (const [pattern, key] of QUESTION_KEYS) {
    const match = pattern.exec(question);
    if (!match) continue;
    const after = question.slice(match.index + match[0].length);
    const number = /^\D{0,12}?(\d+(?:\.\d+)?(?:e-?\d+)?)/i.exec(after);
    if (number) return { [key]: Number(number[1]) };
  }
  return null;
}

/**
 * Propose up to `limit` concrete experiments for the base in `options.kb`, skipping anything
 * already tried or queued; with `enqueue` (or `keepFull`), add them (each one dedup-checked
 * again under the lock).
 */
export async function planExperiments(options: PlanOptions): Promise<PlanResult> {
  const cards = await loadTriedCards(options.kb);
  try {
    const problems: Problem[] = [...cards.problems];
    const open = await openItemsForDedup(options.kb, cards.configOf);
    const queue = await readQueue(options.kb);
    const synthesis = await cards.base.synthesis();
    const drafts = draftSuggestions(
      cards,
      synthesis,
      queue.items.map((s) => s.item),
      options.recipeConfig ?? null,
    );
    const steps = drafts.steps;
    let limit = options.limit ?? 8;
    if (options.keepFull !== undefined) {
      const pending = queue.items.filter((item) => item.status === "pending").length;
      limit = Math.min(limit, Math.max(0, options.keepFull - pending));
    }
    const taken: Comparable[] = [];
    const suggestions: Suggestion[] = [];
    for (const draft of drafts.list) {
      if (suggestions.length >= limit) break;
      const change = draft.config as FlatConfig | null;
      if (change && options.validateChange) {
        try {
          options.validateChange(change, drafts.anchorConfig ?? undefined);
        } catch {
          continue; // an invalid recipe is never proposed
        }
      }
      // Replicates and plain questions repeat a card on purpose: only queued work counts there.
      const against = repeatsOnPurpose(draft)
        ? [...open, ...taken]
        : [...open, ...taken, ...cards.comparables];
      if (findDuplicate(draft, against)) continue;
      const { target: _target, replicates: _replicates, ...suggestion } = draft;
      suggestions.push(suggestion);
      taken.push({
        ...itemComparable({
          id: `suggestion ${suggestions.length}`,
          hypothesis: draft.hypothesis,
          category: draft.category,
          config: change,
          base: draft.base ?? undefined,
          seeds: draft.seeds ?? undefined,
        }, cards.configOf),
      });
    }
    if (options.enqueue || options.keepFull !== undefined) {
      // One hold of the queue lock for the whole batch; each is dedup-checked again under it.
      const results = await addItems(
        suggestions.map((suggestion) => ({
          options: {
            ...options,
            triedCards: repeatsOnPurpose(suggestion) ? [] : cards.comparables,
            baseConfig: suggestion.base?.card ? cards.configOf(suggestion.base.card) : null,
            configOf: cards.configOf,
          },
          fields: {
            hypothesis: suggestion.hypothesis,
            category: suggestion.category,
            priority: suggestion.priority,
            config: suggestion.config,
            priorCards: suggestion.priorCards,
            base: suggestion.base,
            seeds: suggestion.seeds,
            createdBy: options.agent ?? "director",
            source: "plan" as const,
            rationale: suggestion.rationale,
          },
        })),
        options.kb,
      );
      results.forEach((result, i) => {
        if (result.item) suggestions[i].enqueued = result.item.id;
        else suggestions[i].skipped = `duplicates ${result.duplicate!.existing.id}`;
      });
    }
    return { suggestions, problems, stepsPerRun: steps };
  } finally {
    cards.base.close();
  }
}

/** Where exploration starts: a card's config, or the workspace recipe on an empty base. */
interface Anchor {
  config: FlatConfig;
  base: ItemBase | null;
  /** How hypotheses name it. */
  label: string;
  /** Its card id, or null for the workspace recipe. */
  id: string | null;
  /** "; runs take ~N steps" or "". */
  stepsText: string;
}

/**
 * One to SCALES steps of each knob from the anchor, ranked by expected gain per run (priority 3
 * for the best four, else 4), then pairs of the better single steps (priority 5).
 */
function explore(
  anchor: Anchor,
  synthesis: Synthesis,
  feasible: (delta: FlatConfig) => boolean,
): Draft[] {
  const anchorConfig = anchor.config;
  const change = (key: string, value: unknown): FlatConfig => ({ [key]: value });
  const list: Draft[] = [];
  const where = anchor.id ? `the anchor ${anchor.id}` : "the workspace recipe";
  const record = new Map(synthesis.coverage.map((row) => [row.category, row]));
  const singles: Draft[] = [];
  const lastResort: Draft[] = [];
  for (const knob of KNOBS) {
    const now = anchorConfig[knob.key];
    if (typeof now !== "number") continue;
    const category = categoryOfKey(knob.key);
    // A saturated category (many ideas, several dead ends, none confirmed) gets new ones only
    // when every other idea has been tried (the last resort, below).
    const saturated = record.get(category as never)?.state === "saturated";
    const row = record.get(category as never);
    // The category's track record: keeps over experiments (Laplace), vs an even prior.
    const rate = row ? (row.keep + 1) / (row.experiments + 2) : 0.5;
    let stepsOfKnob = 0;
    for (let k = 1; k <= SCALES; k++) {
      for (const next of knobValues(knob, now, k, anchorConfig)) {
        if (!Number.isFinite(next) || next === now) continue;
        const delta = change(knob.key, next);
        if (!feasible(delta)) continue;
        // Farther steps are worth less (a bowl around a tuned value), and so is each further
        // step of one knob (the first one's result says much about the next): knobs interleave.
        const value = knob.prior * rate * 2 / k / (1 + 0.5 * stepsOfKnob++);
        (saturated ? lastResort : singles).push({
          hypothesis: `${verb(now, next)} ${knob.key} from ${fmt(now)} to ${fmt(next)} on ` +
            `${anchor.label}${anchor.stepsText}`,
          category,
          priority: 3,
          config: delta,
          base: anchor.base,
          seeds: null,
          source: row && row.experiments > 0 ? "neighbourhood" : "unexplored",
          rationale: `one step of ${knob.key} from ${where}; ${category} kept ` +
            `${row?.keep ?? 0} of ${row?.experiments ?? 0}; expected gain per run ~${fmt(value)}`,
          priorCards: anchor.id ? [anchor.id] : [],
          value,
          target: { ...anchorConfig, ...delta },
          replicates: null,
        });
      }
    }
  }
  singles.sort((a, b) => b.value! - a.value!);
  singles.forEach((draft, i) => draft.priority = i < 4 ? 3 : 4);
  list.push(...singles);
  // When single steps run out: two one-step changes together (interactions), first among the
  // better steps, then, so that an all-night queue does not drain around a converged anchor,
  // among all of them; last, steps in saturated categories and their pairs. All at priority 5,
  // the lowest: the list's order ranks them.
  const pair = (a: Draft, b: Draft, priority: number): Draft | null => {
    const keyA = Object.keys(a.config!)[0], keyB = Object.keys(b.config!)[0];
    if (keyA === keyB) return null;
    const delta = { ...a.config!, ...b.config! } as FlatConfig;
    if (!feasible(delta)) return null;
    return {
      ...a,
      hypothesis: `${a.hypothesis.split(" on card_")[0]} and ${
        b.hypothesis.split(" on card_")[0]
          .replace(/^\w/, (c) => c.toLowerCase())
      } together on ${anchor.label}${anchor.stepsText}`,
      priority,
      config: delta,
      rationale: `two one-step changes from ${where} at once (their interaction)`,
      value: (a.value! * b.value!) / (a.value! + b.value!),
      target: { ...anchorConfig, ...delta },
    };
  };
  const better = singles.filter((draft) => draft.value! >= singles[0]?.value! / 4);
  for (let i = 0; i < better.length && list.length < 400; i++) {
    for (let j = i + 1; j < better.length; j++) {
      const draft = pair(better[i], better[j], 5);
      if (draft) list.push(draft);
    }
  }
  const isBetter = new Set(better);
  for (let i = 0; i < singles.length && list.length < MAX_DRAFTS; i++) {
    for (let j = i + 1; j < singles.length && list.length < MAX_DRAFTS; j++) {
      if (isBetter.has(singles[i]) && isBetter.has(singles[j])) continue; // paired above
      const draft = pair(singles[i], singles[j], 5);
      if (draft) list.push(draft);
    }
  }
  lastResort.sort((a, b) => b.value! - a.value!);
  for (const draft of lastResort) list.push({ ...draft, priority: 5 });
  // And their pairs, with each other and with the other steps.
  const all = [...singles, ...lastResort];
  for (let i = 0; i < all.length && list.length < MAX_DRAFTS; i++) {
    for (let j = Math.max(i + 1, singles.length); j < all.length && list.length < MAX_DRAFTS; j++) {
      const draft = pair(all[i], all[j], 5);
      if (draft) list.push(draft);
    }
  }
  return list;
}

/** Replicates and questions without a config rerun or revisit a card by design. */
function repeatsOnPurpose(suggestion: Suggestion): boolean {
  return suggestion.config === null &&
    (suggestion.source === "replicate" || suggestion.source === "open_question");
}

/** Every candidate, best first, before dedup and validation. */
function draftSuggestions(
  cards: TriedCards,
  synthesis: Synthesis,
  items: { hypothesis: string }[],
  recipeConfig: FlatConfig | null,
): { list: Draft[]; anchorConfig: FlatConfig | null; steps: number | null } {
  const list: Draft[] = [];
  const summaries = live(cards.summaries);
  if (summaries.length === 0) {
    const baseline = (hypothesis: string, priority: number, seeds: number[], why: string) => ({
      hypothesis,
      category: "other",
      priority,
      config: null,
      base: null,
      seeds,
      source: "baseline" as const,
      rationale: why,
      priorCards: [],
      target: null,
      replicates: null,
    });
    list.push(
      baseline(
        "Run the unmodified baseline recipe (seed 0) to anchor every later comparison",
        1,
        [0],
        "the knowledge base has no cards yet; the first run is always the baseline",
      ),
      baseline(
        "Replicate the unmodified baseline recipe with seeds 1, 2, 3 to measure the noise floor",
        2,
        [1, 2, 3],
        "no gain can be confirmed before the class has a noise estimate (replicate runs)",
      ),
    );
    // Single steps from the workspace recipe can run beside the baseline: they compare with it.
    if (recipeConfig) {
      list.push(...explore(
        {
          config: recipeConfig,
          base: null,
          label: "the workspace recipe",
          id: null,
          stepsText: "",
        },
        synthesis,
        (delta) => !changeHolds(delta, recipeConfig),
      ));
    }
    return { list, anchorConfig: recipeConfig, steps: null };
  }
  const runs = recipeRuns(cards.summaries);
  const runsOf = (card: CardSummary) => runs.get(`${card.class_key}#${card.recipe_hash}`);
  // A recipe's card: the one the synthesis names, else any live card of that recipe.
  const cardOfRecipe = (id: string, classKey: string, hash: string) =>
    cards.byId.get(id) ??
      summaries.find((card) => card.class_key === classKey && card.recipe_hash === hash);
  const focus = synthesis.classes.find((row) =>
    row.best !== null && cardOfRecipe(row.best.card, row.key, row.best.recipe_hash)
  );
  if (!focus) return { list: openQuestions(cards, runs, items), anchorConfig: null, steps: null };
  const classKey = focus.key;
  const bestEstimate = focus.best!;
  const best = {
    card: cardOfRecipe(bestEstimate.card, classKey, bestEstimate.recipe_hash)!,
    confirmed: bestEstimate.confirmed,
    isBaseline: bestEstimate.is_baseline,
  };
  const baselineCard = (focus.baseline &&
    cardOfRecipe(focus.baseline.card, classKey, focus.baseline.recipe_hash)) ??
    summaries.find((card) => card.class_key === classKey)!;

  // The anchor: the best when it is confirmed (or is the baseline), else the confirmed idea with
  // the best mean, else the baseline. Nothing is built on an unconfirmed best.
  let anchor = best.card;
  if (!best.confirmed && !best.isBaseline) {
    const confirmed = synthesis.findings
      .filter((f) => f.confirmed && f.class_key === classKey)
      .sort((a, b) => a.val_bpb - b.val_bpb)
      .map((f) => cardOfRecipe(f.id, classKey, f.recipe_hash))
      .filter((card): card is CardSummary => card !== undefined);
    anchor = confirmed[0] ?? baselineCard;
  }
  const anchorConfig = cards.configOf(anchor.id);
  const steps = stepsPerRun(cards, classKey, anchor.recipe_hash);
  const anchorRuns = runsOf(anchor);
  const describe = (card: CardSummary) => {
    const r = runsOf(card);
    return r
      ? `${card.id} (val_bpb ${fmt(r.mean)} over ${r.n} run${r.n === 1 ? "" : "s"})`
      : card.id;
  };
  const stepsText = steps === null ? "" : `; runs take ~${steps} steps`;
  const baseOf = (card: CardSummary): ItemBase => ({
    card: card.id,
    recipe_hash: card.recipe_hash,
  });

  // 1. Replicate before building: an unconfirmed best, or a class without any noise estimate.
  const replicateTargets: { card: CardSummary; why: string; priority: number }[] = [];
  if (!best.confirmed && !best.isBaseline) {
    replicateTargets.push({
      card: best.card,
      why: `the best ${describe(best.card)} is not confirmed: nothing is built on it until its ` +
        `mean holds up`,
      priority: 1,
    });
  }
  if (focus.noise === null && anchorRuns && anchorRuns.n <= MIN_NOISE_DF) {
    replicateTargets.push({
      card: anchor,
      why: `the class has no noise estimate yet: replicate runs of ${describe(anchor)} measure it`,
      priority: 2,
    });
  }
  // Promising ideas seen too few times: replicated so that the anchor can move on to them.
  const promising = synthesis.findings
    .filter((f) =>
      !f.confirmed && f.class_key === classKey && f.recipe_hash !== best.card.recipe_hash
    )
    .filter((f) => f.n < REPLICATE_TARGET && f.gain > 0)
    .sort((a, b) => b.gain - a.gain)
    .slice(0, PROMISING_REPLICATES);
  for (const finding of promising) {
    const card = cardOfRecipe(finding.id, classKey, finding.recipe_hash);
    if (!card) continue;
    replicateTargets.push({
      card,
      why: `${describe(card)} beat its reference by ${fmt(finding.gain)} but is not confirmed: ` +
        `replicates decide whether the next steps build on it`,
      priority: 2,
    });
  }
  for (const target of replicateTargets) {
    const r = runsOf(target.card);
    if (!r || r.n >= MAX_REPLICATES) continue;
    const want = Math.max(1, Math.min(REPLICATE_TARGET, MAX_REPLICATES) - r.n);
    const seeds: number[] = [];
    for (let seed = 0; seeds.length < want; seed++) if (!r.seeds.has(seed)) seeds.push(seed);
    list.push({
      hypothesis:
        `Replicate ${target.card.id} ("${
          truncate(oneLine(target.card.hypothesis), 70)
        }") with seeds ${seeds.join(", ")}: its val_bpb ${fmt(r.mean)} comes from ${r.n} ` +
        `run${r.n === 1 ? "" : "s"}`,
      category: target.card.categories[0] ?? "other",
      priority: target.priority,
      config: null,
      base: baseOf(target.card),
      seeds,
      source: "replicate",
      rationale: target.why,
      priorCards: [target.card.id],
      value: 0,
      target: null,
      replicates: target.card.recipe_hash,
    });
  }
  if (!anchorConfig) return { list, anchorConfig: null, steps };

  const change = (key: string, value: unknown): FlatConfig => ({ [key]: value });
  const feasible = (delta: FlatConfig): boolean =>
    !changeHolds(delta, anchorConfig) && budgetProblem(delta, anchorConfig, steps) === null;

  // 2. Extend every confirmed direction from the anchor.
  const seen = new Set<string>();
  for (const finding of synthesis.findings) {
    if (!finding.confirmed || finding.class_key !== classKey) continue;
    const idea = cardOfRecipe(finding.id, classKey, finding.recipe_hash);
    const ref = cardOfRecipe(
      finding.comparison.ref.card,
      classKey,
      finding.comparison.ref.recipe_hash,
    );
    if (!idea || !ref) continue;
    const from = cards.configOf(ref.id);
    const to = cards.configOf(idea.id);
    if (!from || !to) continue;
    const gain = finding.gain;
    for (const { key, a, b } of directionOf(from, to)) {
      const now = anchorConfig[key];
      if (typeof now !== "number") continue;
      let next = extend(now, a, b, Number.isInteger(a) && Number.isInteger(b));
      if (key === "model.width" && typeof anchorConfig["model.headDim"] === "number") {
        const head = anchorConfig["model.headDim"] as number;
        next = Math.max(head, Math.round(next / head) * head);
        if (next === now) next = now + Math.sign(b - a) * head;
      }
      const delta = change(key, next);
      if (seen.has(`${key}=${next}`) || !feasible(delta)) continue;
      seen.add(`${key}=${next}`);
      list.push({
        hypothesis: `${verb(now, next)} ${key} from ${fmt(now)} to ${fmt(next)} on ` +
          `${describe(anchor)}: one more step along ${fmt(a)} -> ${fmt(b)}, which gained ` +
          `${fmt(gain)} val_bpb (confirmed, ${idea.id} vs ${ref.id})${stepsText}`,
        category: categoryOfKey(key, idea.categories[0] ?? "other"),
        priority: 2,
        config: delta,
        base: baseOf(anchor),
        seeds: null,
        source: "neighbourhood",
        rationale:
          `confirmed direction ${key} ${fmt(a)} -> ${fmt(b)} (${idea.id} over ${ref.id}, ` +
          `gain ${fmt(gain)}), extended from the anchor ${anchor.id}`,
        priorCards: [anchor.id, idea.id],
        value: Math.max(gain, 0) / 2,
        target: { ...anchorConfig, ...delta },
        replicates: null,
      });
    }
  }

  // 3. Open questions.
  list.push(...openQuestions(cards, runs, items, anchor, anchorConfig, feasible));

  // 4. Exploration: one step of each knob, ranked by expected gain per run.
  list.push(...explore(
    {
      config: anchorConfig,
      base: baseOf(anchor),
      label: describe(anchor),
      id: anchor.id,
      stepsText,
    },
    synthesis,
    feasible,
  ));
  list.sort((a, b) => a.priority - b.priority || (b.value ?? 0) - (a.value ?? 0));
  return { list, anchorConfig, steps };
}

/**
 * Lessons that ask a question and inconclusive ideas, until a later card answers them: a card
 * that names the asking card as a prior, runs the change the question names, or says the same.
 */
function openQuestions(
  cards: TriedCards,
  runs: Map<string, RecipeRuns>,
  items: { hypothesis: string }[],
  anchor?: CardSummary,
  anchorConfig?: FlatConfig,
  feasible?: (delta: FlatConfig) => boolean,
): Draft[] {
  const out: Draft[] = [];
  const summaries = live(cards.summaries);
  // Questions already put to the queue (any status): asked once is enough.
  const askedBefore = new Set(
    items.map((item) => /^Answer the open question from (\S+):/.exec(item.hypothesis)?.[1])
      .filter((id) => id !== undefined),
  );
  for (const card of summaries) {
    const question = questionOf(card.lesson);
    if (!question) continue;
    const later = summaries.filter((other) => other.id > card.id);
    const asked = normalizeHypothesis(question);
    const concrete = questionChange(question);
    const answered = later.some((other) =>
      other.prior_cards.includes(card.id) ||
      similarity(asked, normalizeHypothesis(other.hypothesis)) >= 0.5 ||
      (concrete !== null && changeHolds(concrete, cards.configOf(other.id) ?? {}))
    );
    if (answered || askedBefore.has(card.id)) continue;
    const delta = concrete && anchorConfig && (!feasible || feasible(concrete)) ? concrete : null;
    out.push({
      hypothesis: `Answer the open question from ${card.id}: ${truncate(question, 300)}`,
      category: delta ? categoryOfKey(Object.keys(delta)[0]) : card.categories[0] ?? "other",
      priority: 3,
      config: delta,
      base: delta && anchor ? { card: anchor.id, recipe_hash: anchor.recipe_hash } : null,
      seeds: null,
      source: "open_question",
      rationale: `the lesson of ${card.id} asks this and no later card answers it`,
      priorCards: [card.id],
      value: 0.005,
      target: delta && anchorConfig ? { ...anchorConfig, ...delta } : null,
      replicates: null,
    });
  }
  for (const card of summaries) {
    if (card.status !== "inconclusive") continue;
    const r = runs.get(`${card.class_key}#${card.recipe_hash}`);
    if (!r || r.n >= REPLICATE_TARGET) continue;
    const seeds: number[] = [];
    for (let seed = 0; seeds.length < REPLICATE_TARGET - r.n; seed++) {
      if (!r.seeds.has(seed)) seeds.push(seed);
    }
    out.push({
      hypothesis: `Settle inconclusive ${card.id} ("${truncate(oneLine(card.hypothesis), 70)}")` +
        ` with seeds ${seeds.join(", ")}: val_bpb ${fmt(r.mean)} from ${r.n} run` +
        `${r.n === 1 ? "" : "s"}`,
      category: card.categories[0] ?? "other",
      priority: 3,
      config: null,
      base: { card: card.id, recipe_hash: card.recipe_hash },
      seeds,
      source: "open_question",
      rationale: `${card.id} was judged inconclusive with ${r.n} run${r.n === 1 ? "" : "s"}`,
      priorCards: [card.id],
      value: 0.004,
      target: null,
      replicates: card.recipe_hash,
    });
  }
  return out;
}
