/**
 * Synthesis over card summaries: best result and noise floor per comparability class, findings
 * (confirmed only beyond 2 sigma of the class noise or when replicated), dead ends, lessons,
 * coverage over the fixed taxonomy, open questions. Pure functions: no I/O, so the brief, the
 * meta-synthesis and session reports all agree. Crashes, pending and retracted cards never
 * become a best; results are never compared across classes (hardware, harness, budget).
 *
 * It is a fold: cards are added one by one, oldest first, to a small JSON-serialisable state
 * (running sums, bounded newest-first lists), and `finalize` turns the state into the report.
 * The knowledge base caches the state, so a read after new cards folds in only those cards.
 */
import type { CardSummary } from "./index.ts";
import { CATEGORIES, type Category, isCategory } from "./taxonomy.ts";

/** Noise floor of a class, from replicate runs (same recipe hash). */
export interface NoiseFloor {
  /** pooled standard deviation of val_bpb within replicate groups */
  sigma: number;
  /** replicate groups (recipe hashes run at least twice) */
  groups: number;
  /** runs in those groups */
  runs: number;
}

/** One comparability class: same backend, device, harness hash and budget. */
export interface ClassStats {
  /** class key `backend|device|harness|budget` */
  key: string;
  /** short human label */
  label: string;
  /** cards with a val_bpb (not crashed, not retracted) */
  runs: number;
  /** crashed cards (not retracted) */
  crashes: number;
  /** the kept card with the lowest val_bpb, or null when nothing was kept yet */
  best: { id: string; val_bpb: number; hypothesis: string } | null;
  /** noise floor, or null without replicate runs */
  noise: NoiseFloor | null;
  /** time of the class's latest card */
  latest: string;
}

/** A kept card that beat the best kept result of its class before it. */
export interface Finding {
  /** the card */
  id: string;
  /** its class */
  class_key: string;
  /** its val_bpb */
  val_bpb: number;
  /** previous best minus this val_bpb (> 0 is an improvement) */
  gain: number;
  /** gain in units of the class noise sigma, when known */
  sigmas: number | null;
  /** true when gain > 2 sigma or the recipe was replicated below the previous best */
  confirmed: boolean;
  /** why it is confirmed: "2sigma" | "replicated" | null */
  basis: "2sigma" | "replicated" | null;
  /** what was tried */
  hypothesis: string;
  /** what was learned */
  lesson: string | null;
}

/** A tag tried at least three times that was never kept. */
export interface DeadEnd {
  /** normalised tag */
  tag: string;
  /** judged experiments with that tag */
  tried: number;
  /** kept among them (always 0) */
  kept: number;
}

/** Coverage of one taxonomy category. */
export interface CoverageRow {
  /** category */
  category: Category;
  /** experiments (not retracted) */
  experiments: number;
  /** kept */
  keep: number;
  /** discarded */
  discard: number;
  /** inconclusive */
  inconclusive: number;
  /** crashed */
  crash: number;
  /** pending judgement */
  pending: number;
  /** confirmed findings */
  confirmed: number;
  /** unexplored (0) | under-explored (<= 2) | saturated (>= 5, <= 1 kept) | promising | active */
  state: "unexplored" | "under-explored" | "saturated" | "promising" | "active";
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
  /** improvements, newest first (confirmed and not) */
  findings: Finding[];
  /** tags tried >= 3 times, never kept */
  deadEnds: DeadEnd[];
  /** coverage per taxonomy category, in taxonomy order */
  coverage: CoverageRow[];
  /** free tags (outside the taxonomy) with their experiment counts, most used first */
  freeTags: { tag: string; experiments: number }[];
  /** non-retracted cards that carry a lesson, newest first (at most 100) */
  lessons: { id: string; status: string; lesson: string }[];
  /** things worth doing next, derived from the cards */
  openQuestions: string[];
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

/** Running mean and sum of squared deviations (Welford) of one replicate group. */
interface GroupStat {
  n: number;
  mean: number;
  m2: number;
}

interface ClassState {
  runs: number;
  crashes: number;
  best: { id: string; val_bpb: number; hypothesis: string } | null;
  latest: string;
  groups: Record<string, GroupStat>;
}

interface RawFinding {
  id: string;
  class_key: string;
  val_bpb: number;
  prev_best: number;
  recipe_hash: string;
  categories: Category[];
  hypothesis: string;
  lesson: string | null;
}

type CoverageCounts = Omit<CoverageRow, "category" | "confirmed" | "state">;

/** Layout version of `SynthesisState`; a cached state of another version is recomputed. */
export const SYNTHESIS_STATE_VERSION = 2;

/** The running state of a synthesis; JSON-serialisable, grows with classes and tags only. */
export interface SynthesisState {
  /** state layout version (SYNTHESIS_STATE_VERSION) */
  version: number;
  /** id of the newest card folded in ("" when none) */
  maxId: string;
  /** id of the newest card seen, folded or deferred ("" when none) */
  seenId: string;
  /** pending cards, held back until judged (their judgement decides whether they are a best) */
  deferred: CardSummary[];
  /** cards folded in, including retracted */
  total: number;
  /** retracted cards */
  retracted: number;
  /** per comparability class */
  classes: Record<string, ClassState>;
  /** kept improvements, oldest first */
  findings: RawFinding[];
  /** judged experiments and keeps per tag */
  tagStats: Record<string, { tried: number; kept: number }>;
  /** counts per taxonomy category */
  coverage: Record<string, CoverageCounts>;
  /** experiments per free tag */
  freeTags: Record<string, number>;
  /** newest cards first */
  recent: CardSummary[];
  /** newest lessons first */
  lessons: { id: string; status: string; lesson: string }[];
  /** newest inconclusive cards first */
  inconclusive: { id: string; hypothesis: string }[];
  /** newest pending cards first */
  pendingCards: { id: string; hypothesis: string }[];
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
    findings: [],
    tagStats: {},
    coverage,
    freeTags: {},
    recent: [],
    lessons: [],
    inconclusive: [],
    pendingCards: [],
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
 * Fold one card into `state`. Judged cards must arrive oldest first (by id): findings depend on
 * the best kept result before each card; pending cards are held back until judged. Throws when
 * the order is broken (the caller then recomputes from all cards). Mutates and returns `state`.
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

/** Add one card's contributions to `state` (order matters only for findings and best). */
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
    best: null,
    latest: card.timestamp,
    groups: {},
  };
  if (card.timestamp > klass.latest) klass.latest = card.timestamp;
  if (card.status === "crash") klass.crashes++;
  if (card.val_bpb !== null && card.status !== "crash") {
    const value = card.val_bpb;
    klass.runs++;
    const group = klass.groups[card.recipe_hash] ??= { n: 0, mean: 0, m2: 0 };
    group.n++;
    const delta = value - group.mean;
    group.mean += delta / group.n;
    group.m2 += delta * (value - group.mean);
    if (card.status === "keep") {
      if (klass.best !== null && value < klass.best.val_bpb) {
        state.findings.push({
          id: card.id,
          class_key: card.class_key,
          val_bpb: value,
          prev_best: klass.best.val_bpb,
          recipe_hash: card.recipe_hash,
          categories: card.categories,
          hypothesis: cut(card.hypothesis),
          lesson: card.lesson === null ? null : cut(card.lesson),
        });
      }
      if (klass.best === null || value < klass.best.val_bpb) {
        klass.best = { id: card.id, val_bpb: value, hypothesis: cut(card.hypothesis) };
      }
    }
  }
  for (const category of card.categories) {
    const row = state.coverage[category];
    row.experiments++;
    row[card.status]++;
  }
  for (const tag of card.tags) {
    if (!isCategory(tag)) state.freeTags[tag] = (state.freeTags[tag] ?? 0) + 1;
    if (card.status === "pending") continue;
    const stats = state.tagStats[tag] ??= { tried: 0, kept: 0 };
    stats.tried++;
    if (card.status === "keep") stats.kept++;
  }
  if (card.lesson !== null) {
    pushNewest(state.lessons, { id: card.id, status: card.status, lesson: cut(card.lesson) });
  }
  if (card.status === "inconclusive") {
    pushNewest(state.inconclusive, { id: card.id, hypothesis: cut(card.hypothesis) });
  }
  if (card.status === "pending") {
    state.pending++;
    pushNewest(state.pendingCards, { id: card.id, hypothesis: cut(card.hypothesis) });
  }
  return state;
}

function noiseOf(klass: ClassState): NoiseFloor | null {
  let squares = 0;
  let dof = 0;
  let groups = 0;
  let runs = 0;
  for (const group of Object.values(klass.groups)) {
    if (group.n < 2) continue;
    squares += group.m2;
    dof += group.n - 1;
    groups++;
    runs += group.n;
  }
  return dof === 0 ? null : { sigma: Math.sqrt(Math.max(0, squares) / dof), groups, runs };
}

/** Turn a state into the synthesis report (cheap: no per-card work). */
export function finalize(folded: SynthesisState): Synthesis {
  // Pending cards count as runs, coverage and recent results, never as a best or finding.
  const state = folded.deferred.length === 0 ? folded : structuredClone(folded);
  for (const card of state.deferred) applyCard(state, card);
  const noise = new Map<string, NoiseFloor | null>();
  const classes: ClassStats[] = Object.entries(state.classes).map(([key, klass]) => {
    noise.set(key, noiseOf(klass));
    return {
      key,
      label: classLabel(key),
      runs: klass.runs,
      crashes: klass.crashes,
      best: klass.best,
      noise: noise.get(key)!,
      latest: klass.latest,
    };
  });
  classes.sort((a, b) => a.latest < b.latest ? 1 : a.latest > b.latest ? -1 : 0);

  const findings: Finding[] = state.findings.map((raw): Finding => {
    const sigma = noise.get(raw.class_key)?.sigma ?? 0;
    const gain = raw.prev_best - raw.val_bpb;
    const sigmas = sigma > 0 ? gain / sigma : null;
    const group = state.classes[raw.class_key].groups[raw.recipe_hash];
    const replicated = group !== undefined && group.n >= 2 && group.mean < raw.prev_best;
    const beyondNoise = sigmas !== null && sigmas > 2;
    return {
      id: raw.id,
      class_key: raw.class_key,
      val_bpb: raw.val_bpb,
      gain,
      sigmas,
      confirmed: beyondNoise || replicated,
      basis: beyondNoise ? "2sigma" : replicated ? "replicated" : null,
      hypothesis: raw.hypothesis,
      lesson: raw.lesson,
    };
  }).reverse();

  const confirmedPerCategory = new Map<string, number>();
  state.findings.forEach((raw, i) => {
    if (!findings[findings.length - 1 - i].confirmed) return;
    for (const category of raw.categories) {
      confirmedPerCategory.set(category, (confirmedPerCategory.get(category) ?? 0) + 1);
    }
  });
  const coverage: CoverageRow[] = CATEGORIES.map((category) => {
    const counts = state.coverage[category];
    const confirmed = confirmedPerCategory.get(category) ?? 0;
    const state_: CoverageRow["state"] = counts.experiments === 0
      ? "unexplored"
      : counts.experiments <= 2
      ? "under-explored"
      : confirmed > 0
      ? "promising"
      : counts.experiments >= 5 && counts.keep <= 1
      ? "saturated"
      : "active";
    return { category, ...counts, confirmed, state: state_ };
  });

  const deadEnds = Object.entries(state.tagStats)
    .filter(([, stats]) => stats.tried >= 3 && stats.kept === 0)
    .map(([tag, stats]) => ({ tag, ...stats }))
    .sort((a, b) => b.tried - a.tried || (a.tag < b.tag ? -1 : 1));

  const openQuestions: string[] = [];
  for (const finding of findings) {
    if (finding.confirmed) continue;
    const noiseText = finding.sigmas === null
      ? "class noise unknown"
      : `only ${finding.sigmas.toFixed(2)} sigma`;
    openQuestions.push(
      `replicate ${finding.id} (gain ${
        finding.gain.toFixed(4)
      }, ${noiseText}): ${finding.hypothesis}`,
    );
    if (openQuestions.length >= KEEP) break;
  }
  for (const card of state.inconclusive) {
    openQuestions.push(`inconclusive ${card.id}: ${card.hypothesis}`);
  }
  for (const stats of classes) {
    if (stats.noise === null && stats.runs > 0) {
      openQuestions.push(
        `no replicate runs in ${stats.label}: rerun its best recipe with another seed to measure noise`,
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
  const ordered = [...settled, ...fresh].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
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
