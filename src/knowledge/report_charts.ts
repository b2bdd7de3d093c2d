/**
 * The charts of the HTML report, drawn with Observable Plot on linkedom's DOM (no browser at
 * generation time) and returned as SVG markup: val_bpb over time per comparability class, the
 * lineage graph, the coverage heat map and the agents' activity. Every mark that stands for a
 * card links to `#<card id>` (the page's script shows its details) and carries a
 * `aria-description` naming the chart, so a test can count them. Labels given to Plot are
 * already made visible (bidi and control characters escaped); linkedom escapes markup.
 */
import type * as PlotModule from "@observablehq/plot";

/** How a card is drawn: its judged status, or `retracted`. */
export type MarkKind = "keep" | "discard" | "inconclusive" | "pending" | "crash" | "retracted";

/** Colours of the mark kinds (the page's legend uses the same ones). */
export const KIND_COLORS: Record<MarkKind, string> = {
  keep: "#1a9850",
  discard: "#8c96a3",
  inconclusive: "#e08e0b",
  pending: "#3b6fd8",
  crash: "#d73027",
  retracted: "#b07cc6",
};

const KINDS = Object.keys(KIND_COLORS) as MarkKind[];
const SYMBOLS: Record<MarkKind, string> = {
  keep: "circle",
  discard: "circle",
  inconclusive: "circle",
  pending: "circle",
  crash: "times",
  retracted: "diamond",
};

/** One card as a chart mark. */
export interface ChartPoint {
  /** card id (the mark links to `#id`) */
  id: string;
  /** card time */
  time: Date;
  /** val_bpb, or null for a crash */
  val_bpb: number | null;
  /** how it is drawn */
  kind: MarkKind;
  /** tooltip text (already made visible) */
  title: string;
}

/** One step of the running best of a class. */
export interface BestStep {
  /** when this best was reached */
  time: Date;
  /** the best estimate */
  value: number;
  /** lower end of its band (value when unknown) */
  low: number;
  /** upper end of its band */
  high: number;
}

/** What the val_bpb-over-time chart of one class draws. */
export interface ProgressChartData {
  /** every card of the class */
  points: ChartPoint[];
  /** the running best, oldest first */
  best: BestStep[];
  /** the baseline's value and noise band, or null when the class has no measured baseline */
  baseline: { value: number; low: number; high: number } | null;
}

/** A lineage node: a card that cites or is cited through prior_cards. */
export interface LineageNode extends ChartPoint {
  /** prior-card hops from a root */
  depth: number;
}

/** Coverage of one category, for the heat map. */
export interface CoverageCell {
  /** row label (category and its state) */
  row: string;
  /** column (experiments, keep, ...) */
  column: string;
  /** count */
  count: number;
  /** count relative to the column's largest, 0..1 */
  share: number;
}

type Plot = typeof PlotModule;
type PlotOptions = NonNullable<Parameters<Plot["plot"]>[0]>;

/** A Plot renderer bound to one linkedom document. */
export class ChartRenderer {
  readonly #plot: Plot;
  readonly #document: unknown;

  private constructor(plot: Plot, document: unknown) {
    this.#plot = plot;
    this.#document = document;
  }

  /** Load Plot and linkedom (lazily: only the report pays for them). */
  static async create(): Promise<ChartRenderer> {
    const plot = await import("@observablehq/plot");
    const { parseHTML } = await import("linkedom");
    const dom = parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as {
      document: unknown;
    };
    return new ChartRenderer(plot, dom.document);
  }

  #render(options: PlotOptions): string {
    const chart = this.#plot.plot({
      ...options,
      // linkedom's document is close enough to the DOM Plot needs.
      document: this.#document as PlotOptions["document"],
    }) as unknown as { outerHTML: string };
    return chart.outerHTML;
  }

  /** val_bpb of every card of one class over time, running best with band, baseline noise. */
  progress(data: ProgressChartData): string {
    const Plot = this.#plot;
    const measured = data.points.filter((p) => p.val_bpb !== null).map((p) => p.val_bpb!);
    const extremes = [...measured];
    if (data.baseline) extremes.push(data.baseline.low, data.baseline.high);
    for (const step of data.best) extremes.push(step.low, step.high);
    const low = extremes.length ? Math.min(...extremes) : 0;
    const high = extremes.length ? Math.max(...extremes) : 1;
    const pad = Math.max((high - low) * 0.06, 1e-3);
    // Crashes have no val_bpb: they sit on a row above the highest result.
    const crashRow = high + pad;
    const times = data.points.map((p) => p.time.getTime());
    const first = new Date(Math.min(...times));
    const last = new Date(Math.max(...times));
    const marks: PlotModule.Markish[] = [];
    if (data.baseline) {
      const band = [
        { time: first, ...data.baseline },
        { time: last, ...data.baseline },
      ];
      marks.push(
        Plot.areaY(band, {
          x: "time",
          y1: "low",
          y2: "high",
          fill: "#9aa3ad",
          fillOpacity: 0.18,
          ariaDescription: "baseline noise band",
        }),
        Plot.ruleY([data.baseline.value], {
          stroke: "#9aa3ad",
          strokeDasharray: "4,3",
          ariaDescription: "baseline",
        }),
      );
    }
    if (data.best.length > 0) {
      // Extend the last best to the class's latest card.
      const steps = [...data.best, { ...data.best[data.best.length - 1], time: last }];
      marks.push(
        Plot.areaY(steps, {
          x: "time",
          y1: "low",
          y2: "high",
          curve: "step-after",
          fill: KIND_COLORS.keep,
          fillOpacity: 0.14,
          ariaDescription: "best band",
        }),
        Plot.line(steps, {
          x: "time",
          y: "value",
          curve: "step-after",
          stroke: KIND_COLORS.keep,
          strokeWidth: 2,
          ariaDescription: "running best",
        }),
      );
    }
    const points = data.points.map((p) => ({ ...p, y: p.val_bpb ?? crashRow }));
    marks.push(
      Plot.dot(points, {
        x: "time",
        y: "y",
        r: 3.2,
        fill: "kind",
        stroke: "kind",
        symbol: "kind",
        fillOpacity: 0.75,
        title: "title",
        href: (p: ChartPoint) => `#${p.id}`,
        ariaDescription: "runs",
      }),
    );
    return this.#render({
      width: 900,
      height: 330,
      marginLeft: 60,
      marginRight: 20,
      x: { label: "time", type: "utc" },
      y: {
        label: "val_bpb (lower is better)",
        grid: true,
        domain: [low - pad, crashRow + pad / 2],
      },
      color: { domain: KINDS, range: KINDS.map((k) => KIND_COLORS[k]) },
      symbol: { domain: KINDS, range: KINDS.map((k) => SYMBOLS[k]) },
      marks,
    });
  }

  /** Cards linked by prior_cards: x = time, y = hops from a root, arrows from prior to card. */
  lineage(nodes: LineageNode[], edges: { from: string; to: string }[]): string {
    const Plot = this.#plot;
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const links = edges
      .filter((e) => byId.has(e.from) && byId.has(e.to))
      .map((e) => ({ a: byId.get(e.from)!, b: byId.get(e.to)! }));
    const depth = Math.max(0, ...nodes.map((n) => n.depth));
    return this.#render({
      width: 900,
      height: Math.min(700, 120 + 26 * (depth + 1)),
      marginLeft: 60,
      x: { label: "time", type: "utc" },
      y: { label: "prior-card hops from a root", reverse: true, grid: true },
      color: { domain: KINDS, range: KINDS.map((k) => KIND_COLORS[k]) },
      symbol: { domain: KINDS, range: KINDS.map((k) => SYMBOLS[k]) },
      marks: [
        Plot.link(links, {
          x1: (l: { a: LineageNode }) => l.a.time,
          y1: (l: { a: LineageNode }) => l.a.depth,
          x2: (l: { b: LineageNode }) => l.b.time,
          y2: (l: { b: LineageNode }) => l.b.depth,
          stroke: "#aab2bd",
          strokeOpacity: 0.7,
          markerEnd: "arrow",
          ariaDescription: "lineage edges",
        }),
        Plot.dot(nodes, {
          x: "time",
          y: "depth",
          r: 4,
          fill: "kind",
          stroke: "kind",
          symbol: "kind",
          title: "title",
          href: (n: LineageNode) => `#${n.id}`,
          ariaDescription: "lineage",
        }),
      ],
    });
  }

  /** Coverage of the taxonomy: categories x counts, shaded per column. */
  coverage(cells: CoverageCell[], rows: string[], columns: readonly string[]): string {
    const Plot = this.#plot;
    return this.#render({
      width: 900,
      height: 60 + 26 * rows.length,
      marginLeft: 230,
      marginTop: 30,
      x: { domain: [...columns], axis: "top", label: null },
      y: { domain: rows, label: null },
      color: { type: "linear", domain: [0, 1], range: ["#f3f6fa", "#2c6fbb"] },
      marks: [
        Plot.cell(cells, {
          x: "column",
          y: "row",
          fill: "share",
          inset: 1,
          title: (c: CoverageCell) => `${c.row}: ${c.count} ${c.column}`,
          ariaDescription: "coverage",
        }),
        Plot.text(cells, {
          x: "column",
          y: "row",
          text: (c: CoverageCell) => String(c.count),
          fill: (c: CoverageCell) => c.share > 0.55 ? "white" : "#1d2433",
        }),
      ],
    });
  }

  /** Every card by agent over time. */
  activity(points: (ChartPoint & { agent: string })[], agents: string[]): string {
    const Plot = this.#plot;
    return this.#render({
      width: 900,
      height: 60 + 24 * Math.max(1, agents.length),
      marginLeft: 160,
      x: { label: "time", type: "utc" },
      y: { domain: agents, label: null },
      color: { domain: KINDS, range: KINDS.map((k) => KIND_COLORS[k]) },
      symbol: { domain: KINDS, range: KINDS.map((k) => SYMBOLS[k]) },
      marks: [
        Plot.dot(points, {
          x: "time",
          y: "agent",
          r: 3,
          fill: "kind",
          stroke: "kind",
          symbol: "kind",
          fillOpacity: 0.7,
          title: "title",
          href: (p: ChartPoint) => `#${p.id}`,
          ariaDescription: "activity",
        }),
      ],
    });
  }
}
