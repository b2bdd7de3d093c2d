/**
 * The read side of the knowledge base as whole operations: brief, coverage, session report,
 * meta-synthesis and plot. Each refreshes the derived index (parsing only new files), then
 * synthesizes; files it writes live under `views/` (git-ignored, rebuildable).
 */
import { dirname, join, resolve } from "node:path";
import { guardedWrite, isInside } from "../util/guarded.ts";
import { ensureBase } from "./base.ts";
import { UsageError } from "../util/errors.ts";
import { type Brief, makeBrief } from "./brief.ts";
import type { CardSummary, Skipped } from "./index.ts";
import { plotData, renderPlotSvg } from "./plot.ts";
import { EMPTY_QUEUE_SECTION, type QueueSection } from "./queue_section.ts";
import { renderCoverage, renderReport } from "./report.ts";
import { checkOutputPath, type KnowledgeBase } from "./store.ts";
import { type Synthesis, synthesize } from "./synthesis.ts";

/** The brief plus the unusable files found on the way. */
export interface BriefResult {
  /** structured brief */
  brief: Brief;
  /** rendered text, at most BRIEF_MAX_BYTES */
  text: string;
  /** record files skipped as unusable */
  skipped: Skipped[];
}

/** Build the bounded brief an agent reads before planning. */
export async function readBrief(
  kb: KnowledgeBase,
  queue: QueueSection = EMPTY_QUEUE_SECTION,
): Promise<BriefResult> {
  const synthesis = await kb.synthesis();
  const skipped = kb.lastSkipped;
  const { brief, text } = makeBrief(synthesis, queue, skipped.length);
  return { brief, text, skipped };
}

/** Synthesis of the whole base (or one session). */
export async function synthesizeBase(
  kb: KnowledgeBase,
  session?: string,
): Promise<{ synthesis: Synthesis; cards: CardSummary[]; skipped: Skipped[] }> {
  const cards = await kb.listCards({ session });
  return { synthesis: synthesize(cards), cards, skipped: kb.lastSkipped };
}

/** Coverage of the taxonomy as text and data. */
export async function coverage(
  kb: KnowledgeBase,
): Promise<{ text: string; synthesis: Synthesis; skipped: Skipped[] }> {
  const synthesis = await kb.synthesis();
  return { text: renderCoverage(synthesis), synthesis, skipped: kb.lastSkipped };
}

/**
 * File-name-safe form of a session tag. A tag that had to be changed gets a hash of the original
 * appended, so `a/b/c` and `a_b_c` never write the same report file.
 */
function sessionFileName(session: string): string {
  const safe = session.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 100);
  if (safe === session) return safe;
  let hash = 0x811c9dc5; // FNV-1a over the UTF-8 bytes
  for (const byte of new TextEncoder().encode(session)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return `${safe}-${hash.toString(16).padStart(8, "0")}`;
}

/** Write the session report to `views/sessions/<session>.md`; returns its path and text. */
export async function writeSessionReport(
  kb: KnowledgeBase,
  session: string,
): Promise<{ path: string; text: string; synthesis: Synthesis; skipped: Skipped[] }> {
  if (typeof session !== "string" || session.trim() === "") {
    throw new UsageError("--session", "must not be empty or whitespace");
  }
  const { synthesis, skipped } = await synthesizeBase(kb, session);
  if (synthesis.total === 0) {
    throw new UsageError("--session", `no cards with session ${JSON.stringify(session)}`);
  }
  const text = renderReport(`Session ${session}`, synthesis);
  const path = join(kb.viewsDir, "sessions", `${sessionFileName(session)}.md`);
  await ensureBase(kb.dir); // a base first created by a view still keeps its index out of git
  await guardedWrite(kb.dir, path, text);
  return { path, text, synthesis, skipped };
}

/** Rebuild the meta-synthesis: `views/meta.md` and `views/meta.json`. */
export async function updateMeta(
  kb: KnowledgeBase,
): Promise<{ path: string; text: string; synthesis: Synthesis; skipped: Skipped[] }> {
  const synthesis = await kb.synthesis();
  const stamp = await kb.stamp();
  const skipped = kb.lastSkipped;
  const text = renderReport("Meta-synthesis", synthesis);
  const path = join(kb.viewsDir, "meta.md");
  await ensureBase(kb.dir); // a base first created by a view still keeps its index out of git
  await guardedWrite(kb.dir, path, text);
  await guardedWrite(
    kb.dir,
    join(kb.viewsDir, "meta.json"),
    JSON.stringify({ stamp, generated: new Date().toISOString() }),
  );
  return { path, text, synthesis, skipped };
}

/**
 * The meta-synthesis text; regenerated when missing or older than the cards it summarizes
 * (it is a derived view, so a stale or absent one is never shown as current).
 */
export async function readMeta(
  kb: KnowledgeBase,
): Promise<{ path: string; text: string; regenerated: boolean; skipped: Skipped[] }> {
  const stamp = await kb.stamp();
  const path = join(kb.viewsDir, "meta.md");
  try {
    const saved = JSON.parse(await Deno.readTextFile(join(kb.viewsDir, "meta.json")));
    if (saved?.stamp === stamp) {
      return {
        path,
        text: await Deno.readTextFile(path),
        regenerated: false,
        skipped: kb.lastSkipped,
      };
    }
  } catch { /* missing or unreadable: regenerate */ }
  const updated = await updateMeta(kb);
  return { path, text: updated.text, regenerated: true, skipped: updated.skipped };
}

/** Render the progress plot to `out` (default `views/progress.svg`). */
export async function writePlot(
  kb: KnowledgeBase,
  out?: string,
): Promise<{ path: string; points: number; best: number; skipped: Skipped[] }> {
  if (out !== undefined) checkOutputPath(kb, "--out", out);
  const cards = await kb.listCards();
  const data = plotData(cards);
  const svg = await renderPlotSvg(data);
  const path = out ?? join(kb.viewsDir, "progress.svg");
  if (out === undefined || isInside(kb.dir, out)) {
    await ensureBase(kb.dir);
    await guardedWrite(kb.dir, path, svg);
  } else await guardedWrite(dirname(resolve(out)), resolve(out), svg);
  return { path, points: data.points.length, best: data.best.length, skipped: kb.lastSkipped };
}
