/**
 * Longer text views of a synthesis: the coverage table, a session report (`synthesize
 * --session`) and the rolling meta-synthesis (`update-meta` / `read-meta`). These are derived
 * views written under `views/` (git-ignored) and rebuilt from the cards at any time.
 */
import { markdownText, oneLine, truncate } from "../util/text.ts";
import type { CoverageRow, Synthesis } from "./synthesis.ts";

/** Card text for the Markdown report: one line, markup inert (a card may carry `<script>`). */
function clip(text: string, width = 140): string {
  return markdownText(truncate(oneLine(text), width));
}

/** Coverage table: one line per taxonomy category, then the free tags. */
export function renderCoverage(synthesis: Synthesis): string {
  const lines = [
    "category        experiments  ideas  keep  discard  inconcl.  crash  pending  confirmed  dead  state",
  ];
  for (const row of synthesis.coverage) lines.push(coverageLine(row));
  const free = synthesis.freeTags.slice(0, 30);
  lines.push(
    free.length === 0
      ? "free tags: none"
      : `free tags: ${free.map((t) => `${clip(t.tag, 64)} ${t.experiments}`).join(", ")}` +
        (synthesis.freeTags.length > free.length
          ? ` (+${synthesis.freeTags.length - free.length} more)`
          : ""),
  );
  return lines.join("\n");
}

function coverageLine(row: CoverageRow): string {
  const cells = [
    row.experiments,
    row.ideas,
    row.keep,
    row.discard,
    row.inconclusive,
    row.crash,
    row.pending,
    row.confirmed,
    row.dead_ends,
  ];
  const widths = [11, 6, 5, 8, 9, 6, 8, 10, 5];
  const numbers = cells.map((n, i) => String(n).padStart(widths[i])).join(" ");
  return `${row.category.padEnd(15)} ${numbers}  ${row.state}`;
}

/** A markdown report of a synthesis; `title` names the session or the whole base. */
export function renderReport(title: string, synthesis: Synthesis, maxItems = 20): string {
  const out: string[] = [`# ${markdownText(title)}`, ""];
  out.push(
    `${synthesis.total} cards, ${synthesis.retracted} retracted, ${synthesis.pending} pending, ` +
      `${synthesis.classes.length} comparability classes.`,
    "",
  );
  out.push("## Best per comparability class", "");
  if (synthesis.classes.length === 0) out.push("none");
  for (const stats of synthesis.classes) {
    const ci = (value: number | null) => value === null ? "" : ` +- ${value.toFixed(4)}`;
    const best = stats.best
      ? `${stats.best.mean.toFixed(4)}${ci(stats.best.ci95)} (n=${stats.best.n}, recipe ` +
        `${clip(stats.best.recipe_hash, 64)}, ${stats.best.id}: ${clip(stats.best.hypothesis)}); ` +
        stats.best.verdict
      : "nothing kept yet";
    const baseline = stats.baseline
      ? `; baseline ${stats.baseline.mean.toFixed(4)}${
        ci(stats.baseline.ci95)
      } (n=${stats.baseline.n})`
      : "";
    const noise = stats.noise
      ? `noise sigma ${
        stats.noise.sigma.toFixed(4)
      } (df ${stats.noise.df}, ${stats.noise.groups} recipes)`
      : `noise unknown (${stats.noise_evidence.df} of ${stats.noise_evidence.needed} replicate df)`;
    out.push(
      `- ${clip(stats.label)}: ${best}${baseline}; ${stats.runs} runs, ${stats.ideas} ideas, ` +
        `${stats.crashes} crashes; ${noise}`,
    );
  }
  const confirmed = synthesis.findings.filter((f) => f.confirmed);
  out.push("", "## Confirmed findings", "");
  if (confirmed.length === 0) out.push("none");
  for (const f of confirmed.slice(0, maxItems)) {
    out.push(
      `- ${f.id}: gain ${f.gain.toFixed(4)} val_bpb on its ${f.comparison.vs} (n=${f.n}, Holm p ` +
        `${f.comparison.p_adjusted?.toFixed(3)}) ${clip(f.hypothesis)}` +
        (f.lesson ? ` -- ${clip(f.lesson)}` : ""),
    );
  }
  out.push("", "## Dead ends", "");
  if (synthesis.deadEnds.length === 0) out.push("none");
  for (const d of synthesis.deadEnds.slice(0, maxItems)) {
    out.push(
      `- ${d.id}: gain ${d.gain.toFixed(4)} +- ${d.gain_ci95.toFixed(4)} (n=${d.n}) ` +
        clip(d.hypothesis),
    );
  }
  out.push("", "## Lessons", "");
  if (synthesis.lessons.length === 0) out.push("none");
  for (const l of synthesis.lessons.slice(0, maxItems)) {
    out.push(`- ${l.id} [${l.status}]: ${clip(l.lesson, 300)}`);
  }
  out.push("", "## Coverage", "", "```", renderCoverage(synthesis), "```");
  out.push("", "## Open questions", "");
  if (synthesis.openQuestions.length === 0) out.push("none");
  for (const q of synthesis.openQuestions.slice(0, maxItems)) out.push(`- ${clip(q, 200)}`);
  out.push("", "## Results", "");
  if (synthesis.recent.length === 0) out.push("none");
  for (const card of synthesis.recent.slice(0, maxItems * 5)) {
    const value = card.val_bpb === null ? "-" : card.val_bpb.toFixed(4);
    const flag = card.retracted ? " RETRACTED" : "";
    out.push(`- ${card.id} ${card.status}${flag} ${value} ${clip(card.hypothesis)}`);
  }
  return `${out.join("\n")}\n`;
}
