/**
 * The sections of the HTML report (report_html.ts assembles the page): val_bpb over time per
 * comparability class, findings, open questions, lineage, coverage, queue, agents and the newest
 * cards, as HTML strings. Every piece of card text goes through `h` / `linkified` (one line,
 * control and bidi characters visible, markup escaped); card ids become `#card_...` links that
 * the page's script turns into the details panel. Numbers come from the synthesis; only the
 * running best's history is computed here, from the cards.
 */
import { htmlText, oneLine, truncate } from "../util/text.ts";
import type { CardSummary } from "./index.ts";
import type { QueueSection } from "./queue_section.ts";
import type {
  BestStep,
  ChartPoint,
  ChartRenderer,
  CoverageCell,
  LineageNode,
  MarkKind,
} from "./report_charts.ts";
import { meanHalfWidth, tQuantile } from "./stats.ts";
import {
  classLabel,
  type ClassStats,
  type CoverageRow,
  type Finding,
  type RecipeEstimate,
  type Synthesis,
} from "./synthesis.ts";

/** Rows of the tables that can grow without bound. */
export const TABLE_ROWS = 100;
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

/** One line of stored text (labels, table cells), controls and bidi made visible. */
export function line(text: string, max = 200): string {
  return truncate(oneLine(String(text)), max);
}

/** Text already made visible, as HTML character data or attribute value. */
export function escapeHtml(text: string): string {
  return htmlText(text);
}

/** Stored text on one line, escaped for HTML. */
export function h(text: string, max = 200): string {
  return escapeHtml(line(text, max));
}

/** Stored text with its card ids turned into links to their details. */
export function linkified(text: string, max = 400): string {
  const shown = line(text, max);
  let out = "";
  let at = 0;
  for (const match of shown.matchAll(CARD_ID)) {
    out += escapeHtml(shown.slice(at, match.index)) + cardLink(match[0]);
    at = match.index! + match[0].length;
  }
  return out + escapeHtml(shown.slice(at));
}

export function cardLink(id: string): string {
  return `<a class="card-link id" href="#${escapeHtml(id)}">${escapeHtml(id)}</a>`;
}

/** An ISO time as `2026-11-27 14:03 UTC` (hostile strings pass through escaped). */
export function when(iso: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso;
}

export function fixed(value: number | null | undefined, digits = 4): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? "-"
    : value.toFixed(digits);
}

export function kindOf(card: CardSummary): MarkKind {
  return card.retracted ? "retracted" : card.status;
}

export function badge(card: CardSummary): string {
  const kind = kindOf(card);
  return `<span class="status ${kind}">${kind}</span>`;
}

export function pointOf(card: CardSummary): ChartPoint {
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
export function runningBest(cards: CardSummary[], stats: ClassStats | undefined): BestStep[] {
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

export function table(
  headers: string[],
  rows: string[][],
  numeric: Set<number> = new Set(),
): string {
  const head = headers.map((cell, i) => `<th${numeric.has(i) ? ' class="num"' : ""}>${cell}</th>`);
  const body = rows.map((row) =>
    `<tr>${
      row.map((cell, i) => `<td class="${numeric.has(i) ? "num" : "text"}">${cell}</td>`).join("")
    }</tr>`
  );
  return `<table><thead><tr>${head.join("")}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

export function more(total: number, shown: number, what: string): string {
  return total > shown ? `<p class="muted">${total - shown} more ${what} not shown.</p>` : "";
}

const LEGEND = `<div class="legend">${
  ["keep", "discard", "inconclusive", "pending", "crash", "retracted"]
    .map((kind) => `<span class="${kind}">${kind}</span>`).join("")
}<span class="best">running best recipe mean (band: its 95% CI)</span><span class="noise">baseline mean (band: where 95% of its runs land)</span></div>`;

/** What every section reads. */
export interface SectionContext {
  /** every card, oldest first */
  cards: CardSummary[];
  /** their synthesis */
  synthesis: Synthesis;
  /** the experiment queue */
  queue: QueueSection;
  /** the chart renderer */
  charts: ChartRenderer;
  /** cards per class key, oldest first */
  byClass: Map<string, CardSummary[]>;
  /** class keys in display order */
  classOrder: string[];
  /** short class names (C1, C2, ...) for the tables */
  classShort: Map<string, string>;
  /** wrap a chart's SVG for the page */
  chart: (svg: string) => string;
}

/** The classes in display order: the synthesis's (most recent first), then any it lacks. */
export function classOrderOf(synthesis: Synthesis, byClass: Map<string, CardSummary[]>): string[] {
  return [
    ...synthesis.classes.map((c) => c.key).filter((key) => byClass.has(key)),
    ...[...byClass.keys()].filter((key) => !synthesis.classes.some((c) => c.key === key)),
  ];
}

/** val_bpb over time: one chart per class with its numbers in words; counts the card marks. */
export function progressSection(ctx: SectionContext): { html: string; marks: number } {
  let marks = 0;
  const parts: string[] = [];
  for (const key of ctx.classOrder) {
    const list = ctx.byClass.get(key)!;
    const stats = ctx.synthesis.classes.find((c) => c.key === key);
    const baseline = stats?.baseline ?? null;
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
    const band = baseline && stats ? noiseBand(baseline, stats) : 0;
    parts.push(
      `<h3 class="class-label">${ctx.classShort.get(key)} · ${h(classLabel(key), 300)}</h3>`,
      `<p>${list.length} cards, ${crashes} crashes; ${bestText}; ${baselineText}; ${noiseText}.</p>`,
      ctx.chart(ctx.charts.progress({
        points,
        best: runningBest(list, stats),
        baseline: baseline &&
          { value: baseline.mean, low: baseline.mean - band, high: baseline.mean + band },
      })),
    );
  }
  const html = `<section id="progress"><h2>val_bpb over time</h2>` +
    `<p class="muted">One chart per comparability class (same backend, device, harness and ` +
    `budget); results are never compared across classes. Crashes have no val_bpb and sit on ` +
    `the top row. Click a point for its card.</p>${LEGEND}${
      parts.join("") || "<p>No cards yet.</p>"
    }</section>`;
  return { html, marks };
}

/** Confirmed findings, improvements within noise, and dead ends. */
export function findingsSection(ctx: SectionContext): string {
  const { synthesis, classShort } = ctx;
  const confirmed = synthesis.findings.filter((f) => f.confirmed);
  const unconfirmed = synthesis.findings.filter((f) => !f.confirmed);
  const row = (f: Finding) => [
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
  const head = ["card", "class", "mean", "gain", "against", "Holm p", "hypothesis"];
  const numeric = new Set([2, 3, 5]);
  const findings = (list: Finding[], none: string, what: string) =>
    list.length
      ? table(head, list.slice(0, FINDING_ROWS).map(row), numeric) +
        more(list.length, FINDING_ROWS, what)
      : `<p>${none}</p>`;
  const deadEnds = synthesis.deadEnds.length
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
    : "<p>None.</p>";
  return `<section id="findings"><h2>Findings</h2><h3>Confirmed</h3>${
    findings(confirmed, "None confirmed yet.", "confirmed findings")
  }<h3>Better than their reference, not confirmed (within noise or too few runs)</h3>${
    findings(unconfirmed, "None.", "improvements")
  }<h3>Dead ends (the 95% CI rules out a useful gain)</h3>${deadEnds}</section>`;
}

/** Open questions, disputed cards and runs with far fewer steps than their replicates. */
export function questionsSection(ctx: SectionContext): string {
  const { synthesis, classShort } = ctx;
  const questions = synthesis.openQuestions.length
    ? `<ul class="questions">${
      synthesis.openQuestions.slice(0, TABLE_ROWS).map((q) => `<li>${linkified(q)}</li>`).join("")
    }</ul>${more(synthesis.openQuestions.length, TABLE_ROWS, "questions")}`
    : "<p>None.</p>";
  const disputed = synthesis.disputed.length
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
    : "";
  const drift = synthesis.stepsDrift.length
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
    : "";
  return `<section id="questions"><h2>Open questions</h2>${questions}${disputed}${drift}</section>`;
}

/** Cards linked by prior_cards: x = time, y = hops from a root. */
export function lineageSection(ctx: SectionContext): string {
  const known = new Set(ctx.cards.map((c) => c.id));
  const depth = new Map<string, number>();
  const edges: { from: string; to: string }[] = [];
  const cited = new Set<string>();
  // Oldest first, so a prior's depth is known before its children's (a prior is always older;
  // a hostile card naming a newer one just counts as a root there).
  for (const card of ctx.cards) {
    let d = 0;
    for (const prior of card.prior_cards) {
      if (!known.has(prior)) continue;
      edges.push({ from: prior, to: card.id });
      cited.add(prior);
      d = Math.max(d, (depth.get(prior) ?? 0) + 1);
    }
    depth.set(card.id, d);
  }
  const nodes: LineageNode[] = ctx.cards
    .filter((c) => cited.has(c.id) || c.prior_cards.some((p) => known.has(p)))
    .map((c) => ({ ...pointOf(c), depth: depth.get(c.id) ?? 0 }));
  return `<section id="lineage"><h2>Lineage</h2><p class="muted">${nodes.length} cards linked by ${edges.length} prior-card references; arrows point from a prior card to the card that built on it. Click a node for its card.</p>${
    nodes.length
      ? ctx.chart(ctx.charts.lineage(nodes, edges))
      : "<p>No card names a prior card yet.</p>"
  }</section>`;
}

/** The taxonomy as a heat map (each column shaded against its largest count), then free tags. */
export function coverageSection(ctx: SectionContext): string {
  const { synthesis } = ctx;
  const rows = synthesis.coverage.map((row) => `${row.category} (${row.state})`);
  const count = (row: CoverageRow, column: keyof CoverageRow) => row[column] as number;
  const columnMax = new Map(
    COVERAGE_COLUMNS.map((column) => [
      column,
      Math.max(1, ...synthesis.coverage.map((row) => count(row, column))),
    ]),
  );
  const cells: CoverageCell[] = synthesis.coverage.flatMap((row, i) =>
    COVERAGE_COLUMNS.map((column) => ({
      row: rows[i],
      column,
      count: count(row, column),
      share: count(row, column) / columnMax.get(column)!,
    }))
  );
  const free = synthesis.freeTags;
  return `<section id="coverage"><h2>Coverage of the taxonomy</h2><p class="muted">Runs and ideas per category (a card counts in every category its tags map to), each column shaded against its largest count.</p>${
    ctx.chart(ctx.charts.coverage(cells, rows, COVERAGE_COLUMNS))
  }<p>Free tags: ${
    free.length
      ? free.slice(0, 40).map((t) => `${h(t.tag, 64)} (${t.experiments})`).join(", ") +
        (free.length > 40 ? `, +${free.length - 40} more` : "")
      : "none"
  }</p></section>`;
}

/** The queue: who holds what, and what is waiting. */
export function queueSection(ctx: SectionContext): string {
  const { queue } = ctx;
  const running = queue.inProgress.length
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
    : "<p>Nobody is working on a queue item.</p>";
  const waiting = queue.pending.length
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
    : "<p>The queue is empty.</p>";
  return `<section id="queue"><h2>Queue</h2><h3>In progress</h3>${running}<h3>Waiting (best first)</h3>${waiting}</section>`;
}

/** What one agent did. */
export interface AgentActivity {
  cards: number;
  keep: number;
  crash: number;
  last: string;
  sessions: Set<string>;
}

/** Activity per agent (name as shown), most active first. */
export function agentActivity(cards: CardSummary[]): Map<string, AgentActivity> {
  const agents = new Map<string, AgentActivity>();
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
  return new Map([...agents].sort((a, b) => b[1].cards - a[1].cards || (a[0] < b[0] ? -1 : 1)));
}

/** Each agent's cards over time, and a table with what each holds in the queue. */
export function agentsSection(ctx: SectionContext, agents: Map<string, AgentActivity>): string {
  const names = [...agents.keys()];
  const charted = new Set(names.slice(0, ACTIVITY_AGENTS));
  const others = `(${names.length - charted.size} other agents)`;
  const points = ctx.cards.map((c) => {
    const name = line(c.agent, 64);
    return { ...pointOf(c), agent: charted.has(name) ? name : others };
  });
  const rows = [...charted, ...(names.length > charted.size ? [others] : [])];
  const working = new Map<string, string[]>();
  for (const item of ctx.queue.inProgress) {
    const name = line(item.agent, 64);
    working.set(name, [...(working.get(name) ?? []), item.id]);
  }
  return `<section id="agents"><h2>Agents</h2>${
    ctx.cards.length ? ctx.chart(ctx.charts.activity(points, rows)) : ""
  }${
    table(
      ["agent", "cards", "kept", "crashes", "sessions", "last card", "working on"],
      names.slice(0, TABLE_ROWS).map((name) => {
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
    ) + more(names.length, TABLE_ROWS, "agents")
  }</section>`;
}

/** The newest cards, linked. */
export function cardsSection(ctx: SectionContext): string {
  const recent = [...ctx.cards].reverse().slice(0, TABLE_ROWS);
  return `<section id="cards"><h2>Newest cards</h2>${
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
    ) + more(ctx.cards.length, recent.length, "cards (all are in the charts)")
  }</section>`;
}
