/**
 * read-brief: what an agent reads before planning. Short and complete: every section is always
 * present (saying "none" when empty), lists are cut to a few items and the whole text is held
 * under a byte budget (about 4 KB) however large the base grows. Every line of stored text goes
 * through oneLine() so a card cannot break the layout or drive the terminal.
 */
import { oneLine, truncate } from "../util/text.ts";
import type { QueueSection } from "./queue_section.ts";
import type { BestEstimate, ClassStats, RecipeEstimate, Synthesis } from "./synthesis.ts";

/** Upper bound of the brief in bytes (UTF-8). */
export const BRIEF_MAX_BYTES = 4096;

/** How many items each list shows; shrunk step by step until the text fits the budget. */
interface Limits {
  classes: number;
  findings: number;
  recent: number;
  deadEnds: number;
  drift: number;
  lessons: number;
  questions: number;
  queue: number;
  textWidth: number;
}

const START: Limits = {
  classes: 4,
  findings: 5,
  recent: 6,
  deadEnds: 4,
  drift: 3,
  lessons: 5,
  questions: 4,
  queue: 5,
  textWidth: 110,
};

/** The brief as data (the `--json` form), with the same cuts as the text. */
export interface Brief {
  /** cards in the base (including retracted) */
  cards: number;
  /** retracted cards */
  retracted: number;
  /** pending cards waiting for a judgement */
  pending: number;
  /** record files skipped as unusable */
  skipped_files: number;
  /** best recipe (by mean), baseline and noise floor per comparability class */
  best: {
    class: string;
    /** the best recipe's first card */
    card: string | null;
    /** the best recipe's mean val_bpb */
    val_bpb: number | null;
    /** runs with a value in the class */
    runs: number;
    /** noise floor sigma, null while unknown */
    noise_sigma: number | null;
    /** recipes pooled into the noise floor */
    noise_groups: number;
    /** degrees of freedom of the noise floor (or available so far while unknown) */
    noise_df: number;
    /** the best recipe: hash, n, 95% CI half-width, confirmed, verdict in words */
    recipe: string | null;
    n: number;
    ci95: number | null;
    confirmed: boolean;
    verdict: string;
    /** the baseline recipe's mean, n and CI */
    baseline: { recipe: string; mean: number; n: number; ci95: number | null } | null;
    /** the best's gain on its reference with its CI and Holm-adjusted p, when compared */
    gain: { vs: string; value: number; ci95: number | null; p_adjusted: number | null } | null;
    /** seeds missing among the best recipe's runs */
    seed_gaps: number[];
  }[];
  /** confirmed ideas (Welch t vs parent or baseline, Holm-corrected per class), newest first */
  confirmed: {
    card: string;
    gain: number;
    ci95: number | null;
    n: number;
    p_adjusted: number | null;
    basis: string;
    hypothesis: string;
  }[];
  /** most recent cards */
  recent: { card: string; status: string; val_bpb: number | null; hypothesis: string }[];
  /** ideas whose 95% CI rules out a useful gain */
  dead_ends: { card: string; n: number; gain: number; ci95: number; hypothesis: string }[];
  /** cards with two judgements that do not supersede each other */
  disputed: { card: string; status: string; hypothesis: string }[];
  /** runs with far fewer steps than their replicates */
  steps_drift: { card: string; steps: number; typical: number; load_avg: number | null }[];
  /** newest lessons */
  lessons: { card: string; status: string; lesson: string }[];
  /** taxonomy categories with at most 2 ideas */
  under_explored: { category: string; experiments: number; ideas: number }[];
  /** open questions */
  open_questions: string[];
  /** director queue: pending and in-progress items */
  queue: QueueSection;
  /** classes / findings / ... left out to keep the brief short */
  omitted: Record<string, number>;
}

function clip(text: string, width: number): string {
  return truncate(oneLine(text), width);
}

function buildBrief(
  synthesis: Synthesis,
  queue: QueueSection,
  skippedFiles: number,
  limits: Limits,
): Brief {
  const confirmed = synthesis.findings.filter((finding) => finding.confirmed);
  const underExplored = synthesis.coverage.filter((row) => row.ideas <= 2);
  const omitted: Record<string, number> = {};
  const cut = <T>(name: string, list: T[], max: number): T[] => {
    if (list.length > max) omitted[name] = list.length - max;
    return list.slice(0, max);
  };
  const w = limits.textWidth;
  return {
    cards: synthesis.total,
    retracted: synthesis.retracted,
    pending: synthesis.pending,
    skipped_files: skippedFiles,
    best: cut("classes", synthesis.classes, limits.classes).map((stats) => bestRow(stats)),
    confirmed: cut("confirmed", confirmed, limits.findings).map((finding) => ({
      card: finding.id,
      gain: finding.gain,
      ci95: finding.comparison.gain_ci95,
      n: finding.n,
      p_adjusted: finding.comparison.p_adjusted,
      basis: finding.basis ?? "",
      hypothesis: clip(finding.hypothesis, w),
    })),
    recent: cut("recent", synthesis.recent, limits.recent).map((card) => ({
      card: card.id,
      status: card.retracted ? `${card.status},retracted` : card.status,
      val_bpb: card.val_bpb,
      hypothesis: clip(card.hypothesis, w),
    })),
    dead_ends: cut("dead_ends", synthesis.deadEnds, limits.deadEnds).map((dead) => ({
      card: dead.id,
      n: dead.n,
      gain: dead.gain,
      ci95: dead.gain_ci95,
      hypothesis: clip(dead.hypothesis, w),
    })),
    disputed: cut("disputed", synthesis.disputed, limits.drift).map((card) => ({
      card: card.id,
      status: card.status,
      hypothesis: clip(card.hypothesis, w),
    })),
    steps_drift: cut("steps_drift", synthesis.stepsDrift, limits.drift).map((run) => ({
      card: run.id,
      steps: run.steps,
      typical: run.typical,
      load_avg: run.load_avg,
    })),
    lessons: cut("lessons", synthesis.lessons, limits.lessons).map((lesson) => ({
      card: lesson.id,
      status: lesson.status,
      lesson: clip(lesson.lesson, w),
    })),
    under_explored: underExplored.map((row) => ({
      category: row.category,
      experiments: row.experiments,
      ideas: row.ideas,
    })),
    open_questions: cut("open_questions", synthesis.openQuestions, limits.questions).map((q) =>
      clip(q, w)
    ),
    queue: {
      pending: cut("queue_pending", queue.pending, limits.queue).map((item) => ({
        ...item,
        hypothesis: clip(item.hypothesis, w),
        category: clip(item.category, 32),
      })),
      inProgress: cut("queue_in_progress", queue.inProgress, limits.queue).map((item) => ({
        ...item,
        hypothesis: clip(item.hypothesis, w),
        category: clip(item.category, 32),
        agent: clip(item.agent, 32),
      })),
      unreadable: queue.unreadable ?? 0,
    },
    omitted,
  };
}

function bestRow(stats: ClassStats): Brief["best"][number] {
  const best: BestEstimate | null = stats.best;
  const baseline: RecipeEstimate | null = stats.baseline;
  const comparison = best?.comparison ?? null;
  return {
    class: clip(stats.label, 80),
    card: best?.id ?? null,
    val_bpb: best?.mean ?? null,
    runs: stats.runs,
    noise_sigma: stats.noise?.sigma ?? null,
    noise_groups: stats.noise?.groups ?? 0,
    noise_df: stats.noise?.df ?? stats.noise_evidence.df,
    recipe: best ? clip(best.recipe_hash, 64) : null,
    n: best?.n ?? 0,
    ci95: best?.ci95 ?? null,
    confirmed: best?.confirmed ?? false,
    verdict: best ? best.verdict : "nothing kept yet",
    baseline: baseline
      ? {
        recipe: clip(baseline.recipe_hash, 64),
        mean: baseline.mean,
        n: baseline.n,
        ci95: baseline.ci95,
      }
      : null,
    gain: comparison
      ? {
        vs: comparison.vs,
        value: comparison.gain,
        ci95: comparison.gain_ci95,
        p_adjusted: comparison.p_adjusted,
      }
      : null,
    seed_gaps: best?.seed_gaps ?? [],
  };
}

function bpb(value: number | null): string {
  return value === null ? "-" : value.toFixed(4);
}

/** "2.2030 +- 0.0040 (n=5)", or "2.2030 (n=1)" without a known spread. */
function estimate(mean: number, ci95: number | null, n: number): string {
  return ci95 === null || !Number.isFinite(ci95)
    ? `${bpb(mean)} (n=${n})`
    : `${bpb(mean)} +- ${ci95.toFixed(4)} (n=${n})`;
}

function bestLine(row: Brief["best"][number]): string {
  const parts: string[] = [];
  if (row.card === null || row.val_bpb === null) parts.push("nothing kept yet");
  else parts.push(`best ${row.recipe} (${row.card}) = ${estimate(row.val_bpb, row.ci95, row.n)}`);
  if (row.baseline && row.baseline.recipe !== row.recipe) {
    parts.push(`baseline ${estimate(row.baseline.mean, row.baseline.ci95, row.baseline.n)}`);
  }
  if (row.gain) {
    const ci = row.gain.ci95 === null ? "" : ` +- ${row.gain.ci95.toFixed(4)}`;
    const p = row.gain.p_adjusted === null ? "" : `, Holm p ${row.gain.p_adjusted.toFixed(3)}`;
    parts.push(`gain on ${row.gain.vs} ${row.gain.value.toFixed(4)}${ci}${p}`);
  }
  if (row.card !== null) parts.push(row.verdict);
  parts.push(
    row.noise_sigma === null
      ? `noise unknown (${row.noise_df} replicate df, needs 3)`
      : `noise ${row.noise_sigma.toFixed(4)} (df ${row.noise_df}, ${row.noise_groups} recipes)`,
  );
  if (row.seed_gaps.length) parts.push(`seeds missing: ${row.seed_gaps.join(",")}`);
  return `  ${row.class}: ${parts.join("; ")}`;
}

/** The brief as text: one line per item, sections always present. */
export function renderBrief(brief: Brief): string {
  const lines: string[] = [];
  const more = (name: string) => brief.omitted[name] ? [`  (+${brief.omitted[name]} more)`] : [];
  const none = (list: unknown[]) => list.length === 0 ? ["  none"] : [];
  lines.push(
    `knowledge brief: ${brief.cards} cards, ${brief.retracted} retracted, ${brief.pending} pending` +
      (brief.skipped_files ? `, ${brief.skipped_files} unreadable files skipped` : ""),
  );
  lines.push(
    "best per comparability class (mean val_bpb +- 95% CI over n runs; lower is better):",
  );
  lines.push(...none(brief.best));
  for (const row of brief.best) lines.push(bestLine(row));
  lines.push(...more("classes"));
  lines.push("confirmed findings (Welch t vs parent or baseline, Holm-corrected per class):");
  lines.push(...none(brief.confirmed));
  for (const f of brief.confirmed) {
    const ci = f.ci95 === null ? "" : ` +- ${f.ci95.toFixed(4)}`;
    const p = f.p_adjusted === null ? "" : `, Holm p ${f.p_adjusted.toFixed(3)}`;
    lines.push(`  ${f.card} gain ${f.gain.toFixed(4)}${ci} (n=${f.n}${p}) ${f.hypothesis}`);
  }
  lines.push(...more("confirmed"));
  lines.push("recent results:");
  lines.push(...none(brief.recent));
  for (const r of brief.recent) {
    lines.push(`  ${r.card} ${r.status} ${bpb(r.val_bpb)} ${r.hypothesis}`);
  }
  lines.push("dead ends (ideas whose 95% CI rules out a gain of one noise sigma):");
  lines.push(...none(brief.dead_ends));
  for (const d of brief.dead_ends) {
    lines.push(
      `  ${d.card} gain ${d.gain.toFixed(4)} +- ${d.ci95.toFixed(4)} (n=${d.n}) ${d.hypothesis}`,
    );
  }
  lines.push(...more("dead_ends"));
  lines.push("disputed judgements (judged twice, neither supersedes the other):");
  lines.push(...none(brief.disputed));
  for (const d of brief.disputed) lines.push(`  ${d.card} [${d.status}] ${d.hypothesis}`);
  lines.push(...more("disputed"));
  lines.push("steps drift (runs with under 80% of their replicates' steps):");
  lines.push(...none(brief.steps_drift));
  for (const d of brief.steps_drift) {
    const load = d.load_avg === null ? "" : `, load ${d.load_avg.toFixed(1)}`;
    lines.push(`  ${d.card} ${d.steps} steps vs ${d.typical}${load}`);
  }
  lines.push(...more("steps_drift"));
  lines.push("lessons:");
  lines.push(...none(brief.lessons));
  for (const l of brief.lessons) lines.push(`  ${l.card} [${l.status}] ${l.lesson}`);
  lines.push(...more("lessons"));
  lines.push("under-explored categories (ideas):");
  lines.push(...none(brief.under_explored));
  if (brief.under_explored.length) {
    lines.push(`  ${brief.under_explored.map((u) => `${u.category} ${u.ideas}`).join(", ")}`);
  }
  lines.push("open questions:");
  lines.push(...none(brief.open_questions));
  for (const q of brief.open_questions) lines.push(`  ${q}`);
  lines.push(...more("open_questions"));
  lines.push("queue:");
  const { pending, inProgress } = brief.queue;
  if (pending.length === 0 && inProgress.length === 0 && !brief.queue.unreadable) {
    lines.push("  empty");
  }
  for (const item of pending) {
    lines.push(`  pending ${item.id} p${item.priority} [${item.category}] ${item.hypothesis}`);
  }
  lines.push(...more("queue_pending"));
  for (const item of inProgress) {
    lines.push(`  claimed ${item.id} by ${item.agent} [${item.category}] ${item.hypothesis}`);
  }
  lines.push(...more("queue_in_progress"));
  if (brief.queue.unreadable) {
    lines.push(
      `  ${brief.queue.unreadable} unreadable queue records skipped (see: autoresearch director status)`,
    );
  }
  return lines.join("\n");
}

const encoder = new TextEncoder();

/**
 * Build the brief within BRIEF_MAX_BYTES: lists are shortened step by step (and text narrowed)
 * until the rendered text fits.
 */
export function makeBrief(
  synthesis: Synthesis,
  queue: QueueSection,
  skippedFiles = 0,
): { brief: Brief; text: string } {
  const limits = { ...START };
  for (let step = 0; step < 40; step++) {
    const brief = buildBrief(synthesis, queue, skippedFiles, limits);
    const text = renderBrief(brief);
    if (encoder.encode(text).length <= BRIEF_MAX_BYTES) return { brief, text };
    // Shrink the longest lists first, then narrow the text.
    const keys: (keyof Limits)[] = [
      "recent",
      "lessons",
      "questions",
      "findings",
      "queue",
      "deadEnds",
      "drift",
      "classes",
    ];
    const target = keys.reduce((a, b) => limits[a] >= limits[b] ? a : b);
    if (limits[target] > 1) limits[target]--;
    else limits.textWidth = Math.max(30, limits.textWidth - 20);
  }
  const brief = buildBrief(synthesis, queue, skippedFiles, limits);
  const text = renderBrief(brief);
  return { brief, text: truncate(text, BRIEF_MAX_BYTES / 4) };
}
