/**
 * read-brief: what an agent reads before planning. Short and complete: every section is always
 * present (saying "none" when empty), lists are cut to a few items and the whole text is held
 * under a byte budget (about 4 KB) however large the base grows. Every line of stored text goes
 * through oneLine() so a card cannot break the layout or drive the terminal.
 */
import { oneLine, truncate } from "../util/text.ts";
import type { QueueSection } from "./queue_section.ts";
import type { Synthesis } from "./synthesis.ts";

/** Upper bound of the brief in bytes (UTF-8). */
export const BRIEF_MAX_BYTES = 4096;

/** How many items each list shows; shrunk step by step until the text fits the budget. */
interface Limits {
  classes: number;
  findings: number;
  recent: number;
  deadEnds: number;
  lessons: number;
  questions: number;
  queue: number;
  textWidth: number;
}

const START: Limits = {
  classes: 4,
  findings: 5,
  recent: 6,
  deadEnds: 5,
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
  /** best kept result and noise floor per comparability class */
  best: {
    class: string;
    card: string | null;
    val_bpb: number | null;
    runs: number;
    noise_sigma: number | null;
    noise_groups: number;
  }[];
  /** confirmed findings (beyond 2 sigma or replicated), newest first */
  confirmed: { card: string; gain: number; basis: string; hypothesis: string }[];
  /** most recent cards */
  recent: { card: string; status: string; val_bpb: number | null; hypothesis: string }[];
  /** tags tried >= 3 times and never kept */
  dead_ends: { tag: string; tried: number }[];
  /** newest lessons */
  lessons: { card: string; status: string; lesson: string }[];
  /** taxonomy categories with at most 2 experiments */
  under_explored: { category: string; experiments: number }[];
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
  const underExplored = synthesis.coverage.filter((row) => row.experiments <= 2);
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
    best: cut("classes", synthesis.classes, limits.classes).map((stats) => ({
      class: clip(stats.label, 80),
      card: stats.best?.id ?? null,
      val_bpb: stats.best?.val_bpb ?? null,
      runs: stats.runs,
      noise_sigma: stats.noise?.sigma ?? null,
      noise_groups: stats.noise?.groups ?? 0,
    })),
    confirmed: cut("confirmed", confirmed, limits.findings).map((finding) => ({
      card: finding.id,
      gain: finding.gain,
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
      tag: clip(dead.tag, 64),
      tried: dead.tried,
    })),
    lessons: cut("lessons", synthesis.lessons, limits.lessons).map((lesson) => ({
      card: lesson.id,
      status: lesson.status,
      lesson: clip(lesson.lesson, w),
    })),
    under_explored: underExplored.map((row) => ({
      category: row.category,
      experiments: row.experiments,
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

function bpb(value: number | null): string {
  return value === null ? "-" : value.toFixed(4);
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
  lines.push("best per comparability class (lower val_bpb is better; noise from replicates):");
  lines.push(...none(brief.best));
  for (const row of brief.best) {
    const noise = row.noise_sigma === null
      ? "noise unknown"
      : `noise ${row.noise_sigma.toFixed(4)} (${row.noise_groups} replicate groups)`;
    const best = row.card === null ? "nothing kept yet" : `${bpb(row.val_bpb)} ${row.card}`;
    lines.push(`  ${row.class}: ${best}, ${row.runs} runs, ${noise}`);
  }
  lines.push(...more("classes"));
  lines.push("confirmed findings (gain > 2 sigma or replicated):");
  lines.push(...none(brief.confirmed));
  for (const f of brief.confirmed) {
    lines.push(`  ${f.card} -${f.gain.toFixed(4)} [${f.basis}] ${f.hypothesis}`);
  }
  lines.push(...more("confirmed"));
  lines.push("recent results:");
  lines.push(...none(brief.recent));
  for (const r of brief.recent) {
    lines.push(`  ${r.card} ${r.status} ${bpb(r.val_bpb)} ${r.hypothesis}`);
  }
  lines.push("dead ends (tried >= 3 times, never kept):");
  lines.push(...none(brief.dead_ends));
  if (brief.dead_ends.length) {
    lines.push(`  ${brief.dead_ends.map((d) => `${d.tag} (${d.tried})`).join(", ")}`);
  }
  lines.push(...more("dead_ends"));
  lines.push("lessons:");
  lines.push(...none(brief.lessons));
  for (const l of brief.lessons) lines.push(`  ${l.card} [${l.status}] ${l.lesson}`);
  lines.push(...more("lessons"));
  lines.push("under-explored categories (experiments):");
  lines.push(...none(brief.under_explored));
  if (brief.under_explored.length) {
    lines.push(`  ${brief.under_explored.map((u) => `${u.category} ${u.experiments}`).join(", ")}`);
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
