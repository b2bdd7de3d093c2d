/**
 * Synthesis over card summaries: per comparability class, every recipe (an idea) is one sample
 * of all its runs; the best is the best mean with its n and confidence interval; the noise floor
 * comes from the replicated recipes near the best; an idea is confirmed only when its mean beats
 * its parent's (or the baseline's) by Welch's t with Holm's correction over the class; a dead end
 * is an idea whose confidence interval rules out a useful gain. Coverage and saturation count
 * ideas, not cards. docs/statistics.md states the rules; src/knowledge/stats.ts has the maths.
 * Pure functions: no I/O, so the brief, the judge, the planner and reports all agree.
 *
 * It is a fold: cards are added one by one to a small JSON-serialisable state (per recipe: its
 * runs as compact tuples), and `finalize` turns the state into the report. Every statistic is
 * independent of the order cards arrive in, so the knowledge base caches the state and folds in
 * only new cards.
 */
import type { CardSummary } from "./index.ts";
import {
  type Arm,
  compareMeans,
  type Comparison,
  holm,
  meanHalfWidth,
  type Sample,
  sampleOf,
  varianceExceeds,
} from "./stats.ts";
import { CATEGORIES, type Category, isCategory } from "./taxonomy.ts";

/** Family-wise error rate of confirmations per comparability class (Holm). */
export const ALPHA = 0.05;
/** The noise floor is unknown below this many degrees of freedom of replicate runs. */
export const MIN_NOISE_DF = 3;
/** The noise floor pools the replicated recipes nearest the best until this many df. */
export const TARGET_NOISE_DF = 40;
/** One-sided F-test level at which a recipe's spread counts as beyond the noise floor's. */
export const UNSTABLE_ALPHA = 0.001;
/** A gain smaller than this many noise sigmas is not useful (dead ends rule out at least this). */
export const USEFUL_GAIN_SIGMAS = 1;
/** A run with fewer than this fraction of its replicates' median steps is flagged. */
export const STEPS_DRIFT_RATIO = 0.8;
/** After this many runs an unconfirmed idea is called inconclusive instead of replicated again. */
export const MAX_REPLICATES = 8;

/** Noise floor of a class: pooled run-to-run standard deviation of replicated recipes. */
export interface NoiseFloor {
  /** pooled standard deviation of val_bpb within recipes (one run's noise) */
  sigma: number;
  /** degrees of freedom of the estimate: sum of (n - 1) over the pooled recipes */
  df: number;
  /** recipes pooled (replicated, near the best, stable) */
  groups: number;
  /** runs in those recipes */
  runs: number;
  /** replicated recipes left out as unstable (spread beyond the others', F-test p < 0.001) */
  unstable: number;
}

/** What a class has towards a noise floor when it is still unknown. */
export interface NoiseEvidence {
  /** degrees of freedom available (sum of n - 1 over replicated recipes) */
  df: number;
  /** degrees of freedom needed (MIN_NOISE_DF) */
  needed: number;
}

/** Mean and spread of one recipe's runs in one class. */
export interface RecipeEstimate {
  /** recipe hash (the idea) */
  recipe_hash: string;
  /** its first card (the one that introduced the idea) */
  card: string;
  /** mean val_bpb over all its runs (pending included) */
  mean: number;
  /** runs */
  n: number;
  /** sample standard deviation of its runs (null when n < 2) */
  sd: number | null;
  /** half-width of the 95% confidence interval of the mean (null when no variance is known) */
  ci95: number | null;
  /** true when n = 1 */
  provisional: boolean;
  /** seeds run, ascending */
  seeds: number[];
  /** seeds missing between the lowest and highest seed run (a run not recorded?) */
  seed_gaps: number[];
  /** seeds run more than once (not independent replicates) */
  duplicate_seeds: number[];
}

/** The comparison of an idea with its reference (parent recipe, else the class baseline). */
export interface IdeaComparison {
  /** what it is compared with */
  vs: "parent" | "baseline";
  /** the reference recipe */
  ref: RecipeEstimate;
  /** reference mean minus the idea's mean over all its runs (> 0: the idea is better) */
  gain: number;
  /** half-width of the 95% CI of the gain over all runs (null without a noise floor) */
  gain_ci95: number | null;
  /** runs of the idea used to confirm it (the run that prompted replication is left out) */
  confirmation_n: number;
  /** gain over the confirmation runs */
  confirmation_gain: number | null;
  /** Welch t of the confirmation gain */
  t: number | null;
  /** Welch-Satterthwaite degrees of freedom */
  df: number | null;
  /** one-sided p-value of "no improvement" */
  p: number | null;
  /** Holm-adjusted p over the class's tested ideas */
  p_adjusted: number | null;
  /** tested ideas in the class (Holm's m) */
  family: number;
}

/** The best recipe of a class, with how sure we are of it. */
export interface BestEstimate extends RecipeEstimate {
  /** the recipe's first card (same as `card`; kept for older readers) */
  id: string;
  /** the mean val_bpb (same as `mean`; kept for older readers) */
  val_bpb: number;
  /** what the idea was */
  hypothesis: string;
  /** true when the best is the class baseline itself */
  is_baseline: boolean;
  /** true when its improvement on its reference is confirmed (Holm-adjusted p <= ALPHA) */
  confirmed: boolean;
  /** its comparison with its parent or the baseline (null for the baseline) */
  comparison: IdeaComparison | null;
  /** plain words: confirmed / within noise / provisional / noise unknown / baseline */
  verdict: string;
}

/** One comparability class: same backend, device, harness hash and budget. */
export interface ClassStats {
  /** class key `backend|device|harness|budget` */
  key: string;
  /** short human label */
  label: string;
  /** runs with a val_bpb (not crashed, not retracted, pending included) */
  runs: number;
  /** crashed cards (not retracted) */
  crashes: number;
  /** distinct recipes (ideas) with at least one run */
  ideas: number;
  /** the kept recipe with the best mean, or null when nothing was kept yet */
  best: BestEstimate | null;
  /** the class baseline: the recipe of its oldest card (null when it never produced a value) */
  baseline: RecipeEstimate | null;
  /** noise floor, or null while there are fewer than MIN_NOISE_DF degrees of freedom */
  noise: NoiseFloor | null;
  /** what there is towards a noise floor (always set) */
  noise_evidence: NoiseEvidence;
  /** time of the class's latest card */
  latest: string;
}

/** An idea whose mean is better than its reference's (confirmed or not). */
export interface Finding {
  /** the idea's first card */
  id: string;
  /** its class */
  class_key: string;
  /** its recipe hash */
  recipe_hash: string;
  /** its mean val_bpb */
  val_bpb: number;
  /** its runs */
  n: number;
  /** reference mean minus its mean (> 0 is an improvement) */
  gain: number;
  /** gain in units of the class noise sigma, when known */
  sigmas: number | null;
  /** true when Welch's t against its reference survives Holm's correction at ALPHA */
  confirmed: boolean;
  /** "welch-holm" when confirmed, else null */
  basis: "welch-holm" | null;
  /** one run only */
  provisional: boolean;
  /** the comparison behind it */
  comparison: IdeaComparison;
  /** what was tried */
  hypothesis: string;
  /** what was learned (newest lesson of its cards) */
  lesson: string | null;
}

/** An idea whose 95% confidence interval rules out a useful gain over its reference. */
export interface DeadEnd {
  /** the idea's first card */
  id: string;
  /** its class */
  class_key: string;
  /** its recipe hash */
  recipe_hash: string;
  /** its runs */
  n: number;
  /** reference mean minus its mean */
  gain: number;
  /** half-width of the 95% CI of the gain */
  gain_ci95: number;
  /** the smallest gain called useful in its class (USEFUL_GAIN_SIGMAS x noise sigma) */
  useful: number;
  /** its first card's tags */
  tags: string[];
  /** their categories */
  categories: Category[];
  /** what was tried */
  hypothesis: string;
}

/** Coverage of one taxonomy category. */
export interface CoverageRow {
  /** category */
  category: Category;
  /** runs (cards, not retracted) */
  experiments: number;
  /** distinct ideas (recipe hashes) */
  ideas: number;
  /** runs judged keep */
  keep: number;
  /** runs judged discard */
  discard: number;
  /** runs judged inconclusive */
  inconclusive: number;
  /** crashed runs */
  crash: number;
  /** runs pending judgement */
  pending: number;
  /** confirmed ideas */
  confirmed: number;
  /** dead-end ideas */
  dead_ends: number;
  /**
   * unexplored (no run) | under-explored (<= 2 ideas) | promising (a confirmed idea) |
   * saturated (>= 5 ideas, >= 3 dead ends, none confirmed) | active
   */
  state: "unexplored" | "under-explored" | "saturated" | "promising" | "active";
}

/** A run that got far fewer optimizer steps than the other runs of its recipe. */
export interface StepsDrift {
  /** the card */
  id: string;
  /** its class */
  class_key: string;
  /** its recipe */
  recipe_hash: string;
  /** its steps */
  steps: number;
  /** median steps of the recipe's other runs */
  typical: number;
  /** 1-minute load average at the end of its training, when recorded */
  load_avg: number | null;
}

/** A card with two judgements that do not supersede each other. */
export interface Disputed {
  /** the card */
  id: string;
  /** its effective status (the earliest of the competing judgements) */
  status: string;
  /** what was tried */
  hypothesis: string;
}

/** The whole synthesis of a set of cards. */
export interface Synthesis {
  /** cards considered (including retracted) */
  total: number;
  /** retracted cards */
  retracted: number;
  /** pending cards waiting for a judgement */
  pending: number;
  /** classes, most recently active first */
  classes: ClassStats[];
  /** ideas better than their reference by their means, newest first (confirmed and not) */
  findings: Finding[];
  /** ideas whose CI rules out a useful gain, newest first */
  deadEnds: DeadEnd[];
  /** coverage per taxonomy category, in taxonomy order */
  coverage: CoverageRow[];
  /** free tags (outside the taxonomy) with their experiment counts, most used first */
  freeTags: { tag: string; experiments: number }[];
  /** non-retracted cards that carry a lesson, newest first (at most 100) */
  lessons: { id: string; status: string; lesson: string }[];
  /** things worth doing next, one per idea, derived from the cards */
  openQuestions: string[];
  /** runs with far fewer steps than their replicates, newest first */
  stepsDrift: StepsDrift[];
  /** cards with competing judgements, newest first */
  disputed: Disputed[];
  /** newest cards first (all statuses, retracted ones flagged; at most 100) */
  recent: CardSummary[];
}

/** Short label of a class key, e.g. `cpu "Xeon" harness 1a2b3c4d 300s`. */
export function classLabel(key: string): string {
  const [backend, device, harness, budget] = key.split("|");
  return `${backend} "${device}" harness ${harness.slice(0, 8)} ${budget}s`;
}

/** Newest-first lists in the state keep this many items (more than any view shows). */
const KEEP = 100;
/** Stored text in the state is cut to this many characters (views show at most 300). */
const TEXT = 500;
/** Per-idea text in the state (views show ideas at most 140 characters wide). */
const IDEA_TEXT = 200;

/** One run: [card id, val_bpb, seed, steps | null, group | null, load_avg | null, kept 1/0]. */
type Run = [string, number, number, number | null, string | null, number | null, number];

interface RecipeState {
  /** oldest card of the recipe in the class (crashes included) */
  first: string;
  hypothesis: string;
  tags: string[];
  categories: Category[];
  priors: string[];
  /** valued runs, ascending by card id */
  runs: Run[];
  kept: number;
  inconclusive: number;
  /** valued runs still pending judgement */
  pending: number;
  lesson: { id: string; text: string } | null;
  latest: string;
}

interface ClassState {
  runs: number;
  crashes: number;
  latest: string;
  /** oldest card of the class and its recipe (the baseline) */
  firstId: string;
  baseline: string;
  recipes: Record<string, RecipeState>;
}

type CoverageCounts = Pick<
  CoverageRow,
  "experiments" | "keep" | "discard" | "inconclusive" | "crash" | "pending"
>;

/** Layout version of `SynthesisState`; a cached state of another version is recomputed. */
export const SYNTHESIS_STATE_VERSION = 3;

/** The running state of a synthesis; JSON-serialisable. */
export interface SynthesisState {
  /** state layout version (SYNTHESIS_STATE_VERSION) */
  version: number;
  /** id of the newest card folded in ("" when none) */
  maxId: string;
  /** id of the newest card seen, folded or deferred ("" when none) */
  seenId: string;
  /** pending cards, held back until judged (a judgement may turn them into a crash) */
  deferred: CardSummary[];
  /** cards folded in, including retracted */
  total: number;
  /** retracted cards */
  retracted: number;
  /** per comparability class */
  classes: Record<string, ClassState>;
  /** counts per taxonomy category */
  coverage: Record<string, CoverageCounts>;
  /** experiments per free tag */
  freeTags: Record<string, number>;
  /** newest cards first */
  recent: CardSummary[];
  /** newest lessons first */
  lessons: { id: string; status: string; lesson: string }[];
  /** newest pending cards first */
  pendingCards: { id: string; hypothesis: string }[];
  /** newest disputed cards first */
  disputed: Disputed[];
  /** pending cards (all) */
  pending: number;
}

/** A state with no cards. */
export function emptySynthesisState(): SynthesisState {
  const coverage: Record<string, CoverageCounts> = {};
  for (const category of CATEGORIES) {
    coverage[category] = {
      experiments: 0,
      keep: 0,
      discard: 0,
      inconclusive: 0,
      crash: 0,
      pending: 0,
    };
  }
  return {
    version: SYNTHESIS_STATE_VERSION,
    maxId: "",
    seenId: "",
    deferred: [],
    total: 0,
    retracted: 0,
    classes: {},
    coverage,
    freeTags: {},
    recent: [],
    lessons: [],
    pendingCards: [],
    disputed: [],
    pending: 0,
  };
}

function cut(text: string): string {
  return text.length <= TEXT ? text : text.slice(0, TEXT);
}

/** Insert into a newest-first (by id) list, keeping at most KEEP items. */
function pushNewest<T extends { id: string }>(list: T[], item: T): void {
  let at = 0;
  while (at < list.length && list[at].id > item.id) at++;
  list.splice(at, 0, item);
  if (list.length > KEEP) list.pop();
}

function cutCard(card: CardSummary): CardSummary {
  return {
    ...card,
    hypothesis: cut(card.hypothesis),
    lesson: card.lesson === null ? null : cut(card.lesson),
  };
}

/**
 * Fold one card into `state`. Cards must arrive in id order (the cache relies on it to know
 * what is new); pending cards are held back until judged. Throws when the order is broken (the
 * caller then recomputes from all cards). Mutates and returns `state`.
 */
export function foldCard(state: SynthesisState, card: CardSummary): SynthesisState {
  if (card.id <= state.maxId) throw new Error(`cards must be folded in id order: ${card.id}`);
  if (card.id > state.seenId) state.seenId = card.id;
  if (card.status === "pending" && !card.retracted) {
    state.deferred.push(cutCard(card));
    return state;
  }
  state.maxId = card.id;
  return applyCard(state, card);
}

/** Add one card's contributions to `state`; the result does not depend on the order. */
function applyCard(state: SynthesisState, card: CardSummary): SynthesisState {
  state.total++;
  pushNewest(state.recent, cutCard(card));
  if (card.retracted) {
    state.retracted++;
    return state;
  }
  const klass = state.classes[card.class_key] ??= {
    runs: 0,
    crashes: 0,
    latest: card.timestamp,
    firstId: card.id,
    baseline: card.recipe_hash,
    recipes: {},
  };
  if (card.timestamp > klass.latest) klass.latest = card.timestamp;
  if (card.id < klass.firstId) {
    klass.firstId = card.id;
    klass.baseline = card.recipe_hash;
  }
  const recipe = klass.recipes[card.recipe_hash] ??= {
    first: card.id,
    hypothesis: card.hypothesis.slice(0, IDEA_TEXT),
    tags: card.tags,
    categories: card.categories,
    priors: card.prior_cards,
    runs: [],
    kept: 0,
    inconclusive: 0,
    pending: 0,
    lesson: null,
    latest: card.id,
  };
  if (card.id < recipe.first) {
    recipe.first = card.id;
    recipe.hypothesis = card.hypothesis.slice(0, IDEA_TEXT);
    recipe.tags = card.tags;
    recipe.categories = card.categories;
    recipe.priors = card.prior_cards;
  }
  if (card.id > recipe.latest) recipe.latest = card.id;
  if (card.lesson !== null && (recipe.lesson === null || card.id > recipe.lesson.id)) {
    recipe.lesson = { id: card.id, text: card.lesson.slice(0, IDEA_TEXT) };
  }
  if (card.status === "crash") klass.crashes++;
  if (card.val_bpb !== null && card.status !== "crash") {
    klass.runs++;
    const run: Run = [
      card.id,
      card.val_bpb,
      card.seed,
      card.num_steps ?? null,
      card.group ?? null,
      card.load_avg ?? null,
      card.status === "keep" ? 1 : 0,
    ];
    let at = recipe.runs.length;
    while (at > 0 && recipe.runs[at - 1][0] > card.id) at--;
    recipe.runs.splice(at, 0, run);
    if (card.status === "keep") recipe.kept++;
    if (card.status === "inconclusive") recipe.inconclusive++;
    if (card.status === "pending") recipe.pending++;
  }
  for (const category of card.categories) {
    const row = state.coverage[category];
    row.experiments++;
    row[card.status]++;
  }
  for (const tag of card.tags) {
    if (!isCategory(tag)) state.freeTags[tag] = (state.freeTags[tag] ?? 0) + 1;
  }
  if (card.lesson !== null) {
    pushNewest(state.lessons, { id: card.id, status: card.status, lesson: cut(card.lesson) });
  }
  if (card.status === "pending") {
    state.pending++;
    pushNewest(state.pendingCards, { id: card.id, hypothesis: cut(card.hypothesis) });
  }
  if (card.disputed) {
    pushNewest(state.disputed, {
      id: card.id,
      status: card.status,
      hypothesis: cut(card.hypothesis),
    });
  }
  return state;
}

/** Memoised t quantiles: the same few degrees of freedom recur across thousands of ideas. */
function seedList(runs: Run[]): { seeds: number[]; gaps: number[]; duplicates: number[] } {
  if (runs.length === 1) return { seeds: [runs[0][2]], gaps: [], duplicates: [] };
  const counts = new Map<number, number>();
  for (const run of runs) counts.set(run[2], (counts.get(run[2]) ?? 0) + 1);
  const seeds = [...counts.keys()].sort((a, b) => a - b);
  const gaps: number[] = [];
  for (let i = 1; i < seeds.length && gaps.length < 10; i++) {
    for (let s = seeds[i - 1] + 1; s < seeds[i] && gaps.length < 10; s++) gaps.push(s);
  }
  const duplicates = seeds.filter((seed) => counts.get(seed)! > 1);
  return { seeds, gaps, duplicates };
}

/** What the statistics of one class need from a recipe, computed once per finalize. */
interface RecipeView {
  hash: string;
  state: RecipeState;
  values: number[];
  mean: number;
  variance: number;
  estimate: RecipeEstimate;
  /** the arm of all its runs (set once the noise floor is known) */
  arm: Arm | null;
}

function viewOf(hash: string, state: RecipeState): RecipeView {
  const values = state.runs.map((run) => run[1]);
  const sample = sampleOf(values);
  const { seeds, gaps, duplicates } = seedList(state.runs);
  return {
    hash,
    state,
    values,
    mean: sample.mean,
    variance: sample.variance,
    estimate: {
      recipe_hash: hash,
      card: state.first,
      mean: sample.mean,
      n: sample.n,
      sd: sample.n >= 2 ? Math.sqrt(sample.variance) : null,
      ci95: null,
      provisional: sample.n === 1,
      seeds,
      seed_gaps: gaps,
      duplicate_seeds: duplicates,
    },
    arm: null,
  };
}

/**
 * The noise floor of a class: replicated recipes ordered by how near their mean is to `anchor`
 * (the best mean), unstable ones (variance beyond the pool of the other candidates by a one-sided
 * F-test at UNSTABLE_ALPHA) left out, pooled until TARGET_NOISE_DF degrees of freedom:
 * sigma^2 = sum((n_i - 1) s_i^2) / sum(n_i - 1).
 */
function noiseFloor(
  views: RecipeView[],
  anchor: number,
): { noise: NoiseFloor | null; evidence: NoiseEvidence } {
  const candidates = views.filter((view) => view.values.length >= 2)
    .sort((a, b) =>
      Math.abs(a.mean - anchor) - Math.abs(b.mean - anchor) || (a.hash < b.hash ? -1 : 1)
    );
  const available = candidates.reduce((sum, view) => sum + view.values.length - 1, 0);
  const evidence = { df: available, needed: MIN_NOISE_DF };
  if (available < MIN_NOISE_DF) return { noise: null, evidence };
  // Unstable: a recipe whose spread exceeds the pool of the other candidates beyond chance.
  let allSquares = 0;
  let allDf = 0;
  for (const view of candidates) {
    allSquares += view.variance * (view.values.length - 1);
    allDf += view.values.length - 1;
  }
  let squares = 0;
  let df = 0;
  let groups = 0;
  let runs = 0;
  let unstable = 0;
  for (const view of candidates) {
    if (df >= TARGET_NOISE_DF) break;
    const ownDf = view.values.length - 1;
    const otherDf = allDf - ownDf;
    const otherVariance = otherDf > 0 ? (allSquares - view.variance * ownDf) / otherDf : 0;
    if (
      otherDf > 0 && view.variance > otherVariance &&
      varianceExceeds(view.variance, ownDf, otherVariance, otherDf, UNSTABLE_ALPHA)
    ) {
      unstable++;
      continue;
    }
    squares += view.variance * (view.values.length - 1);
    df += view.values.length - 1;
    groups++;
    runs += view.values.length;
  }
  if (df < MIN_NOISE_DF) return { noise: null, evidence: { df, needed: MIN_NOISE_DF } };
  return {
    noise: { sigma: Math.sqrt(squares / df), df, groups, runs, unstable },
    evidence: { df, needed: MIN_NOISE_DF },
  };
}

/**
 * One arm of a comparison: the class noise floor as its per-run variance, unless the recipe's
 * own runs show a variance beyond it (F-test at 1%): then its own, with n - 1 df.
 */
function armOf(values: number[], noise: NoiseFloor, known?: Sample): Arm {
  const sample = known ?? sampleOf(values);
  const pooled = noise.sigma ** 2;
  if (
    sample.n >= 2 && sample.variance > pooled &&
    varianceExceeds(sample.variance, sample.n - 1, pooled, noise.df, UNSTABLE_ALPHA)
  ) {
    return {
      n: sample.n,
      mean: sample.mean,
      variance: sample.variance,
      df: sample.n - 1,
      pooled: false,
    };
  }
  return { n: sample.n, mean: sample.mean, variance: pooled, df: noise.df, pooled: true };
}

/**
 * Where the runs that may confirm an idea start. The run that made the idea look worth
 * replicating (its first kept run) was selected for being low, so it and the runs before it
 * are left out, unless it came in a batch of two or more seeds run together (one `group`): then
 * the batch and everything after it count. An idea never kept starts after its first run.
 */
export function confirmationStart(runs: { group: string | null; kept: boolean }[]): number {
  if (runs.length === 0) return 0;
  let discovery = runs.findIndex((run) => run.kept);
  if (discovery < 0) discovery = 0;
  const group = runs[discovery].group;
  if (group !== null && runs.filter((run) => run.group === group).length >= 2) {
    return runs.findIndex((run) => run.group === group);
  }
  return discovery + 1;
}

interface ClassResult {
  stats: ClassStats;
  findings: Finding[];
  deadEnds: DeadEnd[];
  comparisons: Map<string, IdeaComparison>;
  views: Map<string, RecipeView>;
  confirmed: Set<string>;
  deadEndHashes: Set<string>;
}

function analyseClass(key: string, klass: ClassState): ClassResult {
  const views = new Map<string, RecipeView>();
  // Which recipe a prior card ran: usually an idea's first card, else looked up in all runs once.
  const cardRecipe = new Map<string, string>();
  for (const [hash, recipe] of Object.entries(klass.recipes)) {
    cardRecipe.set(recipe.first, hash);
    if (recipe.runs.length > 0) views.set(hash, viewOf(hash, recipe));
  }
  let allRunsIndexed = false;
  const recipeOfCard = (id: string): string | undefined => {
    const known = cardRecipe.get(id);
    if (known !== undefined || allRunsIndexed) return known;
    allRunsIndexed = true;
    for (const [hash, recipe] of Object.entries(klass.recipes)) {
      for (const run of recipe.runs) cardRecipe.set(run[0], hash);
    }
    return cardRecipe.get(id);
  };
  // The baseline: the recipe of the oldest card, else the oldest recipe with a value.
  let baselineHash: string | null = views.has(klass.baseline) ? klass.baseline : null;
  if (baselineHash === null) {
    let oldest: RecipeView | null = null;
    for (const view of views.values()) {
      if (oldest === null || view.state.runs[0][0] < oldest.state.runs[0][0]) oldest = view;
    }
    baselineHash = oldest?.hash ?? null;
  }
  let bestView: RecipeView | null = null;
  for (const view of views.values()) {
    if (view.state.kept === 0) continue;
    if (
      bestView === null || view.mean < bestView.mean ||
      (view.mean === bestView.mean && view.hash < bestView.hash)
    ) bestView = view;
  }
  const anchor = bestView?.mean ?? (baselineHash ? views.get(baselineHash)!.mean : 0);
  const { noise, evidence } = noiseFloor([...views.values()], anchor);
  // Confidence intervals of the means: per-run variance from the noise floor (or the recipe's
  // own when it is larger beyond chance), t-quantile with that variance's df.
  if (noise) {
    for (const view of views.values()) {
      const arm = view.arm = armOf(view.values, noise, {
        n: view.values.length,
        mean: view.mean,
        variance: view.variance,
      });
      view.estimate.ci95 = meanHalfWidth(arm.variance, arm.n, arm.df);
    }
  }

  // Compare every idea but the baseline with its parent (else the baseline).
  const comparisons = new Map<string, IdeaComparison>();
  const tested: { hash: string; p: number }[] = [];
  for (const view of views.values()) {
    if (view.hash === baselineHash || baselineHash === null) continue;
    const parentHash = view.state.priors.map(recipeOfCard)
      .find((hash) => hash !== undefined && hash !== view.hash && views.has(hash));
    const ref = views.get(parentHash ?? baselineHash)!;
    const gain = ref.mean - view.mean;
    const start = confirmationStart(
      view.state.runs.map((run) => ({ group: run[4], kept: run[6] === 1 })),
    );
    const confirmN = view.values.length - start;
    const comparison: IdeaComparison = {
      vs: parentHash && parentHash !== baselineHash ? "parent" : "baseline",
      ref: ref.estimate,
      gain,
      gain_ci95: null,
      confirmation_n: confirmN,
      confirmation_gain: null,
      t: null,
      df: null,
      p: null,
      p_adjusted: null,
      family: 0,
    };
    if (noise) {
      const refArm = ref.arm!;
      const all: Comparison = compareMeans(view.arm!, refArm);
      comparison.gain_ci95 = all.ci95;
      if (confirmN >= 1) {
        const confirm = start === 0
          ? all
          : compareMeans(armOf(view.values.slice(start), noise), refArm);
        comparison.confirmation_gain = confirm.gain;
        comparison.t = confirm.t;
        comparison.df = confirm.df;
        comparison.p = confirm.p;
        tested.push({ hash: view.hash, p: confirm.p });
      }
    }
    comparisons.set(view.hash, comparison);
  }
  const adjusted = holm(tested.map((entry) => entry.p));
  const confirmed = new Set<string>();
  tested.forEach((entry, i) => {
    const comparison = comparisons.get(entry.hash)!;
    comparison.p_adjusted = adjusted[i];
    comparison.family = tested.length;
    if (adjusted[i] <= ALPHA && (comparison.confirmation_gain ?? 0) > 0) confirmed.add(entry.hash);
  });

  const findings: Finding[] = [];
  const deadEnds: DeadEnd[] = [];
  const deadEndHashes = new Set<string>();
  for (const [hash, comparison] of comparisons) {
    const view = views.get(hash)!;
    const isConfirmed = confirmed.has(hash);
    // An idea nobody has judged yet (all runs pending) is not a finding, only a run to judge.
    const judged = view.values.length > view.state.pending;
    if (judged && (comparison.gain > 0 || isConfirmed)) {
      findings.push({
        id: view.state.first,
        class_key: key,
        recipe_hash: hash,
        val_bpb: view.mean,
        n: view.values.length,
        gain: comparison.gain,
        sigmas: noise && noise.sigma > 0 ? comparison.gain / noise.sigma : null,
        confirmed: isConfirmed,
        basis: isConfirmed ? "welch-holm" : null,
        provisional: view.values.length === 1,
        comparison,
        hypothesis: view.state.hypothesis,
        lesson: view.state.lesson?.text ?? null,
      });
    }
    const useful = noise ? USEFUL_GAIN_SIGMAS * noise.sigma : 0;
    if (
      noise && !isConfirmed && comparison.gain_ci95 !== null &&
      comparison.gain + comparison.gain_ci95 < useful
    ) {
      deadEndHashes.add(hash);
      deadEnds.push({
        id: view.state.first,
        class_key: key,
        recipe_hash: hash,
        n: view.values.length,
        gain: comparison.gain,
        gain_ci95: comparison.gain_ci95,
        useful,
        tags: view.state.tags,
        categories: view.state.categories,
        hypothesis: view.state.hypothesis,
      });
    }
  }

  let best: BestEstimate | null = null;
  if (bestView) {
    const isBaseline = bestView.hash === baselineHash;
    const comparison = comparisons.get(bestView.hash) ?? null;
    const isConfirmed = confirmed.has(bestView.hash);
    best = {
      ...bestView.estimate,
      id: bestView.state.first,
      val_bpb: bestView.mean,
      hypothesis: bestView.state.hypothesis,
      is_baseline: isBaseline,
      confirmed: isConfirmed,
      comparison,
      verdict: verdictOf(isBaseline, isConfirmed, bestView, comparison, noise, evidence),
    };
  }
  return {
    stats: {
      key,
      label: classLabel(key),
      runs: klass.runs,
      crashes: klass.crashes,
      ideas: views.size,
      best,
      baseline: baselineHash ? views.get(baselineHash)!.estimate : null,
      noise,
      noise_evidence: evidence,
      latest: klass.latest,
    },
    findings,
    deadEnds,
    comparisons,
    views,
    confirmed,
    deadEndHashes,
  };
}

/** Everything the statistics say about one idea in its class (for the judge). */
export interface IdeaReport {
  /** the class */
  class: ClassStats;
  /** the idea's estimate (null when it has no valued run in the class) */
  estimate: RecipeEstimate | null;
  /** its comparison with its parent or the baseline (null for the baseline) */
  comparison: IdeaComparison | null;
  /** true when it is the class baseline */
  is_baseline: boolean;
  /** true when confirmed (Holm-adjusted p <= ALPHA) */
  confirmed: boolean;
  /** true when its CI rules out a useful gain */
  dead_end: boolean;
  /** runs still pending judgement */
  pending: number;
}

/** The statistics of one idea (recipe hash) in one class of `state`, or null for an unknown class. */
export function ideaReport(
  folded: SynthesisState,
  classKey: string,
  recipeHash: string,
): IdeaReport | null {
  const state = folded.deferred.length === 0 ? folded : structuredClone(folded);
  for (const card of state.deferred) applyCard(state, card);
  const klass = state.classes[classKey];
  if (!klass) return null;
  const result = analyseClass(classKey, klass);
  const view = result.views.get(recipeHash);
  return {
    class: result.stats,
    estimate: view?.estimate ?? null,
    comparison: result.comparisons.get(recipeHash) ?? null,
    is_baseline: result.stats.baseline?.recipe_hash === recipeHash,
    confirmed: result.confirmed.has(recipeHash),
    dead_end: result.deadEndHashes.has(recipeHash),
    pending: view?.state.pending ?? 0,
  };
}

function verdictOf(
  isBaseline: boolean,
  isConfirmed: boolean,
  view: RecipeView,
  comparison: IdeaComparison | null,
  noise: NoiseFloor | null,
  evidence: NoiseEvidence,
): string {
  if (isBaseline) return "the baseline is the best so far";
  if (isConfirmed) return `confirmed improvement on its ${comparison!.vs}`;
  if (view.values.length === 1) return "provisional: one run, replicate before building on it";
  if (noise === null) {
    return `noise floor unknown (${evidence.df} of ${evidence.needed} replicate df): not confirmed`;
  }
  return `difference from its ${comparison?.vs ?? "reference"} within noise: not confirmed`;
}

function fmt(value: number): string {
  return value.toFixed(4);
}

/** Turn a state into the synthesis report. */
export function finalize(folded: SynthesisState): Synthesis {
  // Pending cards count as runs, coverage and recent results; they are never an automatic keep.
  const state = folded.deferred.length === 0 ? folded : structuredClone(folded);
  for (const card of state.deferred) applyCard(state, card);
  const results = Object.entries(state.classes).map(([key, klass]) => analyseClass(key, klass));
  const classes = results.map((result) => result.stats);
  classes.sort((a, b) => a.latest < b.latest ? 1 : a.latest > b.latest ? -1 : 0);
  const newestFirst = <T extends { id: string }>(list: T[]) =>
    list.sort((a, b) => a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
  const findings = newestFirst(results.flatMap((result) => result.findings));
  const deadEnds = newestFirst(results.flatMap((result) => result.deadEnds));

  // Coverage counts ideas: a recipe is one idea however many seeds it ran.
  const ideas = new Map<string, Set<string>>();
  const confirmedIdeas = new Map<string, Set<string>>();
  const deadIdeas = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, category: string, hash: string) => {
    let set = map.get(category);
    if (!set) map.set(category, set = new Set());
    set.add(hash);
  };
  for (const [key, klass] of Object.entries(state.classes)) {
    const result = results.find((r) => r.stats.key === key)!;
    for (const [hash, recipe] of Object.entries(klass.recipes)) {
      for (const category of recipe.categories) {
        add(ideas, category, hash);
        if (result.confirmed.has(hash)) add(confirmedIdeas, category, hash);
        if (result.deadEndHashes.has(hash)) add(deadIdeas, category, hash);
      }
    }
  }
  const coverage: CoverageRow[] = CATEGORIES.map((category) => {
    const counts = state.coverage[category];
    const ideaCount = ideas.get(category)?.size ?? 0;
    const confirmed = confirmedIdeas.get(category)?.size ?? 0;
    const dead = deadIdeas.get(category)?.size ?? 0;
    const rowState: CoverageRow["state"] = counts.experiments === 0
      ? "unexplored"
      : ideaCount <= 2
      ? "under-explored"
      : confirmed > 0
      ? "promising"
      : ideaCount >= 5 && dead >= 3
      ? "saturated"
      : "active";
    return {
      category,
      experiments: counts.experiments,
      ideas: ideaCount,
      keep: counts.keep,
      discard: counts.discard,
      inconclusive: counts.inconclusive,
      crash: counts.crash,
      pending: counts.pending,
      confirmed,
      dead_ends: dead,
      state: rowState,
    };
  });

  // Steps drift: a run with far fewer steps than the median of its recipe's other runs.
  const stepsDrift: StepsDrift[] = [];
  for (const [key, klass] of Object.entries(state.classes)) {
    for (const [hash, recipe] of Object.entries(klass.recipes)) {
      const withSteps = recipe.runs.filter((run) => run[3] !== null);
      if (withSteps.length < 2) continue;
      // No run can fall below 80% of a median that is at most the largest count.
      let low = Infinity;
      let high = 0;
      for (const run of withSteps) {
        low = Math.min(low, run[3]!);
        high = Math.max(high, run[3]!);
      }
      if (low >= STEPS_DRIFT_RATIO * high) continue;
      for (const run of withSteps) {
        const others = withSteps.filter((other) => other !== run).map((other) => other[3]!)
          .sort((a, b) => a - b);
        const typical = others.length % 2
          ? others[(others.length - 1) / 2]
          : (others[others.length / 2 - 1] + others[others.length / 2]) / 2;
        if (run[3]! < STEPS_DRIFT_RATIO * typical) {
          stepsDrift.push({
            id: run[0],
            class_key: key,
            recipe_hash: hash,
            steps: run[3]!,
            typical,
            load_avg: run[5],
          });
        }
      }
    }
  }
  newestFirst(stepsDrift);
  if (stepsDrift.length > KEEP) stepsDrift.length = KEEP;

  // Open questions: one per idea, never one per replicate.
  const openQuestions: string[] = [];
  for (const stats of classes) {
    if (stats.noise === null && stats.runs > 0) {
      const target = stats.best ?? stats.baseline;
      openQuestions.push(
        `measure the noise floor of ${stats.label}: it needs ${stats.noise_evidence.needed} ` +
          `degrees of freedom of replicate runs and has ${stats.noise_evidence.df}` +
          (target ? `; rerun recipe ${target.recipe_hash} (${target.card}) with new seeds` : ""),
      );
    }
  }
  // Most promising first: the gain in units of its interval, single runs by their gain.
  const promise = (finding: Finding) =>
    finding.comparison.gain_ci95 ? finding.gain / finding.comparison.gain_ci95 : finding.gain;
  const unconfirmed = findings.filter((finding) =>
    // Confirmed, or replicated MAX_REPLICATES times and still within noise: nothing to ask.
    !finding.confirmed && finding.n < MAX_REPLICATES
  ).sort((a, b) => promise(b) - promise(a) || (a.id < b.id ? 1 : -1));
  for (const finding of unconfirmed) {
    if (openQuestions.length >= KEEP) break;
    const c = finding.comparison;
    const evidence = finding.provisional
      ? "one run"
      : c.p_adjusted === null
      ? `n=${finding.n}, noise unknown`
      : `n=${finding.n}, Holm p=${c.p_adjusted.toFixed(2)} of ${c.family}`;
    openQuestions.push(
      `replicate ${finding.id} (recipe ${finding.recipe_hash}, gain ${fmt(finding.gain)} on its ` +
        `${c.vs}, ${evidence}): ${finding.hypothesis}`,
    );
  }
  const asked = new Set(findings.map((finding) => `${finding.class_key}|${finding.recipe_hash}`));
  for (const result of results) {
    for (const view of result.views.values()) {
      const id = `${result.stats.key}|${view.hash}`;
      if (view.state.inconclusive === 0 || asked.has(id)) continue;
      if (result.confirmed.has(view.hash) || result.deadEndHashes.has(view.hash)) continue;
      if (result.stats.noise !== null) continue; // judged by the numbers, not the label
      if (openQuestions.length >= 2 * KEEP) break;
      openQuestions.push(
        `inconclusive idea ${view.state.first} (recipe ${view.hash}, n=${view.values.length}): ` +
          view.state.hypothesis,
      );
    }
  }
  for (const card of state.pendingCards) {
    openQuestions.push(`judge pending ${card.id}: ${card.hypothesis}`);
  }

  return {
    total: state.total,
    retracted: state.retracted,
    pending: state.pending,
    classes,
    findings,
    deadEnds,
    coverage,
    freeTags: Object.entries(state.freeTags)
      .map(([tag, experiments]) => ({ tag, experiments }))
      .sort((a, b) => b.experiments - a.experiments || (a.tag < b.tag ? -1 : 1)),
    lessons: state.lessons,
    openQuestions,
    stepsDrift,
    disputed: state.disputed,
    recent: state.recent,
  };
}

/**
 * Fold cards that are new or changed since `state` was saved: cards newer than any seen, and
 * the current summaries of held-back pending cards (judged meanwhile). Throws when they cannot
 * be folded in order; recompute from all cards then.
 */
export function foldUpdates(
  state: SynthesisState,
  fresh: CardSummary[],
  deferredNow: CardSummary[],
): SynthesisState {
  const settled = deferredNow.filter((card) => card.status !== "pending" || card.retracted);
  const settledIds = new Set(settled.map((card) => card.id));
  state.deferred = state.deferred.filter((card) => !settledIds.has(card.id));
  // Judged pending cards are older than maxId: applied directly (the statistics ignore order).
  for (const card of settled.sort((a, b) => a.id < b.id ? -1 : 1)) {
    if (card.id <= state.maxId) applyCard(state, card);
    else foldCard(state, card);
  }
  const ordered = fresh.filter((card) => !settledIds.has(card.id))
    .sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  for (const card of ordered) foldCard(state, card);
  return state;
}

/** Fold `cards` (any order) into a new state. */
export function synthesisState(cards: CardSummary[]): SynthesisState {
  const ordered = [...cards].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const state = emptySynthesisState();
  for (const card of ordered) foldCard(state, card);
  return state;
}

/** Synthesize `cards` (any order). Stored texts are cut to 500 characters. */
export function synthesize(cards: CardSummary[]): Synthesis {
  return finalize(synthesisState(cards));
}
