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
import { htmlText, oneLine, terminalText, truncate } from "../util/text.ts";
import type { CardSummary, Skipped } from "./index.ts";
import { EMPTY_QUEUE_SECTION, type QueueSection } from "./queue_section.ts";
import { readCardFile } from "./records.ts";
import {
  type BestStep,
  type ChartPoint,
  ChartRenderer,
  type CoverageCell,
  type LineageNode,
  type MarkKind,
} from "./report_charts.ts";
import { REPORT_CSS, REPORT_SCRIPT } from "./report_client.ts";
import type { Card } from "./schema.ts";
import { checkOutputPath, type KnowledgeBase } from "./store.ts";
import { ensureBase } from "./base.ts";
import {
  classLabel,
  type ClassStats,
  type CoverageRow,
  type Finding,
  type RecipeEstimate,
  type Synthesis,
} from "./synthesis.ts";
import { meanHalfWidth, tQuantile } from "./stats.ts";
import { configChange, effectiveConfig } from "./config_keys.ts";

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
/** Rows of the tables that can grow without bound. */
const TABLE_ROWS = 100;
/** Rows of each findings table (newest first). */
const FINDING_ROWS = 40;
/** Agents drawn one per row in the activity chart; the rest share a row. */
const ACTIVITY_AGENTS = 30;

/** The coverage heat map's columns (CoverageRow counts). */
export const COVERAGE_COLUMNS: readonly (keyof CoverageRow)[] = [
  "experiments",
  "ideas",
  "keep",
  "discard",
  "inconclusive",
  "crash",
  "pending",
  "confirmed",
  "dead_ends",
];

const CARD_ID = /card_[0-9A-HJKMNP-TV-Z]{26}/g;

/** Stored text as shown in the page: line breaks kept, other controls and bidi made visible. */
export function visibleText(text: string, max = TEXT_MAX): string {
  return truncate(terminalText(String(text)), max);
}

/** One line of stored text (labels, table cells), controls and bidi made visible. */
function line(text: string, max = 200): string {
  return truncate(oneLine(String(text)), max);
}

/** Text already made visible, as HTML character data or attribute value. */
function escapeHtml(text: string): string {
  return htmlText(text);
}

/** Stored text on one line, escaped for HTML. */
function h(text: string, max = 200): string {
  return escapeHtml(line(text, max));
}

/** Stored text with its card ids turned into links to their details. */
function linkified(text: string, max = 400): string {
  const shown = line(text, max);
  let out = "";
  let at = 0;
  for (const match of shown.matchAll(CARD_ID)) {
    out += escapeHtml(shown.slice(at, match.index)) + cardLink(match[0]);
    at = match.index! + match[0].length;
  }
  return out + escapeHtml(shown.slice(at));
}

function cardLink(id: string): string {
  return `<a class="card-link id" href="#${escapeHtml(id)}">${escapeHtml(id)}</a>`;
}

/** An ISO time as `2026-11-27 14:03 UTC` (hostile strings pass through escaped). */
function when(iso: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso;
}

function fixed(value: number | null | undefined, digits = 4): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? "-"
    : value.toFixed(digits);
}

function kindOf(card: CardSummary): MarkKind {
  return card.retracted ? "retracted" : card.status;
}

function badge(card: CardSummary): string {
  const kind = kindOf(card);
  return `<span class="status ${kind}">${kind}</span>`;
}

function pointOf(card: CardSummary): ChartPoint {
  const value = card.val_bpb === null ? "crash" : card.val_bpb.toFixed(4);
  return {
    id: card.id,
    time: new Date(card.timestamp),
    val_bpb: card.status === "crash" ? null : card.val_bpb,
    kind: kindOf(card),
    title: `${card.id} ${kindOf(card)} ${value}\n${line(card.agent, 64)}: ${
      line(card.hypothesis, 160)
    }`,
  };
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

/** Running sums of one recipe's runs (Welford), while walking a class in time order. */
interface RecipeRun {
  n: number;
  mean: number;
  m2: number;
  kept: boolean;
}

/**
 * The running best of a class over time: after each card, the kept recipe with the lowest mean
 * of its runs so far (pending runs included, as the synthesis counts them), with the 95%
 * confidence interval of that mean: the class noise floor when known, else the recipe's own
 * spread once it has two runs. The last step is the synthesis's own best.
 */
function runningBest(cards: CardSummary[], stats: ClassStats | undefined): BestStep[] {
  const noise = stats?.noise ?? null;
  const recipes = new Map<string, RecipeRun>();
  const halfWidth = (r: RecipeRun) =>
    noise !== null
      ? meanHalfWidth(noise.sigma ** 2, r.n, noise.df)
      : r.n >= 2
      ? meanHalfWidth(r.m2 / (r.n - 1), r.n, r.n - 1)
      : 0;
  const steps: BestStep[] = [];
  let best = null as { hash: string; recipe: RecipeRun } | null;
  for (const card of cards) {
    if (card.retracted || card.status === "crash" || card.val_bpb === null) continue;
    const recipe = recipes.get(card.recipe_hash) ?? { n: 0, mean: 0, m2: 0, kept: false };
    recipes.set(card.recipe_hash, recipe);
    const delta = card.val_bpb - recipe.mean;
    recipe.n++;
    recipe.mean += delta / recipe.n;
    recipe.m2 += delta * (card.val_bpb - recipe.mean);
    if (card.status === "keep") recipe.kept = true;
    if (best?.hash === card.recipe_hash && delta > 0) {
      best = null; // the best got worse: look at every kept recipe again
      for (const [hash, r] of recipes) {
        if (r.kept && (best === null || r.mean < best.recipe.mean)) best = { hash, recipe: r };
      }
    } else if (recipe.kept && (best === null || recipe.mean < best.recipe.mean)) {
      best = { hash: card.recipe_hash, recipe };
    }
    if (best === null) continue;
    const half = halfWidth(best.recipe);
    const value = best.recipe.mean;
    const last = steps[steps.length - 1];
    if (last && last.value === value && last.high - last.value === half) continue;
    steps.push({ time: new Date(card.timestamp), value, low: value - half, high: value + half });
  }
  const final = stats?.best;
  if (final && cards.length > 0) {
    const half = final.ci95 ?? 0;
    const last = steps[steps.length - 1];
    if (!last || last.value !== final.mean || last.high - last.value !== half) {
      steps.push({
        time: new Date(cards[cards.length - 1].timestamp),
        value: final.mean,
        low: final.mean - half,
        high: final.mean + half,
      });
    }
  }
  return steps;
}

/**
 * Half-width of the baseline's noise band: where one new run of the baseline recipe lands with
 * 95% probability (a prediction interval), t(0.975, df) * sigma * sqrt(1 + 1/n), with the class
 * noise floor when known, else the recipe's own spread; 0 when neither is known.
 */
function noiseBand(baseline: RecipeEstimate, stats: ClassStats): number {
  const sigma = stats.noise?.sigma ?? baseline.sd;
  const df = stats.noise?.df ?? baseline.n - 1;
  if (sigma === null || !(df > 0)) return 0;
  return tQuantile(0.975, df) * sigma * Math.sqrt(1 + 1 / baseline.n);
}

/** `mean ± ci (n=N)` of a recipe estimate. */
function estimate(e: RecipeEstimate): string {
  return `${fixed(e.mean)}${e.ci95 === null ? "" : ` ± ${fixed(e.ci95)}`} (n=${e.n})`;
}

function table(headers: string[], rows: string[][], numeric: Set<number> = new Set()): string {
  const head = headers.map((cell, i) => `<th${numeric.has(i) ? ' class="num"' : ""}>${cell}</th>`);
  const body = rows.map((row) =>
    `<tr>${
      row.map((cell, i) => `<td class="${numeric.has(i) ? "num" : "text"}">${cell}</td>`).join("")
    }</tr>`
  );
  return `<table><thead><tr>${head.join("")}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

function more(total: number, shown: number, what: string): string {
  return total > shown ? `<p class="muted">${total - shown} more ${what} not shown.</p>` : "";
}

const LEGEND = `<div class="legend">${
  ["keep", "discard", "inconclusive", "pending", "crash", "retracted"]
    .map((kind) => `<span class="${kind}">${kind}</span>`).join("")
}<span class="best">running best recipe mean (band: its 95% CI)</span><span class="noise">baseline mean (band: where 95% of its runs land)</span></div>`;

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

/** Render the report page. */
export async function renderHtmlReport(input: HtmlReportInput): Promise<HtmlReport> {
  const charts = await ChartRenderer.create();
  const { cards, synthesis, files, queue } = input;
  const byClass = new Map<string, CardSummary[]>();
  for (const card of cards) {
    const list = byClass.get(card.class_key) ?? [];
    list.push(card);
    byClass.set(card.class_key, list);
  }
  const classBaseline = new Map([...byClass].map(([key, list]) => [key, list[0].id]));
  const styles = new Set<string>();
  const chart = (svg: string) => `<div class="chart">${hoistStyles(svg, styles)}</div>`;
  const known = new Set(cards.map((c) => c.id));

  // val_bpb over time, one chart per class: classes from synthesis first (most recent first),
  // then any class it does not know (none normally).
  const classOrder = [
    ...synthesis.classes.map((c) => c.key).filter((key) => byClass.has(key)),
    ...[...byClass.keys()].filter((key) => !synthesis.classes.some((c) => c.key === key)),
  ];
  // Short names (C1, C2, ...) for the tables; the charts' headings give the full label.
  const classShort = new Map(classOrder.map((key, i) => [key, `C${i + 1}`]));
  let marks = 0;
  const progress: string[] = [];
  for (const key of classOrder) {
    const list = byClass.get(key)!;
    const stats = synthesis.classes.find((c) => c.key === key);
    const baseline = stats?.baseline ?? null;
    const best = runningBest(list, stats);
    const points = list.map(pointOf);
    marks += points.length;
    const crashes = list.filter((c) => c.status === "crash" && !c.retracted).length;
    const bestText = stats?.best
      ? `best ${estimate(stats.best)}, ${h(stats.best.verdict, 120)} (${cardLink(stats.best.id)}: ${
        linkified(stats.best.hypothesis, 160)
      })`
      : "nothing kept yet";
    const noiseText = stats?.noise
      ? `noise sigma ${fixed(stats.noise.sigma)} (df ${stats.noise.df}, ${stats.noise.groups} ` +
        `replicated recipes, ${stats.noise.runs} runs)`
      : `noise unknown (df ${stats?.noise_evidence.df ?? 0} of ${
        stats?.noise_evidence.needed ?? "?"
      } needed)`;
    const baselineText = baseline
      ? `baseline ${estimate(baseline)} (${cardLink(baseline.card)})`
      : "no measured baseline";
    progress.push(
      `<h3 class="class-label">${classShort.get(key)} · ${h(classLabel(key), 300)}</h3>`,
      `<p>${list.length} cards, ${crashes} crashes; ${bestText}; ${baselineText}; ${noiseText}.</p>`,
      chart(
        charts.progress({
          points,
          best,
          baseline: baseline && {
            value: baseline.mean,
            low: baseline.mean - noiseBand(baseline, stats!),
            high: baseline.mean + noiseBand(baseline, stats!),
          },
        }),
      ),
    );
  }

  // Findings and questions.
  const confirmed = synthesis.findings.filter((f) => f.confirmed);
  const unconfirmed = synthesis.findings.filter((f) => !f.confirmed);
  const findingRow = (f: Finding) => [
    cardLink(f.id),
    classShort.get(f.class_key) ?? "-",
    `${fixed(f.val_bpb)} (n=${f.n})`,
    `${fixed(f.gain)}${
      f.comparison.gain_ci95 === null ? "" : ` ± ${fixed(f.comparison.gain_ci95)}`
    }`,
    f.comparison.vs,
    f.comparison.p_adjusted === null
      ? "-"
      : `${f.comparison.p_adjusted.toFixed(3)} of ${f.comparison.family}`,
    `${linkified(f.hypothesis, 240)}${
      f.lesson === null ? "" : `<br><span class="muted">lesson: ${linkified(f.lesson, 200)}</span>`
    }`,
  ];
  const findingHead = ["card", "class", "mean", "gain", "against", "Holm p", "hypothesis"];
  const numericFinding = new Set([2, 3, 5]);

  // Lineage graph.
  const depth = new Map<string, number>();
  const edges: { from: string; to: string }[] = [];
  const cited = new Set<string>();
  for (const card of cards) {
    let d = 0;
    for (const prior of card.prior_cards) {
      if (!known.has(prior)) continue;
      edges.push({ from: prior, to: card.id });
      cited.add(prior);
      d = Math.max(d, (depth.get(prior) ?? 0) + 1);
    }
    depth.set(card.id, d);
  }
  const lineageNodes: LineageNode[] = cards
    .filter((c) => cited.has(c.id) || c.prior_cards.some((p) => known.has(p)))
    .map((c) => ({ ...pointOf(c), depth: depth.get(c.id) ?? 0 }));

  // Coverage heat map.
  const columns = COVERAGE_COLUMNS;
  const coverageRows = synthesis.coverage.map((row) => `${row.category} (${row.state})`);
  const columnMax = new Map(
    columns.map((column) => [
      column,
      Math.max(1, ...synthesis.coverage.map((row) => row[column as keyof typeof row] as number)),
    ]),
  );
  const cells: CoverageCell[] = synthesis.coverage.flatMap((row, i) =>
    columns.map((column) => {
      const count = row[column as keyof typeof row] as number;
      return { row: coverageRows[i], column, count, share: count / columnMax.get(column)! };
    })
  );

  // Agents.
  const agents = new Map<
    string,
    { cards: number; keep: number; crash: number; last: string; sessions: Set<string> }
  >();
  for (const card of cards) {
    const name = line(card.agent, 64);
    const a = agents.get(name) ??
      { cards: 0, keep: 0, crash: 0, last: card.timestamp, sessions: new Set<string>() };
    a.cards++;
    if (card.status === "keep" && !card.retracted) a.keep++;
    if (card.status === "crash") a.crash++;
    if (card.timestamp > a.last) a.last = card.timestamp;
    a.sessions.add(card.session);
    agents.set(name, a);
  }
  const agentOrder = [...agents].sort((a, b) => b[1].cards - a[1].cards || (a[0] < b[0] ? -1 : 1))
    .map(([name]) => name);
  const charted = new Set(agentOrder.slice(0, ACTIVITY_AGENTS));
  const othersLabel = `(${agentOrder.length - charted.size} other agents)`;
  const activityPoints = cards.map((c) => {
    const name = line(c.agent, 64);
    return { ...pointOf(c), agent: charted.has(name) ? name : othersLabel };
  });
  const activityRows = [...charted, ...(agentOrder.length > charted.size ? [othersLabel] : [])];
  const working = new Map<string, string[]>();
  for (const item of queue.inProgress) {
    const name = line(item.agent, 64);
    working.set(name, [...(working.get(name) ?? []), item.id]);
  }

  const recent = [...cards].reverse().slice(0, TABLE_ROWS);
  const kept = cards.filter((c) => c.status === "keep" && !c.retracted).length;
  const crashed = cards.filter((c) => c.status === "crash" && !c.retracted).length;
  const figures: [string, string | number][] = [
    ["cards", cards.length],
    ["classes", byClass.size],
    ["kept", kept],
    ["crashes", crashed],
    ["pending", synthesis.pending],
    ["retracted", synthesis.retracted],
    ["confirmed findings", confirmed.length],
    ["agents", agents.size],
    ["queue: waiting / running", `${queue.pending.length} / ${queue.inProgress.length}`],
  ];
  const skippedHtml = input.skipped.length === 0 && !queue.unreadable
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

  const sections = [
    `<section id="progress"><h2>val_bpb over time</h2>` +
    `<p class="muted">One chart per comparability class (same backend, device, harness and ` +
    `budget); results are never compared across classes. Crashes have no val_bpb and sit on ` +
    `the top row. Click a point for its card.</p>${LEGEND}${
      progress.join("") || "<p>No cards yet.</p>"
    }</section>`,
    `<section id="findings"><h2>Findings</h2><h3>Confirmed</h3>${
      confirmed.length
        ? table(
          findingHead,
          confirmed.slice(0, FINDING_ROWS).map(findingRow),
          numericFinding,
        ) + more(confirmed.length, FINDING_ROWS, "confirmed findings")
        : "<p>None confirmed yet.</p>"
    }<h3>Better than their reference, not confirmed (within noise or too few runs)</h3>${
      unconfirmed.length
        ? table(findingHead, unconfirmed.slice(0, FINDING_ROWS).map(findingRow), numericFinding) +
          more(unconfirmed.length, FINDING_ROWS, "improvements")
        : "<p>None.</p>"
    }<h3>Dead ends (the 95% CI rules out a useful gain)</h3>${
      synthesis.deadEnds.length
        ? table(
          ["card", "class", "runs", "gain", "useful gain", "tags", "hypothesis"],
          synthesis.deadEnds.slice(0, FINDING_ROWS).map((d) => [
            cardLink(d.id),
            classShort.get(d.class_key) ?? "-",
            String(d.n),
            `${fixed(d.gain)} ± ${fixed(d.gain_ci95)}`,
            fixed(d.useful),
            d.tags.map((tag) => h(tag, 64)).join(", "),
            linkified(d.hypothesis, 240),
          ]),
          new Set([2, 3, 4]),
        ) + more(synthesis.deadEnds.length, FINDING_ROWS, "dead ends")
        : "<p>None.</p>"
    }</section>`,
    `<section id="questions"><h2>Open questions</h2>${
      synthesis.openQuestions.length
        ? `<ul class="questions">${
          synthesis.openQuestions.slice(0, TABLE_ROWS).map((q) => `<li>${linkified(q)}</li>`)
            .join("")
        }</ul>${more(synthesis.openQuestions.length, TABLE_ROWS, "questions")}`
        : "<p>None.</p>"
    }${
      synthesis.disputed.length
        ? `<h3>Disputed: judged twice, neither judgement superseding the other</h3>${
          table(
            ["card", "status", "hypothesis"],
            synthesis.disputed.slice(0, TABLE_ROWS).map((d) => [
              cardLink(d.id),
              h(d.status, 20),
              linkified(d.hypothesis, 240),
            ]),
          )
        }`
        : ""
    }${
      synthesis.stepsDrift.length
        ? `<h3>Runs with far fewer steps than their replicates (a loaded machine?)</h3>${
          table(
            ["card", "class", "steps", "typical", "load"],
            synthesis.stepsDrift.slice(0, TABLE_ROWS).map((d) => [
              cardLink(d.id),
              classShort.get(d.class_key) ?? "-",
              String(d.steps),
              String(d.typical),
              d.load_avg === null ? "-" : d.load_avg.toFixed(2),
            ]),
            new Set([2, 3, 4]),
          )
        }`
        : ""
    }</section>`,
    `<section id="lineage"><h2>Lineage</h2><p class="muted">${lineageNodes.length} cards linked by ${edges.length} prior-card references; arrows point from a prior card to the card that built on it. Click a node for its card.</p>${
      lineageNodes.length
        ? chart(charts.lineage(lineageNodes, edges))
        : "<p>No card names a prior card yet.</p>"
    }</section>`,
    `<section id="coverage"><h2>Coverage of the taxonomy</h2><p class="muted">Experiments per category (a card counts in every category its tags map to), shaded per column.</p>${
      chart(charts.coverage(cells, coverageRows, columns))
    }<p>Free tags: ${
      synthesis.freeTags.length
        ? synthesis.freeTags.slice(0, 40).map((t) => `${h(t.tag, 64)} (${t.experiments})`).join(
          ", ",
        ) + (synthesis.freeTags.length > 40 ? `, +${synthesis.freeTags.length - 40} more` : "")
        : "none"
    }</p></section>`,
    `<section id="queue"><h2>Queue</h2><h3>In progress</h3>${
      queue.inProgress.length
        ? table(
          ["agent", "item", "category", "hypothesis", "claimed", "heartbeat"],
          queue.inProgress.slice(0, TABLE_ROWS).map((item) => [
            h(item.agent, 64),
            `<code class="nowrap">${h(item.id, 80)}</code>`,
            h(item.category, 64),
            h(item.hypothesis, 300),
            `<span class="nowrap">${h(when(item.claimedAt), 40)}</span>`,
            `<span class="nowrap">${h(when(item.heartbeatAt), 40)}</span>`,
          ]),
        ) + more(queue.inProgress.length, TABLE_ROWS, "items")
        : "<p>Nobody is working on a queue item.</p>"
    }<h3>Waiting (best first)</h3>${
      queue.pending.length
        ? table(
          ["priority", "item", "category", "hypothesis"],
          queue.pending.slice(0, TABLE_ROWS).map((item) => [
            String(item.priority),
            `<code class="nowrap">${h(item.id, 80)}</code>`,
            h(item.category, 64),
            h(item.hypothesis, 300),
          ]),
          new Set([0]),
        ) + more(queue.pending.length, TABLE_ROWS, "items")
        : "<p>The queue is empty.</p>"
    }</section>`,
    `<section id="agents"><h2>Agents</h2>${
      cards.length ? chart(charts.activity(activityPoints, activityRows)) : ""
    }${
      table(
        ["agent", "cards", "kept", "crashes", "sessions", "last card", "working on"],
        agentOrder.slice(0, TABLE_ROWS).map((name) => {
          const a = agents.get(name)!;
          return [
            escapeHtml(name),
            String(a.cards),
            String(a.keep),
            String(a.crash),
            String(a.sessions.size),
            `<span class="nowrap">${h(when(a.last), 40)}</span>`,
            (working.get(name) ?? []).map((id) => `<code>${h(id, 80)}</code>`).join(", "),
          ];
        }),
        new Set([1, 2, 3, 4]),
      ) + more(agentOrder.length, TABLE_ROWS, "agents")
    }</section>`,
    `<section id="cards"><h2>Newest cards</h2>${
      table(
        ["card", "time", "status", "val_bpb", "agent", "hypothesis"],
        recent.map((c) => [
          cardLink(c.id),
          `<span class="nowrap">${h(when(c.timestamp), 40)}</span>`,
          badge(c),
          fixed(c.val_bpb),
          h(c.agent, 64),
          h(c.hypothesis, 200),
        ]),
        new Set([3]),
      ) + more(cards.length, recent.length, "cards (all are in the charts)")
    }</section>`,
  ];

  const data = {
    cards: cards.map((card) => cardView(card, files, classBaseline)),
  };
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
    figures.map(([label, value]) => `<div><b>${escapeHtml(String(value))}</b>${label}</div>`).join(
      "",
    )
  }</div>${skippedHtml}</header>
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
  return { html, cards: cards.length, classes: byClass.size, marks };
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
