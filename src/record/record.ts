/**
 * `autoresearch record RUN_LOG`: one card from one run of any trainer that prints upstream's
 * summary block. A finished run is a `pending` card (judged later, never an automatic keep); a
 * crashed one a `crash` card with val_bpb null and the last lines of the error as its lesson.
 * Comparability comes from what the run used: the trainer file (its sha256 is the recipe hash,
 * its diff against the parent commit the recipe diff), the harness file and budget (the harness
 * hash) and the platform. The log's own sha256 is the card's source key, so recording the same
 * log twice gives back the first card and writes nothing.
 */
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { KnowledgeBase } from "../knowledge/store.ts";
import { type Card, type CardInput, LIMITS, type Results } from "../knowledge/schema.ts";
import { UsageError } from "../util/errors.ts";
import { withLock } from "../util/lock.ts";
import { commitMessage, diffAgainst, headCommit, isDirty, parentCommit, repoRoot } from "./git.ts";
import { externalHarnessHash, harnessBudget, sha256Hex, trainerRecipeHash } from "./hash.ts";
import { detectExternalPlatform, type PlatformOverrides } from "./platform.ts";
import { readCards, sameCommit, sourceIndex, sourceKey } from "./sources.ts";
import { parseRunLog, type RunOutcome, type RunSummary } from "./summary.ts";
import { clipText, isFile } from "./text.ts";

/** Upstream's training budget, seconds, when the harness file does not say. */
export const UPSTREAM_BUDGET_S = 300;

/** What `recordRun` needs. */
export interface RecordOptions {
  /** the base to write into */
  kb: KnowledgeBase;
  /** path of the run's log */
  log: string;
  /** working directory of the run (default: the process's) */
  cwd?: string;
  /** the recipe file the run used (default `train.py` in cwd) */
  trainerFile?: string;
  /** the fixed harness file (default `prepare.py` in cwd) */
  harnessFile?: string;
  /** time budget, seconds (default: TIME_BUDGET in the harness file, else 300) */
  budgetS?: number;
  /** platform fields that override detection */
  platform?: PlatformOverrides;
  /** what was tried (default: the HEAD commit's message) */
  hypothesis?: string;
  /** git commit that ran (default HEAD) */
  commit?: string;
  /** who ran it */
  agent: string;
  /** session tag */
  session: string;
  /** random seed of the run (default 0) */
  seed?: number;
  /** tags */
  tags?: string[];
  /** lineage (default: the card of the parent commit, when the base has one) */
  priorCards?: string[];
  /** lesson of a finished run (a crash's lesson is its error) */
  lesson?: string;
  /** the queue item this run is for (`director claim`) */
  item?: string;
}

/** What `recordRun` did. */
export interface RecordResult {
  /** the card written, or the one already recorded from this log */
  card: Card;
  /** true when the log was recorded before and nothing was written */
  existing: boolean;
  /** what the log says */
  outcome: RunOutcome;
  /** things the user should know (ignored block lines, uncommitted edits, ...) */
  warnings: string[];
}

async function readRequired(flag: string, path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(flag, `cannot read ${path}: ${why}`);
  }
}

/** A trainer or harness file: the flag's path, else the default name when it exists here. */
function locate(flag: string, given: string | undefined, cwd: string, fallback: string): string {
  if (given !== undefined) return isAbsolute(given) ? given : resolve(cwd, given);
  const path = join(cwd, fallback);
  if (isFile(path)) return path;
  const what = flag === "--trainer-file" ? "the recipe the run used" : "the fixed harness";
  throw new UsageError(flag, `no ${fallback} in ${cwd}: give ${flag} FILE (${what})`);
}

/** Card results from a summary block; values a card cannot hold are dropped with a warning. */
export function resultsOf(summary: RunSummary, warnings: string[]): Results {
  const results: Results = { val_bpb: summary.val_bpb };
  const put = (key: keyof Results, value: number | undefined, integer: boolean, from: string) => {
    if (value === undefined) return;
    const v = integer ? Math.round(value) : value;
    if (!Number.isFinite(v) || v < 0) {
      warnings.push(`${from}: ${value} cannot be recorded (must not be negative), left out`);
      return;
    }
    (results as unknown as Record<string, number>)[key] = v;
  };
  put("training_seconds", summary.training_seconds, false, "training_seconds");
  put("peak_memory_mb", summary.peak_vram_mb, false, "peak_vram_mb");
  put("mfu_percent", summary.mfu_percent, false, "mfu_percent");
  put(
    "total_tokens",
    summary.total_tokens_M === undefined ? undefined : summary.total_tokens_M * 1e6,
    true,
    "total_tokens_M",
  );
  put("num_steps", summary.num_steps, true, "num_steps");
  put(
    "num_params",
    summary.num_params_M === undefined ? undefined : summary.num_params_M * 1e6,
    true,
    "num_params_M",
  );
  return results;
}

/** The card of the parent commit, for lineage: a kept one if any, else the newest. */
async function parentCard(
  kb: KnowledgeBase,
  cards: Card[],
  parent: string | null,
): Promise<string[]> {
  if (parent === null) return [];
  const matching = cards.filter((card) => card.commit && sameCommit(card.commit, parent));
  if (matching.length === 0) return [];
  const statuses = new Map((await kb.listCards()).map((s) => [s.id, s]));
  const usable = matching.filter((card) => !statuses.get(card.id)?.retracted);
  const kept = usable.filter((card) => statuses.get(card.id)?.status === "keep");
  const pick = kept.at(-1) ?? usable.at(-1);
  return pick ? [pick.id] : [];
}

/** Record one run log as a card (or find the card it was recorded as before). */
export async function recordRun(options: RecordOptions): Promise<RecordResult> {
  const cwd = options.cwd ?? Deno.cwd();
  const logPath = isAbsolute(options.log) ? options.log : resolve(cwd, options.log);
  const logBytes = await readRequired("RUN_LOG", logPath);
  const outcome = parseRunLog(new TextDecoder().decode(logBytes));
  const warnings = outcome.kind === "finished" ? [...outcome.warnings] : [];

  const trainerPath = locate("--trainer-file", options.trainerFile, cwd, "train.py");
  const trainer = await readRequired("--trainer-file", trainerPath);
  const harnessPath = locate("--harness-file", options.harnessFile, cwd, "prepare.py");
  const harness = await readRequired("--harness-file", harnessPath);
  const budget = options.budgetS ?? harnessBudget(harness) ?? UPSTREAM_BUDGET_S;
  if (!(budget > 0) || !Number.isFinite(budget)) {
    throw new UsageError("--budget", "must be a number of seconds greater than 0");
  }
  const platform = await detectExternalPlatform(options.platform ?? {});

  // The trainer's repository: commit, message, diff against the parent commit.
  const root = await repoRoot(dirname(trainerPath));
  let commit = options.commit;
  let recipeDiff: string | undefined;
  let parent: string | null = null;
  let dirty = false;
  if (root !== null) {
    const rel = relative(root, trainerPath);
    commit ??= (await headCommit(root)) ?? undefined;
    if (commit !== undefined) {
      parent = await parentCommit(root, commit);
      const diff = await diffAgainst(root, parent ?? commit, rel);
      if (diff && diff.trim() !== "") recipeDiff = diff;
      if (await isDirty(root, rel)) {
        dirty = true;
        warnings.push(`${rel} has uncommitted changes: the recipe diff and hash include them`);
      }
    }
  }
  let hypothesis = options.hypothesis;
  if (hypothesis === undefined && root !== null && commit !== undefined) {
    hypothesis = (await commitMessage(root, commit)) || undefined;
  }
  if (hypothesis === undefined) {
    throw new UsageError("--hypothesis", "is required when the trainer is not in a git repository");
  }
  if (commit !== undefined && !/^[0-9a-f]{4,64}$/i.test(commit)) {
    throw new UsageError("--commit", "must be 4-64 hex digits");
  }

  const source = { kind: "run-log" as const, ref: `sha256:${await sha256Hex(logBytes)}` };
  const lockPath = join(options.kb.dir, "views", ".import.lock");
  return await withLock(lockPath, async () => {
    const cards = readCards(options.kb);
    const known = sourceIndex(cards).get(sourceKey(source));
    if (known !== undefined) {
      const card = cards.find((c) => c.id === known)!;
      return { card, existing: true, outcome, warnings };
    }
    const priorCards = options.priorCards ?? await parentCard(options.kb, cards, parent);
    const crashLesson = outcome.kind === "crash"
      ? clipText(`crashed: ${outcome.reason}\n${outcome.tail}`, LIMITS.text)
      : undefined;
    const lesson = crashLesson ?? options.lesson;
    const input: CardInput = {
      agent: options.agent,
      session: options.session,
      hypothesis: clipText(hypothesis, LIMITS.text),
      ...(commit === undefined ? {} : { commit }),
      ...(lesson === undefined ? {} : { lesson }),
      tags: options.tags ?? [],
      prior_cards: priorCards,
      platform,
      harness_hash: await externalHarnessHash(harness, budget),
      recipe_hash: await trainerRecipeHash(trainer),
      budget_s: budget,
      seed: options.seed ?? 0,
      config: {},
      ...(recipeDiff === undefined ? {} : { recipe_diff: clipText(recipeDiff, LIMITS.recipeDiff) }),
      ...(dirty ? { dirty: true } : {}),
      ...(options.item === undefined ? {} : { item: options.item }),
      results: outcome.kind === "finished"
        ? resultsOf(outcome.summary, warnings)
        : { val_bpb: null },
      source,
      status: outcome.kind === "finished" ? "pending" : "crash",
    };
    const card = await options.kb.writeCard(input);
    return { card, existing: false, outcome, warnings };
  }, { base: options.kb.dir });
}
