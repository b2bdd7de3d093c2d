/**
 * CLI commands that run experiments: `train` (one run of the recipe, upstream's
 * `uv run train.py`: progress on stderr, the summary block on stdout, a pending card recorded)
 * and `start` (the first thing on a fresh machine: prepare the embedded corpus, a short run,
 * the summary, the card, then the brief an agent reads next).
 */
import type { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import { queueSection } from "../director/brief.ts";
import { openKnowledgeBase, readBrief } from "../knowledge/mod.ts";
import { type BackendChoice, parseBackendChoice } from "../platform/mod.ts";
import { cachePaths } from "../train/paths.ts";
import { loadPrepared, prepare } from "../train/prepare.ts";
import {
  defaultHardTimeout,
  newRunId,
  preflightCard,
  runExperiment,
  type RunReport,
  summaryText,
  trainingDataFrom,
  writeResults,
} from "../train/run.ts";
import { TIME_BUDGET_SECONDS } from "../train/harness.ts";
import { UsageError } from "../util/errors.ts";
import { action, checkBase, jsonOption, kbOption, parseNumber, printJson } from "./common.ts";
import { checkOutputPath } from "../knowledge/store.ts";
import { checkWritePath } from "../util/guarded.ts";
import { DEFAULT_KEEP_CHECKPOINTS, pruneCheckpoints } from "../train/checkpoint.ts";

/** Default agent name: `$AUTORESEARCH_AGENT`, else `$USER`, else `agent`. */
function defaultAgent(): string {
  return Deno.env.get("AUTORESEARCH_AGENT") || Deno.env.get("USER") || "agent";
}

/** Default session tag: `$AUTORESEARCH_SESSION`, else today's date (e.g. `2026-11-26`). */
function defaultSession(): string {
  return Deno.env.get("AUTORESEARCH_SESSION") || new Date().toISOString().slice(0, 10);
}

function positive(field: string, raw: string): number {
  const value = parseNumber(field, raw);
  if (value <= 0) throw new UsageError(field, `must be positive, got ${raw}`);
  return value;
}

function positiveInteger(field: string, raw: string): number {
  const value = parseNumber(field, raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(field, `must be a positive integer, got ${raw}`);
  }
  return value;
}

/**
 * Everything `train` will write, checked before training starts, so a finished run is never
 * lost to a late error: the base (`--kb` must be a directory or not exist yet; its record
 * directories must not be links), `--results` (a file path, not a directory, not a record of
 * the base), and the checkpoint directory (created now).
 */
function preflightWrites(
  kb: string | null,
  results: string | undefined,
  checkpointsRoot: string,
): void {
  if (kb !== null) {
    checkBase(kb, false);
    for (const sub of ["cards", "completions"]) checkWritePath(kb, join(kb, sub), "directory");
  }
  if (results !== undefined) checkOutputPath(kb ?? ".", "--results", results);
  try {
    Deno.mkdirSync(checkpointsRoot, { recursive: true });
  } catch (error) {
    throw new UsageError(
      "--cache",
      `cannot create the checkpoint directory ${checkpointsRoot}: ${(error as Error).message}`,
    );
  }
}

/** How many run checkpoints to keep: `$AUTORESEARCH_KEEP_CHECKPOINTS`, else the default. */
function keepCheckpoints(raw: string | undefined): number {
  const value = raw ?? Deno.env.get("AUTORESEARCH_KEEP_CHECKPOINTS");
  if (value === undefined || value === "") return DEFAULT_KEEP_CHECKPOINTS;
  const keep = parseNumber("--keep-checkpoints", value);
  if (!Number.isInteger(keep) || keep < 0) {
    throw new UsageError("--keep-checkpoints", `must be a non-negative integer, got ${value}`);
  }
  return keep;
}

/** Remove all but the newest `keep` run checkpoints and say which went (never silent). */
async function pruneOld(checkpointsRoot: string, keep: number): Promise<void> {
  const pruned = await pruneCheckpoints(checkpointsRoot, keep);
  if (pruned.length > 0) {
    console.error(
      `pruned ${pruned.length} old checkpoint${pruned.length === 1 ? "" : "s"} ` +
        `(keeping the newest ${keep}): ${pruned.join(", ")}`,
    );
  }
}

function nonNegativeInteger(field: string, raw: string): number {
  const value = parseNumber(field, raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new UsageError(field, `must be a non-negative integer, got ${raw}`);
  }
  return value;
}

function checkName(field: string, value: string): string {
  // deno-lint-ignore no-control-regex
  if (value.trim() === "" || value.length > 64 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new UsageError(field, "must be 1-64 printable characters");
  }
  return value;
}

function splitList(raw: string | undefined): string[] {
  return raw === undefined ? [] : raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** The commit of HEAD in the working directory, when it is a git checkout. */
async function headCommit(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^[0-9a-f]{40}$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

interface CommonRun {
  backend: BackendChoice;
  budget: number;
  seed: number;
  kb: string | null;
  agent: string;
  session: string;
  hypothesis: string;
  cache?: string;
  evalTokens?: number;
  commit?: string;
  tags?: string[];
  priorCards?: string[];
}

async function trainOnce(run: CommonRun): Promise<RunReport> {
  preflightCard({ ...run, budgetSeconds: run.budget });
  // A watchdog for a run hung inside the device, where the loop's own check never runs.
  const limit = defaultHardTimeout(run.budget);
  const watchdog = setTimeout(() => {
    console.log("FAIL");
    console.error(`error: hard timeout: the run took over ${limit} s (hung?)`);
    Deno.exit(1);
  }, limit * 1000);
  Deno.unrefTimer(watchdog);
  try {
    return await trainAfterChecks(run);
  } finally {
    clearTimeout(watchdog);
  }
}

async function trainAfterChecks(run: CommonRun): Promise<RunReport> {
  const prepared = await loadPrepared({ cacheRoot: run.cache });
  const data = await trainingDataFrom(prepared);
  const runId = newRunId();
  return await runExperiment({
    data,
    backend: run.backend,
    budgetSeconds: run.budget,
    seed: run.seed,
    evalTokens: run.evalTokens,
    kb: run.kb,
    agent: run.agent,
    session: run.session,
    hypothesis: run.hypothesis,
    commit: run.commit,
    tags: run.tags,
    priorCards: run.priorCards,
    checkpointDir: join(cachePaths(run.cache).root, "checkpoints", runId),
  });
}

/** Print the report the upstream way (or as JSON), and FAIL + exit 1 for a failed run. */
async function finish(report: RunReport, json: boolean, results?: string): Promise<void> {
  if (results) await writeResults(results, report);
  if (report.card_id) {
    const status = report.val_bpb === null ? "crash" : "pending";
    console.error(`card recorded: ${report.card_id} (status ${status})`);
  }
  if (json) printJson(report);
  if (report.status === "fail") {
    if (!json) console.log("FAIL");
    console.error(`error: training failed: ${report.failure}`);
    Deno.exit(1);
  }
  if (!json) console.log(summaryText(report));
}

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  program
    .command("train")
    .description(
      "Train the recipe (src/train/recipe.ts) for the time budget, evaluate val_bpb, print " +
        "upstream's summary block and record a pending card. Needs `autoresearch prepare` first.",
    )
    .option("--budget <seconds>", `seconds of counted training (default ${TIME_BUDGET_SECONDS})`)
    .option("--backend <kind>", "auto | cpu | webgpu", "auto")
    .option("--seed <n>", "seed of the init and data order", "42")
    .option("--results <file>", "also write the results as JSON to this file")
    .option("--agent <name>", "agent name on the card (env AUTORESEARCH_AGENT)")
    .option("--session <tag>", "session tag on the card (env AUTORESEARCH_SESSION)")
    .option("--hypothesis <text>", "what this run tests, for the card", "run of the current recipe")
    .option("--tags <list>", "comma-separated tags for the card (lr, batch_size, ...)")
    .option("--prior-cards <ids>", "comma-separated ids of cards that inspired this run")
    .option(
      "--eval-tokens <n>",
      "validation tokens scored (default: by device; capped at the val split)",
    )
    .option("--cache <dir>", "cache root (env AUTORESEARCH_CACHE; default ~/.cache/autoresearch)")
    .option(
      "--keep-checkpoints <n>",
      `run checkpoints kept in the cache, newest first (env AUTORESEARCH_KEEP_CHECKPOINTS; ` +
        `default ${DEFAULT_KEEP_CHECKPOINTS})`,
    )
    .option("--no-card", "do not record a card")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const keep = keepCheckpoints(opts.keepCheckpoints);
      const run: CommonRun = {
        backend: parseBackendChoice(opts.backend),
        budget: opts.budget === undefined ? TIME_BUDGET_SECONDS : positive("--budget", opts.budget),
        seed: nonNegativeInteger("--seed", opts.seed),
        kb: opts.card ? opts.kb : null,
        agent: checkName("--agent", opts.agent ?? defaultAgent()),
        session: checkName("--session", opts.session ?? defaultSession()),
        hypothesis: opts.hypothesis,
        cache: opts.cache,
        evalTokens: opts.evalTokens === undefined
          ? undefined
          : positiveInteger("--eval-tokens", opts.evalTokens),
        commit: await headCommit(),
        tags: splitList(opts.tags),
        priorCards: splitList(opts.priorCards),
      };
      if (run.hypothesis.trim() === "") throw new UsageError("--hypothesis", "must not be empty");
      const checkpointsRoot = join(cachePaths(run.cache).root, "checkpoints");
      preflightWrites(run.kb, opts.results, checkpointsRoot);
      const report = await trainOnce(run);
      await pruneOld(checkpointsRoot, keep);
      await finish(report, opts.json === true, opts.results);
    }));

  program
    .command("start")
    .description(
      "First run on a fresh machine: prepare the embedded default corpus, train the default " +
        "recipe for a short budget, print the summary block, record the card, print the brief.",
    )
    .option("--budget <seconds>", "seconds of counted training", "60")
    .option("--backend <kind>", "auto | cpu | webgpu", "auto")
    .option("--seed <n>", "seed", "42")
    .option("--cache <dir>", "cache root (env AUTORESEARCH_CACHE; default ~/.cache/autoresearch)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const run: CommonRun = {
        backend: parseBackendChoice(opts.backend),
        budget: positive("--budget", opts.budget),
        seed: nonNegativeInteger("--seed", opts.seed),
        kb: opts.kb,
        agent: checkName("--agent", defaultAgent()),
        session: checkName("--session", defaultSession()),
        hypothesis: "baseline: the default recipe on the embedded corpus (autoresearch start)",
        cache: opts.cache,
        commit: await headCommit(),
      };
      console.error("preparing the embedded default corpus ...");
      await prepare({ cacheRoot: opts.cache, source: "embedded", log: (l) => console.error(l) });
      const report = await trainOnce(run);
      await finish(report, opts.json === true);
      if (opts.json) return;
      const kb = openKnowledgeBase(opts.kb);
      try {
        const brief = await readBrief(kb, await queueSection(opts.kb));
        console.log("");
        console.log(brief.text);
      } finally {
        kb.close();
      }
    }));
}
