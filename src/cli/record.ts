/**
 * CLI commands for runs of other trainers and histories of other tools: `record RUN_LOG` (a card
 * from a log that prints upstream's summary block), `import results.tsv` (an upstream history)
 * and `import --commons DIR` (a base of the commons fork). Thin wrappers over src/record: parse
 * flags, call the library, print what was written and what was skipped, and why.
 */
import type { Command } from "@commander-js/extra-typings";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { openKnowledgeBase } from "../knowledge/mod.ts";
import { checkCardId } from "../knowledge/store.ts";
import { type CommonsImportReport, importCommons, readForkBase } from "../record/commons.ts";
import { currentBranch, repoRoot } from "../record/git.ts";
import { externalHarnessHash, harnessBudget } from "../record/hash.ts";
import { detectExternalPlatform, type PlatformOverrides } from "../record/platform.ts";
import { recordRun, UPSTREAM_BUDGET_S } from "../record/record.ts";
import { isFile } from "../record/text.ts";
import {
  type ImportReport,
  importResultsTsv,
  parseResultsTsv,
  recipesFromGit,
} from "../record/tsv.ts";
import { UsageError } from "../util/errors.ts";
import { oneLine, truncate } from "../util/text.ts";
import { action, jsonOption, kbOption, parseNumber, printJson } from "./common.ts";
import { defaultAgent, defaultSession } from "./knowledge.ts";

interface PlatformFlags {
  backend?: string;
  device?: string;
  vendor?: string;
  cores?: string;
  memoryGb?: string;
}

function platformOverrides(opts: PlatformFlags): PlatformOverrides {
  const overrides: PlatformOverrides = {};
  if (opts.backend !== undefined) overrides.backend = opts.backend;
  if (opts.device !== undefined) {
    if (opts.device.trim() === "") throw new UsageError("--device", "must not be empty");
    overrides.device = opts.device;
  }
  if (opts.vendor !== undefined) overrides.vendor = opts.vendor;
  if (opts.cores !== undefined) overrides.cores = parseNumber("--cores", opts.cores);
  if (opts.memoryGb !== undefined) overrides.memory_gb = parseNumber("--memory-gb", opts.memoryGb);
  return overrides;
}

function parseBudget(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = parseNumber("--budget", raw);
  if (!(value > 0)) throw new UsageError("--budget", "must be greater than 0 seconds");
  return value;
}

function parseList(flag: string, raw: string): string[] {
  const items = raw.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) {
    throw new UsageError(flag, "must be a comma-separated list without empty items");
  }
  return items;
}

function readFileOrUsage(flag: string, path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(flag, `cannot read ${path}: ${why}`);
  }
}

function printSkips(skipped: { where: string; reason: string }[]): void {
  for (const skip of skipped) {
    console.error(`warning: skipped ${oneLine(skip.where)}: ${oneLine(skip.reason)}`);
  }
}

function summaryLine(report: ImportReport): string {
  const counts = { keep: 0, discard: 0, crash: 0, inconclusive: 0, pending: 0 };
  for (const card of report.added) counts[card.status]++;
  const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`);
  return `imported ${report.added.length} cards${parts.length ? ` (${parts.join(", ")})` : ""}, ` +
    `${report.existing.length} already imported, ${report.skipped.length} skipped`;
}

function bestOf(report: ImportReport): string | null {
  const all = report.added.filter((card) =>
    card.status === "keep" && card.results.val_bpb !== null
  );
  if (all.length === 0) return null;
  const best = all.reduce((a, b) => a.results.val_bpb! <= b.results.val_bpb! ? a : b);
  return `best kept of this import: ${best.results.val_bpb!.toFixed(6)} ${best.id} ${
    truncate(oneLine(best.hypothesis), 80)
  }`;
}

/** Session of an upstream run: the `<tag>` of an `autoresearch/<tag>` branch, else the default. */
async function sessionOf(dir: string): Promise<string> {
  if (Deno.env.get("AUTORESEARCH_SESSION")) return defaultSession();
  const branch = await currentBranch(dir);
  const tag = branch?.match(/^autoresearch\/(.+)$/)?.[1];
  return tag && tag.length <= 64 ? tag : defaultSession();
}

/** Platform flags, which only a results.tsv import (and record) takes. */
const PLATFORM_FLAGS = ["--backend", "--device", "--vendor", "--cores", "--memory-gb"] as const;
const FLAG_KEYS = {
  "--backend": "backend",
  "--device": "device",
  "--vendor": "vendor",
  "--cores": "cores",
  "--memory-gb": "memoryGb",
} as const;

/** Card fields -> the flag that sets them, so a validation error names what the user typed. */
const FLAG_OF: Record<string, string> = {
  harness_hash: "--harness-hash",
  budget_s: "--budget",
  seed: "--seed",
  commit: "--commit",
  hypothesis: "--hypothesis",
  lesson: "--lesson",
  tags: "--tags",
  prior_cards: "--prior-cards",
  item: "--item",
  agent: "--agent",
  session: "--session",
  "platform.backend": "--backend",
  "platform.device": "--device",
  "platform.vendor": "--vendor",
  "platform.cores": "--cores",
  "platform.memory_gb": "--memory-gb",
};

/** Rethrow a card validation error naming the flag too (`platform.cores (--cores): ...`). */
function rethrowWithFlag(error: unknown): never {
  if (error instanceof UsageError) {
    const flag = FLAG_OF[error.field] ?? FLAG_OF[error.field.replace(/\.\d+$/, "")];
    if (flag) throw new UsageError(`${error.field} (${flag})`, error.rule);
  }
  throw error;
}

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  program
    .command("record")
    .description("record a card from a run log that prints upstream's summary block")
    .argument("<run-log>", "the run's log (e.g. run.log from `uv run train.py > run.log 2>&1`)")
    .option("--trainer-file <file>", "the recipe file the run used (default train.py)")
    .option("--harness-file <file>", "the fixed harness the runs used (default prepare.py)")
    .option("--budget <seconds>", "time budget (default TIME_BUDGET in the harness, else 300)")
    .option("--backend <backend>", "cuda | rocm | mps | mlx | cpu (default: detected)")
    .option("--device <text>", "GPU or CPU name (default: detected, nvidia-smi on NVIDIA)")
    .option("--vendor <text>", "device vendor (default: from the device name)")
    .option("--cores <n>", "CPU cores (default: this machine's)")
    .option("--memory-gb <n>", "system memory in GB (default: this machine's)")
    .option("--agent <name>", "who ran it (env AUTORESEARCH_AGENT, USER)")
    .option("--hypothesis <text>", "what was tried (default: the HEAD commit's message)")
    .option("--commit <hash>", "git commit that ran (default HEAD)")
    .option("--session <tag>", "session tag (env AUTORESEARCH_SESSION, default today's date)")
    .option("--seed <n>", "random seed of the run (default 0)")
    .option("--tags <list>", "comma-separated tags")
    .option("--prior-cards <ids>", "lineage (default: the card of the parent commit)")
    .option("--lesson <text>", "lesson of a finished run (a crash's lesson is its error)")
    .option("--item <id>", "the queue item this run is for (from director claim)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
A log with the summary block becomes a pending card (judge it: judge, write-card --complete); a log
with FAIL, a traceback or no block a crash card (val_bpb null) carrying the error's last lines.
Recording the same log twice writes nothing. Example:
  uv run train.py > run.log 2>&1; autoresearch record run.log`,
    )
    .action(action(async (log, opts) => {
      const kb = openKnowledgeBase(opts.kb);
      const priorCards = opts.priorCards === undefined
        ? undefined
        : parseList("--prior-cards", opts.priorCards);
      for (const id of priorCards ?? []) checkCardId(id, "--prior-cards");
      const seed = opts.seed === undefined ? undefined : parseNumber("--seed", opts.seed);
      if (opts.hypothesis !== undefined && opts.hypothesis.trim() === "") {
        throw new UsageError("--hypothesis", "must not be empty or whitespace");
      }
      const result = await recordRun({
        kb,
        log,
        trainerFile: opts.trainerFile,
        harnessFile: opts.harnessFile,
        budgetS: parseBudget(opts.budget),
        platform: platformOverrides(opts),
        hypothesis: opts.hypothesis,
        commit: opts.commit,
        agent: opts.agent ?? defaultAgent(),
        session: opts.session ?? defaultSession(),
        seed,
        tags: opts.tags === undefined ? undefined : parseList("--tags", opts.tags),
        priorCards,
        lesson: opts.lesson,
        item: opts.item,
      }).catch(rethrowWithFlag);
      for (const warning of result.warnings) console.error(`warning: ${oneLine(warning)}`);
      if (opts.json) {
        printJson(result.card);
        return;
      }
      const card = result.card;
      if (result.existing) {
        console.log(`${card.id} (this log was recorded before; nothing written)`);
      } else if (result.outcome.kind === "crash") {
        console.log(`${card.id} crash: ${oneLine(result.outcome.reason)}`);
      } else {
        console.log(
          `${card.id} pending val_bpb ${card.results.val_bpb} (judge it: autoresearch judge ` +
            `${card.id}, then autoresearch write-card --complete ${card.id} --from-judge --lesson ...)`,
        );
      }
    }));

  program
    .command("import")
    .description("import an upstream results.tsv, or a commons fork base with --commons DIR")
    .argument(
      "[results-tsv]",
      "upstream's results.tsv (commit val_bpb memory_gb status description)",
    )
    .option("--commons <dir>", "a knowledge base of the commons fork (its knowledge/ or its repo)")
    .option("--trainer-file <file>", "the recipe file in the repository (default train.py)")
    .option("--repo <dir>", "the trainer's git repository (default: the one holding the tsv)")
    .option("--harness-file <file>", "the fixed harness the runs used (default prepare.py)")
    .option("--budget <seconds>", "time budget (default TIME_BUDGET in the harness, else 300)")
    .option("--backend <backend>", "cuda | rocm | mps | mlx | cpu (default: detected)")
    .option("--device <text>", "GPU or CPU name (default: detected, nvidia-smi on NVIDIA)")
    .option("--vendor <text>", "device vendor (default: from the device name)")
    .option("--cores <n>", "CPU cores (default: this machine's)")
    .option("--memory-gb <n>", "system memory in GB (default: this machine's)")
    .option("--agent <name>", "who ran it (env AUTORESEARCH_AGENT, USER)")
    .option("--harness-hash <hash>", "use this harness hash instead of hashing a harness file")
    .option("--session <tag>", "session tag (default: the autoresearch/<tag> branch, else today)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Each row or card becomes one card; importing the same file or base again adds nothing. Rows
build on the last kept commit before them (lineage); a crash row's 0.000000 becomes null.
Examples:
  autoresearch import results.tsv --device "NVIDIA H100 80GB HBM3" --budget 300
  autoresearch import --commons ../autoresearch-commons/knowledge`,
    )
    .action(action(async (tsv, opts) => {
      if ((tsv === undefined) === (opts.commons === undefined)) {
        throw new UsageError("results-tsv", "give a results.tsv or --commons DIR (one of them)");
      }
      const kb = openKnowledgeBase(opts.kb);
      const agent = opts.agent ?? defaultAgent();
      const budgetFlag = parseBudget(opts.budget);
      const harnessOf = async (fallbacks: string[]): Promise<{ hash: string; budget: number }> => {
        if (opts.harnessHash !== undefined) {
          if (opts.harnessFile !== undefined) {
            throw new UsageError(
              "--harness-hash",
              "give --harness-hash or --harness-file, not both",
            );
          }
          return { hash: opts.harnessHash, budget: budgetFlag ?? UPSTREAM_BUDGET_S };
        }
        const path = opts.harnessFile ?? fallbacks.find(isFile);
        if (path === undefined) {
          throw new UsageError(
            "--harness-file",
            "no prepare.py found: give --harness-file FILE or --harness-hash HASH",
          );
        }
        const bytes = readFileOrUsage("--harness-file", path);
        const budget = budgetFlag ?? harnessBudget(bytes) ?? UPSTREAM_BUDGET_S;
        return { hash: await externalHarnessHash(bytes, budget), budget };
      };

      if (opts.commons !== undefined) {
        for (const [flag, value] of PLATFORM_FLAGS.map((f) => [f, opts[FLAG_KEYS[f]]] as const)) {
          if (value !== undefined) {
            throw new UsageError(
              flag,
              "applies to a results.tsv; the fork's cards name their platform",
            );
          }
        }
        const fork = readForkBase(opts.commons);
        const harness = opts.harnessHash === undefined && opts.harnessFile === undefined &&
            fork.harnessFile === null
          ? { hash: "commons-fork", budget: budgetFlag ?? UPSTREAM_BUDGET_S }
          : await harnessOf(fork.harnessFile ? [fork.harnessFile] : []);
        const report = await importCommons(fork, {
          kb,
          harnessHash: harness.hash,
          budgetS: harness.budget,
          agent,
        }).catch(rethrowWithFlag);
        printSkips(report.skipped);
        for (const note of report.notes) console.error(`note: ${oneLine(note)}`);
        if (opts.json) printJson(commonsJson(report));
        else printCommons(report);
        return;
      }

      const tsvPath = tsv!;
      const parsed = parseResultsTsv(readFileOrUsage("results-tsv", tsvPath), tsvPath);
      const tsvDir = dirname(resolve(tsvPath));
      const harness = await harnessOf([join(tsvDir, "prepare.py"), "prepare.py"]);
      const platform = await detectExternalPlatform(platformOverrides(opts));
      const root = await repoRoot(opts.repo ?? tsvDir);
      if (opts.repo !== undefined && root === null) {
        throw new UsageError("--repo", `${opts.repo} is not a git repository`);
      }
      let recipes;
      if (root !== null) {
        const trainer = opts.trainerFile ?? "train.py";
        const rel = isAbsolute(trainer) ? relative(root, trainer) : trainer;
        recipes = await recipesFromGit(root, parsed.rows.map((row) => row.commit), rel);
      }
      const report = await importResultsTsv(parsed, {
        kb,
        platform,
        harnessHash: harness.hash,
        budgetS: harness.budget,
        agent,
        session: opts.session ?? await sessionOf(root ?? tsvDir),
        recipes,
      }).catch(rethrowWithFlag);
      printSkips(report.skipped);
      if (opts.json) {
        printJson({
          added: report.added.map((card) => card.id),
          existing: report.existing,
          skipped: report.skipped,
          recipes_from_git: recipes?.size ?? 0,
        });
        return;
      }
      console.log(summaryLine(report));
      const best = bestOf(report);
      if (best) console.log(best);
      if (root === null) {
        console.log("no git repository: recipe hashes are git:<commit> (no recipe diffs)");
      } else {
        console.log(`recipes from git: ${recipes?.size ?? 0} of ${parsed.rows.length} commits`);
      }
    }));
}

function commonsJson(report: CommonsImportReport) {
  return {
    added: report.added.map((card) => card.id),
    existing: report.existing,
    skipped: report.skipped,
    retracted: report.retracted,
    items_added: report.itemsAdded,
    items_existing: report.itemsExisting,
    items_completed: report.itemsCompleted,
    notes: report.notes,
  };
}

function printCommons(report: CommonsImportReport): void {
  console.log(summaryLine(report));
  console.log(`retractions written: ${report.retracted.length}`);
  console.log(
    `queue: ${report.itemsAdded.length} items added, ${report.itemsExisting} already imported, ` +
      `${report.itemsCompleted} completed in the fork (not imported)`,
  );
}
