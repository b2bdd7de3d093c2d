/**
 * `autoresearch report`: the whole knowledge base as one self-contained HTML page that people
 * look at. Charts are drawn at generation time (Observable Plot on linkedom, see
 * report_charts.ts); the card data travels inline as JSON for the details panel; the page loads
 * nothing from the network and a Content-Security-Policy allows only its own inline script and
 * styles (by hash). Every piece of card text is hostile input (other people's agents): in HTML
 * it is escaped, in the data it is shown through `textContent`, and control, bidi and
 * zero-width characters are made visible everywhere.
 */
import { dirname, join, resolve } from "node:path";
import { guardedWrite, isInside } from "../util/guarded.ts";
import { terminalText, truncate } from "../util/text.ts";
import { ensureBase } from "./base.ts";
import { configChange, effectiveConfig } from "./config_keys.ts";
import type { CardSummary, Skipped } from "./index.ts";
import { EMPTY_QUEUE_SECTION, type QueueSection } from "./queue_section.ts";
import { readCardFile } from "./records.ts";
import { ChartRenderer } from "./report_charts.ts";
import { REPORT_CSS, REPORT_SCRIPT } from "./report_client.ts";
import {
  agentActivity,
  agentsSection,
  cardsSection,
  classOrderOf,
  coverageSection,
  escapeHtml,
  findingsSection,
  h,
  line,
  lineageSection,
  progressSection,
  questionsSection,
  queueSection,
  type SectionContext,
  TABLE_ROWS,
} from "./report_sections.ts";
import type { Card } from "./schema.ts";
import { checkOutputPath, type KnowledgeBase } from "./store.ts";
import { classLabel, type Synthesis } from "./synthesis.ts";

export { COVERAGE_COLUMNS } from "./report_sections.ts";

/** Everything one report is built from (read from a base by `collectHtmlReport`). */
export interface HtmlReportInput {
  /** page title */
  title: string;
  /** when it was generated */
  generated: Date;
  /** where the cards came from (shown in the header) */
  source: string;
  /** every card summary, oldest first (retracted included) */
  cards: CardSummary[];
  /** synthesis of the same cards */
  synthesis: Synthesis;
  /** the card files (config, platform, results), or why a file could not be read */
  files: Map<string, Card | string>;
  /** the experiment queue */
  queue: QueueSection;
  /** record files skipped as unusable */
  skipped: Skipped[];
}

/** A rendered report. */
export interface HtmlReport {
  /** the page */
  html: string;
  /** cards in it */
  cards: number;
  /** comparability classes charted */
  classes: number;
  /** marks drawn for cards in the val_bpb charts (one per card) */
  marks: number;
}

/** Longest text kept per field in the page's data (a card allows 4,000 characters). */
const TEXT_MAX = 4_000;
/** Config differences shown per card, and characters per value. */
const DIFF_ROWS = 48;
const DIFF_VALUE = 160;
/** Characters of a recipe diff shown in the details. */
const RECIPE_DIFF_MAX = 3_000;

/** Stored text as shown in the page: line breaks kept, other controls and bidi made visible. */
export function visibleText(text: string, max = TEXT_MAX): string {
  return truncate(terminalText(String(text)), max);
}

function configValue(value: unknown): string {
  return value === undefined ? "-" : JSON.stringify(value) ?? "null";
}

/** The details of one card as the page's script reads them (all text made visible). */
interface CardView {
  id: string;
  time: string;
  agent: string;
  session: string;
  status: string;
  written: string;
  retracted: boolean;
  retraction: string | null;
  val_bpb: number | null;
  delta: number | null;
  hypothesis: string;
  lesson: string | null;
  tags: string[];
  categories: string[];
  priors: string[];
  classLabel: string;
  configBase: string | null;
  configDiff: [string, string, string][];
  configCut: string | null;
  recipeDiff: string | null;
  results: [string, string][];
  platform: [string, string][];
  hashes: [string, string][];
  unreadable: string | null;
}

function configView(
  card: CardSummary,
  files: Map<string, Card | string>,
  classBaseline: Map<string, string>,
): Pick<CardView, "configBase" | "configDiff" | "configCut"> {
  const own = files.get(card.id);
  if (typeof own !== "object") return { configBase: null, configDiff: [], configCut: null };
  const prior = card.prior_cards.find((id) => typeof files.get(id) === "object");
  const baselineId = classBaseline.get(card.class_key);
  const baseId = prior ?? (baselineId !== card.id ? baselineId : undefined);
  const base = baseId === undefined ? undefined : files.get(baseId);
  // A root shows its whole config; any other card the keys that differ from its base.
  const differences = typeof base === "object"
    ? configChange(base.config, own.config)
    : Object.entries(effectiveConfig(own)).map(([key, to]) => ({ key, from: undefined, to }));
  const rows: [string, string, string][] = differences.map((d) => [
    line(d.key, 120),
    line(configValue(d.from), DIFF_VALUE),
    line(configValue(d.to), DIFF_VALUE),
  ]);
  return {
    configBase: typeof base !== "object"
      ? null
      : prior !== undefined
      ? `prior card ${baseId}`
      : `the class's first card ${baseId}`,
    configDiff: rows.slice(0, DIFF_ROWS),
    configCut: rows.length > DIFF_ROWS
      ? `${rows.length - DIFF_ROWS} more differences in cards/${card.id}.json`
      : null,
  };
}

function cardView(
  card: CardSummary,
  files: Map<string, Card | string>,
  classBaseline: Map<string, string>,
): CardView {
  const file = files.get(card.id);
  const full = typeof file === "object" ? file : null;
  const r = full?.results;
  const results: [string, string][] = [];
  const add = (label: string, value: number | undefined, digits: number) => {
    if (value !== undefined && Number.isFinite(value)) results.push([label, value.toFixed(digits)]);
  };
  add("training seconds", r?.training_seconds, 1);
  add("steps", r?.num_steps, 0);
  add("tokens", r?.total_tokens, 0);
  add("parameters", r?.num_params, 0);
  add("MFU %", r?.mfu_percent, 2);
  add("peak memory MB", r?.peak_memory_mb, 1);
  results.push(["seed", String(card.seed)], ["budget s", String(card.budget_s)]);
  const p = full?.platform;
  const platform: [string, string][] = [
    ["backend", card.backend],
    ["device", line(card.device, 256)],
  ];
  if (p) {
    platform.push(
      ["vendor", line(p.vendor, 256)],
      ["cores", String(p.cores)],
      ["memory GB", String(p.memory_gb)],
    );
  }
  const hashes: [string, string][] = [
    ["recipe", card.recipe_hash],
    ["harness", card.harness_hash],
  ];
  if (full?.commit) hashes.push(["commit", full.commit]);
  return {
    id: card.id,
    time: card.timestamp,
    agent: line(card.agent, 64),
    session: line(card.session, 64),
    status: card.status,
    written: card.written_status,
    retracted: card.retracted,
    retraction: card.retraction_reason === null ? null : visibleText(card.retraction_reason),
    val_bpb: card.val_bpb,
    delta: card.delta,
    hypothesis: visibleText(card.hypothesis),
    lesson: card.lesson === null ? null : visibleText(card.lesson),
    tags: card.tags.map((tag) => line(tag, 64)),
    categories: card.categories,
    priors: card.prior_cards,
    classLabel: line(classLabel(card.class_key), 300),
    ...configView(card, files, classBaseline),
    recipeDiff: full?.recipe_diff ? visibleText(full.recipe_diff, RECIPE_DIFF_MAX) : null,
    results,
    platform,
    hashes,
    unreadable: typeof file === "string" ? line(file, 300) : null,
  };
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
}

/** Plot puts a `<style>` in each chart; keep one copy of each in the page's stylesheet. */
function hoistStyles(svg: string, styles: Set<string>): string {
  return svg.replace(/<style>([^<]*)<\/style>/g, (_, css: string) => {
    styles.add(css);
    return "";
  });
}

// Geometry attributes Plot writes with full double precision (a third of a large page).
const GEOMETRY = /\s(d|transform|points|x|y|x1|x2|y1|y2|cx|cy)="([^"]*)"/g;

/** Round the coordinates in a chart's geometry attributes to 0.1 px (card text untouched). */
function compactSvg(svg: string): string {
  return svg.replace(
    GEOMETRY,
    (_, name: string, value: string) =>
      ` ${name}="${
        value.replace(/-?\d+\.\d{2,}/g, (n) => String(Math.round(Number(n) * 10) / 10))
      }"`,
  );
}

/** Render the report page. */
export async function renderHtmlReport(input: HtmlReportInput): Promise<HtmlReport> {
  const { cards, synthesis, files, queue } = input;
  const byClass = new Map<string, CardSummary[]>();
  for (const card of cards) {
    const list = byClass.get(card.class_key) ?? [];
    list.push(card);
    byClass.set(card.class_key, list);
  }
  const classOrder = classOrderOf(synthesis, byClass);
  const styles = new Set<string>();
  const ctx: SectionContext = {
    cards,
    synthesis,
    queue,
    charts: await ChartRenderer.create(),
    byClass,
    classOrder,
    // Short names (C1, C2, ...) for the tables; the charts' headings give the full label.
    classShort: new Map(classOrder.map((key, i) => [key, `C${i + 1}`])),
    chart: (svg) => `<div class="chart">${hoistStyles(compactSvg(svg), styles)}</div>`,
  };
  const progress = progressSection(ctx);
  const agents = agentActivity(cards);
  const sections = [
    progress.html,
    findingsSection(ctx),
    questionsSection(ctx),
    lineageSection(ctx),
    coverageSection(ctx),
    queueSection(ctx),
    agentsSection(ctx, agents),
    cardsSection(ctx),
  ];

  const figures: [string, string | number][] = [
    ["cards", cards.length],
    ["classes", byClass.size],
    ["kept", cards.filter((c) => c.status === "keep" && !c.retracted).length],
    ["crashes", cards.filter((c) => c.status === "crash" && !c.retracted).length],
    ["pending", synthesis.pending],
    ["retracted", synthesis.retracted],
    ["confirmed findings", synthesis.findings.filter((f) => f.confirmed).length],
    ["agents", agents.size],
    ["queue: waiting / running", `${queue.pending.length} / ${queue.inProgress.length}`],
  ];
  const skipped = input.skipped.length === 0 && !queue.unreadable
    ? ""
    : `<p class="muted">${input.skipped.length} record files skipped as unusable${
      queue.unreadable ? `, ${queue.unreadable} queue records unreadable` : ""
    }.</p>${
      input.skipped.length
        ? `<details><summary>skipped files</summary><ul>${
          input.skipped.slice(0, TABLE_ROWS).map((s) =>
            `<li><code>${h(s.path, 300)}</code>: ${h(s.reason, 300)}</li>`
          ).join("")
        }</ul></details>`
        : ""
    }`;

  const classBaseline = new Map([...byClass].map(([key, list]) => [key, list[0].id]));
  const data = { cards: cards.map((card) => cardView(card, files, classBaseline)) };
  // `<` escaped, so no card text can close the data block or open a comment.
  const json = JSON.stringify(data).replace(/</g, "\\u003c");
  const css = [REPORT_CSS, ...styles].join("\n");
  const csp = [
    "default-src 'none'",
    `script-src ${await sha256(REPORT_SCRIPT)}`,
    `style-src ${await sha256(css)}`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${h(input.title, 200)}</title>
<style>${css}</style>
</head>
<body>
<header><h1>${h(input.title, 200)}</h1>
<p>Generated ${escapeHtml(input.generated.toISOString())} from <code>${
    h(input.source, 300)
  }</code>.</p>
<div class="figures" id="summary">${
    figures.map(([label, value]) => `<div><b>${escapeHtml(String(value))}</b>${label}</div>`)
      .join("")
  }</div>${skipped}</header>
<nav><a href="#progress">val_bpb over time</a><a href="#findings">findings</a><a href="#questions">open questions</a><a href="#lineage">lineage</a><a href="#coverage">coverage</a><a href="#queue">queue</a><a href="#agents">agents</a><a href="#cards">newest cards</a></nav>
<aside id="details" aria-live="polite"><h2>Card details</h2><p class="muted">Click a point in a chart, a lineage node or a card id to see its details.</p></aside>
<main>
${sections.join("\n")}
</main>
<script type="application/json" id="report-data">${json}</script>
<script>${REPORT_SCRIPT}</script>
</body>
</html>
`;
  return { html, cards: cards.length, classes: byClass.size, marks: progress.marks };
}

/** Read everything a report shows from a base; `queue` comes from the director (above). */
export async function collectHtmlReport(
  kb: KnowledgeBase,
  queue: QueueSection = EMPTY_QUEUE_SECTION,
): Promise<HtmlReportInput> {
  const cards = await kb.listCards();
  const synthesis = await kb.synthesis();
  const skipped = [...kb.lastSkipped];
  const files = new Map<string, Card | string>();
  for (const card of cards) {
    // The index has the summary; the file has config, platform details and results.
    const read = readCardFile(kb.cardPath(card.id), card.id);
    files.set(card.id, read.ok ? read.value : read.reason);
    // Indexed but unreadable now (changed since the refresh): reported once, details omitted.
    if (!read.ok && !skipped.some((s) => s.path === kb.cardPath(card.id))) {
      skipped.push({ path: kb.cardPath(card.id), reason: read.reason });
    }
  }
  return {
    title: "autoresearch report",
    generated: new Date(),
    source: kb.dir,
    cards,
    synthesis,
    files,
    queue,
    skipped,
  };
}

/** Write the report of `kb` to `out` (default `views/report.html` in the base). */
export async function writeHtmlReport(
  kb: KnowledgeBase,
  options: { out?: string; queue?: QueueSection } = {},
): Promise<HtmlReport & { path: string; bytes: number; skipped: Skipped[] }> {
  if (options.out !== undefined) checkOutputPath(kb, "--out", options.out);
  const input = await collectHtmlReport(kb, options.queue);
  const report = await renderHtmlReport(input);
  const path = options.out ?? join(kb.viewsDir, "report.html");
  const bytes = new TextEncoder().encode(report.html);
  if (options.out === undefined || isInside(kb.dir, options.out)) {
    await ensureBase(kb.dir);
    await guardedWrite(kb.dir, path, bytes);
  } else await guardedWrite(dirname(resolve(path)), resolve(path), bytes);
  return { ...report, path, bytes: bytes.length, skipped: input.skipped };
}
