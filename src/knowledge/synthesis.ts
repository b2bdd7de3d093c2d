/**
 * Synthesis over card summaries: best result and noise floor per comparability class, findings
 * (confirmed only beyond 2 sigma of the class noise or when replicated), dead ends, lessons,
 * coverage over the fixed taxonomy, open questions. Pure functions: no I/O, so the brief, the
 * meta-synthesis and session reports all agree. Crashes, pending and retracted cards never
 * become a best; results are never compared across classes (hardware, harness, budget).
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
  /** non-retracted cards that carry a lesson, newest first */
  lessons: { id: string; status: string; lesson: string }[];
  /** things worth doing next, derived from the cards */
  openQuestions: string[];
  /** newest cards first (all statuses, retracted ones flagged) */
  recent: CardSummary[];
}

/** Short label of a class key, e.g. `cpu "Xeon" harness 1a2b3c4d 300s`. */
export function classLabel(key: string): string {
  const [backend, device, harness, budget] = key.split("|");
  return `${backend} "${device}" harness ${harness.slice(0, 8)} ${budget}s`;
}

function noiseFloor(cards: CardSummary[]): NoiseFloor | null {
  const groups = new Map<string, number[]>();
  for (const card of cards) {
    if (card.val_bpb === null) continue;
    const list = groups.get(card.recipe_hash) ?? [];
    list.push(card.val_bpb);
    groups.set(card.recipe_hash, list);
  }
  let squares = 0;
  let dof = 0;
  let groupCount = 0;
  let runs = 0;
  for (const values of groups.values()) {
    if (values.length < 2) continue;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    squares += values.reduce((a, b) => a + (b - mean) ** 2, 0);
    dof += values.length - 1;
    groupCount++;
    runs += values.length;
  }
  return dof === 0 ? null : { sigma: Math.sqrt(squares / dof), groups: groupCount, runs };
}

/** Synthesize `cards` (any order). */
export function synthesize(cards: CardSummary[]): Synthesis {
  const ordered = [...cards].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const live = ordered.filter((card) => !card.retracted);
  const byClass = new Map<string, CardSummary[]>();
  for (const card of live) {
    const list = byClass.get(card.class_key) ?? [];
    list.push(card);
    byClass.set(card.class_key, list);
  }

  const classes: ClassStats[] = [];
  const findings: Finding[] = [];
  for (const [key, members] of byClass) {
    const measured = members.filter((card) => card.val_bpb !== null && card.status !== "crash");
    const noise = noiseFloor(measured);
    const replicates = new Map<string, number[]>();
    for (const card of measured) {
      const list = replicates.get(card.recipe_hash) ?? [];
      list.push(card.val_bpb!);
      replicates.set(card.recipe_hash, list);
    }
    let best: ClassStats["best"] = null;
    for (const card of measured) {
      if (card.status !== "keep") continue;
      const value = card.val_bpb!;
      if (best !== null && value < best.val_bpb) {
        const gain = best.val_bpb - value;
        const sigmas = noise && noise.sigma > 0 ? gain / noise.sigma : null;
        const group = replicates.get(card.recipe_hash) ?? [];
        const groupMean = group.reduce((a, b) => a + b, 0) / Math.max(1, group.length);
        const replicated = group.length >= 2 && groupMean < best.val_bpb;
        const beyondNoise = sigmas !== null && sigmas > 2;
        findings.push({
          id: card.id,
          class_key: key,
          val_bpb: value,
          gain,
          sigmas,
          confirmed: beyondNoise || replicated,
          basis: beyondNoise ? "2sigma" : replicated ? "replicated" : null,
          hypothesis: card.hypothesis,
          lesson: card.lesson,
        });
      }
      if (best === null || value < best.val_bpb) {
        best = { id: card.id, val_bpb: value, hypothesis: card.hypothesis };
      }
    }
    classes.push({
      key,
      label: classLabel(key),
      runs: measured.length,
      crashes: members.filter((card) => card.status === "crash").length,
      best,
      noise,
      latest: members[members.length - 1].timestamp,
    });
  }
  classes.sort((a, b) => a.latest < b.latest ? 1 : a.latest > b.latest ? -1 : 0);
  findings.reverse();

  // Dead ends and coverage count judged, non-retracted experiments.
  const tagStats = new Map<string, { tried: number; kept: number }>();
  const coverage = new Map<Category, CoverageRow>(
    CATEGORIES.map((category) => [category, {
      category,
      experiments: 0,
      keep: 0,
      discard: 0,
      inconclusive: 0,
      crash: 0,
      pending: 0,
      confirmed: 0,
      state: "unexplored",
    }]),
  );
  const confirmedIds = new Set(findings.filter((f) => f.confirmed).map((f) => f.id));
  const freeTags = new Map<string, number>();
  for (const card of live) {
    for (const category of card.categories) {
      const row = coverage.get(category)!;
      row.experiments++;
      row[card.status]++;
      if (confirmedIds.has(card.id)) row.confirmed++;
    }
    for (const tag of card.tags) {
      if (!isCategory(tag)) freeTags.set(tag, (freeTags.get(tag) ?? 0) + 1);
      if (card.status === "pending") continue;
      const stats = tagStats.get(tag) ?? { tried: 0, kept: 0 };
      stats.tried++;
      if (card.status === "keep") stats.kept++;
      tagStats.set(tag, stats);
    }
  }
  for (const row of coverage.values()) {
    row.state = row.experiments === 0
      ? "unexplored"
      : row.experiments <= 2
      ? "under-explored"
      : row.confirmed > 0
      ? "promising"
      : row.experiments >= 5 && row.keep <= 1
      ? "saturated"
      : "active";
  }
  const deadEnds = [...tagStats]
    .filter(([, stats]) => stats.tried >= 3 && stats.kept === 0)
    .map(([tag, stats]) => ({ tag, ...stats }))
    .sort((a, b) => b.tried - a.tried || (a.tag < b.tag ? -1 : 1));

  const newestFirst = [...live].reverse();
  const lessons = newestFirst
    .filter((card) => card.lesson !== null)
    .map((card) => ({ id: card.id, status: card.status, lesson: card.lesson! }));

  const openQuestions: string[] = [];
  for (const finding of findings) {
    if (finding.confirmed) continue;
    const noise = finding.sigmas === null
      ? "class noise unknown"
      : `only ${finding.sigmas.toFixed(1)} sigma`;
    openQuestions.push(
      `replicate ${finding.id} (gain ${finding.gain.toFixed(4)}, ${noise}): ${finding.hypothesis}`,
    );
  }
  for (const card of newestFirst) {
    if (card.status === "inconclusive") {
      openQuestions.push(`inconclusive ${card.id}: ${card.hypothesis}`);
    }
  }
  for (const stats of classes) {
    if (stats.noise === null && stats.runs > 0) {
      openQuestions.push(
        `no replicate runs in ${stats.label}: rerun its best recipe with another seed to measure noise`,
      );
    }
  }
  for (const card of newestFirst) {
    if (card.status === "pending") {
      openQuestions.push(`judge pending ${card.id}: ${card.hypothesis}`);
    }
  }

  return {
    total: ordered.length,
    retracted: ordered.length - live.length,
    pending: live.filter((card) => card.status === "pending").length,
    classes,
    findings,
    deadEnds,
    coverage: [...coverage.values()],
    freeTags: [...freeTags]
      .map(([tag, experiments]) => ({ tag, experiments }))
      .sort((a, b) => b.experiments - a.experiments || (a.tag < b.tag ? -1 : 1)),
    lessons,
    openQuestions,
    recent: [...ordered].reverse(),
  };
}

/** How many items of each list a compact synthesis keeps (more than any view shows). */
const COMPACT_KEEP = 100;

/**
 * `synthesis` with its long lists cut to what the brief, coverage and reports show, so it can
 * be cached and re-read cheaply. Counts (total, coverage, classes) are unaffected.
 */
export function compactSynthesis(synthesis: Synthesis): Synthesis {
  return {
    ...synthesis,
    findings: synthesis.findings.filter((f) => f.confirmed).slice(0, COMPACT_KEEP).concat(
      synthesis.findings.filter((f) => !f.confirmed).slice(0, COMPACT_KEEP),
    ).sort((a, b) => a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
    deadEnds: synthesis.deadEnds.slice(0, COMPACT_KEEP),
    freeTags: synthesis.freeTags.slice(0, COMPACT_KEEP),
    lessons: synthesis.lessons.slice(0, COMPACT_KEEP),
    openQuestions: synthesis.openQuestions.slice(0, COMPACT_KEEP),
    recent: synthesis.recent.slice(0, COMPACT_KEEP),
  };
}
