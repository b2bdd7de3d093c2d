/**
 * `plot`: val_bpb over time as an SVG, one colour per comparability class, with the running
 * best (kept cards only) drawn as a step line. Rendered with Observable Plot on linkedom's DOM,
 * so no browser is needed. Both libraries are imported lazily: only this command pays for them.
 */
import type { CardSummary } from "./index.ts";
import { classLabel } from "./synthesis.ts";

/** Points the plot draws, exposed for tests and for `--json`. */
export interface PlotData {
  /** every measured, non-retracted card */
  points: { id: string; time: string; val_bpb: number; status: string; class: string }[];
  /** running best per class after each kept improvement */
  best: { id: string; time: string; val_bpb: number; class: string }[];
}

/** The points and running-best steps of `cards`. */
export function plotData(cards: CardSummary[]): PlotData {
  const ordered = [...cards].sort((a, b) => a.id < b.id ? -1 : 1);
  const points: PlotData["points"] = [];
  const best: PlotData["best"] = [];
  const bestByClass = new Map<string, number>();
  for (const card of ordered) {
    if (card.retracted || card.val_bpb === null || card.status === "crash") continue;
    const label = classLabel(card.class_key);
    points.push({
      id: card.id,
      time: card.timestamp,
      val_bpb: card.val_bpb,
      status: card.status,
      class: label,
    });
    if (card.status !== "keep") continue;
    const previous = bestByClass.get(card.class_key);
    if (previous === undefined || card.val_bpb < previous) {
      bestByClass.set(card.class_key, card.val_bpb);
      best.push({ id: card.id, time: card.timestamp, val_bpb: card.val_bpb, class: label });
    }
  }
  return { points, best };
}

/** Render `data` as a standalone SVG document. */
export async function renderPlotSvg(data: PlotData, title = "val_bpb over time"): Promise<string> {
  const Plot = await import("@observablehq/plot");
  const { parseHTML } = await import("linkedom");
  const dom = parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as {
    document: unknown;
  };
  const points = data.points.map((p) => ({ ...p, time: new Date(p.time) }));
  const best = data.best.map((p) => ({ ...p, time: new Date(p.time) }));
  // Label each class at its latest best point (a legend would wrap the svg in HTML).
  const lastBest = [...new Map(best.map((p) => [p.class, p])).values()];
  const chart = Plot.plot({
    // linkedom's document is close enough to the DOM Plot needs.
    document: dom.document as Parameters<typeof Plot.plot>[0] extends { document?: infer D } ? D
      : never,
    width: 900,
    height: 420,
    marginLeft: 60,
    marginRight: 20,
    x: { label: "time", type: "utc" },
    y: { label: "val_bpb (lower is better)", grid: true },
    marks: [
      Plot.dot(points, { x: "time", y: "val_bpb", stroke: "class", r: 2.5 }),
      Plot.line(best, { x: "time", y: "val_bpb", stroke: "class", curve: "step-after" }),
      Plot.dot(best, { x: "time", y: "val_bpb", fill: "class", r: 3.5 }),
      Plot.text(lastBest, {
        x: "time",
        y: "val_bpb",
        text: "class",
        fill: "class",
        dy: -10,
        textAnchor: "end",
      }),
    ],
  }) as unknown as { outerHTML: string };
  let svg = chart.outerHTML;
  if (!svg.includes('xmlns="http://www.w3.org/2000/svg"')) {
    svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"');
  }
  svg = svg.replace(/(<svg[^>]*>)/, `$1<title>${escapeXml(title)}</title>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
