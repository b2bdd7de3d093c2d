/**
 * `autoresearch import results.tsv`: an upstream history (`commit val_bpb memory_gb status
 * description`, tab-separated, one row per experiment in order) turned into cards, one per row,
 * linked as upstream's branch is: every row builds on the last kept commit before it, so the
 * kept rows form the lineage of the best. A crash row's `0.000000` becomes null, never a
 * result. Each card carries the row's key (`commit:hash of the row`) as its source, so a second
 * import of the same file, or of the file grown by new rows, adds only what is new.
 */
import type { KnowledgeBase } from "../knowledge/store.ts";
import {
  type Card,
  type CardInput,
  LIMITS,
  type Platform,
  type Results,
} from "../knowledge/schema.ts";
import { UsageError } from "../util/errors.ts";
import { withLock } from "../util/lock.ts";
import { join } from "node:path";
import { filesAtCommits, git } from "./git.ts";
import { sha256Hex } from "./hash.ts";
import { clipText, decimalNumber } from "./text.ts";
import { readCards, sourceIndex, sourceKey } from "./sources.ts";
import { checkSharedCardFields, writeOrSkip } from "./imports.ts";

/** The header upstream writes. */
export const RESULTS_TSV_COLUMNS = ["commit", "val_bpb", "memory_gb", "status", "description"];

/** One usable row of a results.tsv. */
export interface TsvRow {
  /** 1-based line number in the file */
  line: number;
  /** the commit (short or full hash) */
  commit: string;
  /** val_bpb; null for a crash */
  valBpb: number | null;
  /** peak memory, GB (0 for a crash) */
  memoryGb: number;
  /** keep | discard | crash */
  status: "keep" | "discard" | "crash";
  /** what was tried */
  description: string;
  /** the row's fields, tab-joined and trimmed: what its import key hashes */
  normalized: string;
}

/** A row that could not be used, by line number. */
export interface RowProblem {
  /** 1-based line number */
  line: number;
  /** why it was skipped */
  reason: string;
}

/** A parsed results.tsv. */
export interface ParsedTsv {
  /** usable rows in file order */
  rows: TsvRow[];
  /** malformed rows (reported, skipped) */
  problems: RowProblem[];
}

function clip(text: string, max = 60): string {
  // deno-lint-ignore no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
  return flat.length <= max ? flat : `${flat.slice(0, max - 3)}...`;
}

/**
 * Parse a results.tsv. Throws a UsageError (nothing to import) when the bytes are not UTF-8 or
 * the first line is not upstream's header; a malformed row is a problem with its line number.
 */
export function parseResultsTsv(bytes: Uint8Array, name = "results.tsv"): ParsedTsv {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(name, "is not UTF-8 text, so not a results.tsv");
  }
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const headerAt = lines.findIndex((line) => line.trim() !== "");
  if (headerAt < 0) throw new UsageError(name, "is empty, so not a results.tsv");
  const header = lines[headerAt].split("\t").map((cell) => cell.trim().toLowerCase());
  if (header.join("\t") !== RESULTS_TSV_COLUMNS.join("\t")) {
    throw new UsageError(
      name,
      `is not a results.tsv: its first line must be the tab-separated header ${
        RESULTS_TSV_COLUMNS.join(" ")
      }, found ${JSON.stringify(clip(lines[headerAt]))}`,
    );
  }
  const rows: TsvRow[] = [];
  const problems: RowProblem[] = [];
  for (let i = headerAt + 1; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === "") continue;
    const line = i + 1;
    const cells = raw.split("\t").map((cell) => cell.trim());
    if (cells.length < 5) {
      problems.push({
        line,
        reason: `expected 5 tab-separated columns, found ${cells.length}`,
      });
      continue;
    }
    // A tab inside the description (upstream asks for none) stays part of it.
    const [commit, bpbRaw, memRaw, statusRaw] = cells;
    const description = cells.slice(4).join(" ").trim();
    if (!/^[0-9a-f]{4,64}$/i.test(commit)) {
      problems.push({ line, reason: `commit ${JSON.stringify(clip(commit))} is not a hex hash` });
      continue;
    }
    const bpb = decimalNumber(bpbRaw);
    if (bpb === null || bpb < 0) {
      problems.push({ line, reason: `val_bpb ${JSON.stringify(clip(bpbRaw))} is not a number` });
      continue;
    }
    const memory = decimalNumber(memRaw);
    if (memory === null || memory < 0) {
      problems.push({
        line,
        reason: `memory_gb ${JSON.stringify(clip(memRaw))} is not a number >= 0`,
      });
      continue;
    }
    const lower = statusRaw.toLowerCase();
    const status = lower === "revert" ? "discard" : lower;
    if (status !== "keep" && status !== "discard" && status !== "crash") {
      problems.push({
        line,
        reason: `status ${JSON.stringify(clip(statusRaw))} is not keep, discard or crash`,
      });
      continue;
    }
    if (status !== "crash" && bpb === 0) {
      problems.push({ line, reason: `val_bpb 0 on a ${status} row (only a crash has no result)` });
      continue;
    }
    rows.push({
      line,
      commit: commit.toLowerCase(),
      valBpb: status === "crash" ? null : bpb,
      memoryGb: memory,
      status,
      description,
      normalized: [commit.toLowerCase(), bpbRaw, memRaw, lower, description].join("\t"),
    });
  }
  return { rows, problems };
}

/** The recipe of one commit, when the trainer's repository knows it. */
export interface CommitRecipe {
  /** sha256 of the trainer file at the commit */
  hash: string;
  /** its diff against the commit's parent (absent when unchanged or unknown) */
  diff?: string;
}

/**
 * The trainer file at each commit of `commits` that the repository at `root` still holds: its
 * sha256 and diff against the parent. Two git processes for the whole history.
 */
export async function recipesFromGit(
  root: string,
  commits: string[],
  trainerPath: string,
): Promise<Map<string, CommitRecipe>> {
  const unique = [...new Set(commits)];
  const blobs = await filesAtCommits(root, unique, trainerPath);
  const recipes = new Map<string, CommitRecipe>();
  for (const [commit, blob] of blobs) {
    if (blob !== null) recipes.set(commit, { hash: await sha256Hex(blob) });
  }
  const known = [...recipes.keys()];
  if (known.length === 0) return recipes;
  // One `git show` for every known commit: NUL, full hash, newline, then its patch.
  const out = await git(root, [
    "show",
    "--no-color",
    "--no-ext-diff",
    "--format=format:%x00%H %h",
    ...known,
    "--",
    trainerPath,
  ]);
  if (out === null) return recipes;
  for (const chunk of out.split("\u0000").slice(1)) {
    const newline = chunk.indexOf("\n");
    const [full] = (newline < 0 ? chunk : chunk.slice(0, newline)).split(" ");
    const diff = newline < 0 ? "" : chunk.slice(newline + 1).replace(/^\n+/, "");
    if (diff.trim() === "") continue;
    for (const commit of known) {
      if (full.startsWith(commit)) recipes.get(commit)!.diff = diff;
    }
  }
  return recipes;
}

/** Everything a results.tsv import needs besides the rows. */
export interface TsvImportOptions {
  /** the base to write into */
  kb: KnowledgeBase;
  /** where the runs ran (results.tsv does not say) */
  platform: Platform;
  /** hash of the harness the runs used */
  harnessHash: string;
  /** their time budget, seconds */
  budgetS: number;
  /** who ran them */
  agent: string;
  /** session tag */
  session: string;
  /** recipe per commit when the repository knows it (else the recipe hash is `git:<commit>`) */
  recipes?: Map<string, CommitRecipe>;
}

/** What an import did. */
export interface ImportReport {
  /** cards written, in order */
  added: Card[];
  /** records imported before (their source key found), with the card they became */
  existing: { ref: string; card: string }[];
  /** records that could not be imported */
  skipped: { where: string; reason: string }[];
}

/** Import parsed rows into the base (rows already imported are found, not written again). */
export async function importResultsTsv(
  parsed: ParsedTsv,
  options: TsvImportOptions,
): Promise<ImportReport> {
  const { kb } = options;
  // Fields every card shares (platform, harness, budget, agent, session) are checked once: a
  // bad flag is one error and nothing written, not one skipped row per line.
  checkSharedCardFields({
    agent: options.agent,
    session: options.session,
    platform: options.platform,
    harness_hash: options.harnessHash,
    budget_s: options.budgetS,
  });
  const report: ImportReport = {
    added: [],
    existing: [],
    skipped: parsed.problems.map((p) => ({ where: `line ${p.line}`, reason: p.reason })),
  };
  // Import keys: commit + hash of the row, and an occurrence number for identical rows.
  const seen = new Map<string, number>();
  const refs: string[] = [];
  for (const row of parsed.rows) {
    const base = `${row.commit}:${(await sha256Hex(row.normalized)).slice(0, 16)}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    refs.push(n === 1 ? base : `${base}#${n}`);
  }
  const lockPath = join(kb.dir, "views", ".import.lock");
  await withLock(lockPath, async () => {
    const cards = readCards(kb);
    const byId = new Map(cards.map((card) => [card.id, card]));
    const known = sourceIndex(cards);
    let lastKeep: { id: string; valBpb: number } | null = null;
    for (const [i, row] of parsed.rows.entries()) {
      const source = { kind: "results.tsv" as const, ref: refs[i] };
      const existingId = known.get(sourceKey(source));
      let card: Card | undefined = existingId === undefined ? undefined : byId.get(existingId);
      if (card !== undefined) {
        report.existing.push({ ref: source.ref, card: card.id });
      } else {
        const recipe = options.recipes?.get(row.commit);
        const results: Results = { val_bpb: row.valBpb };
        if (row.valBpb !== null && lastKeep !== null) {
          results.delta = Number((row.valBpb - lastKeep.valBpb).toFixed(6));
        }
        if (row.status !== "crash" && row.memoryGb > 0) {
          results.peak_memory_mb = Number((row.memoryGb * 1024).toFixed(1));
        }
        const input: CardInput = {
          agent: options.agent,
          session: options.session,
          hypothesis: clipText(
            row.description || `commit ${row.commit} (no description in results.tsv)`,
            LIMITS.text,
          ),
          commit: row.commit,
          tags: [],
          prior_cards: lastKeep === null ? [] : [lastKeep.id],
          platform: options.platform,
          harness_hash: options.harnessHash,
          recipe_hash: recipe?.hash ?? `git:${row.commit}`,
          budget_s: options.budgetS,
          seed: 0,
          config: {},
          ...(recipe?.diff ? { recipe_diff: clipText(recipe.diff, LIMITS.recipeDiff) } : {}),
          results,
          source,
          status: row.status,
        };
        const written = await writeOrSkip(kb, input, `line ${row.line}`, report.skipped);
        if (written === null) continue;
        card = written;
        report.added.push(card);
      }
      if (row.status === "keep" && row.valBpb !== null) {
        lastKeep = { id: card.id, valBpb: row.valBpb };
      }
    }
  }, { base: kb.dir });
  return report;
}
