/**
 * CLI commands that run experiments: `train` (a run of the workspace's recipe, upstream's
 * `uv run train.py`: progress on stderr, the summary block on stdout, a pending card recorded;
 * `--config` and `--item` apply a validated config change, `--seeds N` runs N seeds as one
 * group) and `start` (the first thing on a fresh machine: prepare the embedded corpus, a short
 * run, the summary, the card, then the brief an agent reads next).
 */
import type { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import { queueSection } from "../director/brief.ts";
import { readQueue } from "../director/queue.ts";
import { openKnowledgeBase, readBrief } from "../knowledge/mod.ts";
import { type BackendChoice, parseBackendChoice } from "../platform/mod.ts";
import { cachePaths } from "../train/paths.ts";
import { loadPrepared, prepare } from "../train/prepare.ts";
import {
  defaultHardTimeout,
  newRunId,
  preflightCard,
  type RecipeText,
  runExperiment,
  type RunReport,
  summaryText,
  trainingDataFrom,
  writeResults,
} from "../train/run.ts";
import { TIME_BUDGET_SECONDS } from "../train/harness.ts";
import { applyConfigChange, changeConfig, configValue, CPU_DEVICE } from "../train/recipe.ts";
import { effectiveConfig, type FlatConfig, sameValue } from "../knowledge/config_keys.ts";
import { evaluateRecipe, RecipeError, resolveRecipePath } from "../train/recipe_loader.ts";
import { DEFAULT_RECIPE_SOURCE } from "../train/recipe_loader.ts";
import { gitState } from "../train/workspace_git.ts";
import { atomicWrite } from "../util/atomic.ts";
import { newId } from "../util/ids.ts";
import { UsageError } from "../util/errors.ts";
import { oneLine } from "../util/text.ts";
import { action, checkBase, jsonOption, kbOption, parseNumber, printJson } from "./common.ts";
import { checkOutputPath } from "../knowledge/store.ts";
import { checkWritePath } from "../util/guarded.ts";
import { DEFAULT_KEEP_CHECKPOINTS, pruneCheckpoints } from "../train/checkpoint.ts";

/** The seed of a run when neither `--seed` nor a queue item gives one. */
const DEFAULT_SEED = 42;

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

/** The recipe a run trains (C3): `--recipe FILE`, else ./recipe.ts, else the embedded default. */
async function readRecipeText(path?: string): Promise<RecipeText> {
  const file = resolveRecipePath(path);
  if (file === null) return { source: DEFAULT_RECIPE_SOURCE, path: null };
  try {
    return {
      source: new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(file)),
      path: file,
    };
  } catch (error) {
    throw new UsageError("--recipe", `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** `--config`: a JSON object of dotted config keys. */
function parseConfigChange(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new UsageError("--config", "must be a JSON object such as '{\"optim.matrixLr\":0.05}'");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError("--config", "must be a JSON object of config keys");
  }
  return value as Record<string, unknown>;
}

/**
 * Check a config change against the recipe before anything is trained (exit 2 on a bad key).
 * A recipe that does not load is not bad input: the run records it as a crash.
 */
function precheckConfig(text: RecipeText, change: Record<string, unknown> | undefined): void {
  if (!change || Object.keys(change).length === 0) return;
  let recipe;
  try {
    recipe = evaluateRecipe(text.source, text.path, CPU_DEVICE);
  } catch (error) {
    if (error instanceof RecipeError) return;
    throw error;
  }
  applyConfigChange(recipe, change);
}

/** What a queue item brings to a run. */
interface ItemRun {
  id: string;
  hypothesis: string;
  category: string;
  config: Record<string, unknown> | null;
  priorCards: string[];
  /** The item's fixed seeds (replicates), when it names them. */
  seeds?: number[];
  /** The card whose config the change applies to, and its recipe hash. */
  base?: { card?: string; recipe_hash?: string };
}

/** The queue item `id` of the knowledge base `kb`, read through the director's queue. */
async function readItem(kb: string, id: string): Promise<ItemRun> {
  if (!/^item_[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) {
    throw new UsageError("--item", "must be a queue item id like item_01J...");
  }
  const state = await readQueue(kb);
  const found = state.items.find((s) => s.item.id === id);
  if (!found) throw new UsageError("--item", `no item ${id} in the queue of ${kb}`);
  const item = found.item;
  return {
    id: item.id,
    hypothesis: item.hypothesis,
    category: item.category,
    config: item.config,
    priorCards: item.priorCards,
    ...(item.seeds && item.seeds.length > 0 ? { seeds: item.seeds } : {}),
    ...(item.base ? { base: item.base } : {}),
  };
}

/**
 * The values of an item's base card that differ from the recipe's own (the change applies on top
 * of them): keys of this recipe only, each value one the recipe accepts; empty when the card is
 * unreadable or the recipe does not load (the run then records what it can).
 */
function baseOverlay(kb: string, cardId: string, text: RecipeText): Record<string, unknown> {
  let recipe, config: FlatConfig;
  try {
    recipe = evaluateRecipe(text.source, text.path, CPU_DEVICE);
    const base = openKnowledgeBase(kb);
    try {
      config = effectiveConfig(base.getCard(cardId).card);
    } finally {
      base.close();
    }
  } catch {
    return {};
  }
  const overlay: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    try {
      if (sameValue(configValue(recipe.config, key), value)) continue;
      changeConfig(recipe.config, { [key]: value });
      overlay[key] = value;
    } catch {
      // A key of another recipe, or a value this one rejects alone: not part of the base here.
    }
  }
  return overlay;
}

interface CommonRun {
  backend: BackendChoice;
  budget: number;
  seed: number;
  recipe: RecipeText;
  configChange?: Record<string, unknown>;
  group?: string;
  item?: string;
  dirty?: boolean;
  recipeDiff?: string;
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
    recipe: run.recipe,
    configChange: run.configChange,
    group: run.group,
    item: run.item,
    dirty: run.dirty,
    recipeDiff: run.recipeDiff,
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

/**
 * Print the report the upstream way (or as JSON); a failed run prints FAIL. True when ok.
 * `quiet` prints only stderr lines (the JSON of several runs is printed once by the caller).
 */
function report(report: RunReport, json: boolean, quiet = false): boolean {
  if (report.card_id) {
    const status = report.val_bpb === null ? "crash" : "pending";
    console.error(`card recorded: ${report.card_id} (status ${status})`);
  }
  if (json) printJson(report);
  if (report.status === "fail") {
    if (!json && !quiet) console.log("FAIL");
    console.error(`error: training failed: ${oneLine(report.failure ?? "")}`);
    return false;
  }
  if (!json && !quiet) console.log(summaryText(report));
  return true;
}

/** Print the report, write `--results` for THIS run, exit 1 for a failed run. */
async function finish(run: RunReport, json: boolean, results?: string): Promise<void> {
  if (results) await writeResults(results, run);
  if (!report(run, json)) Deno.exit(1);
}

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  program
    .command("train")
    .description(
      "Train the workspace's recipe (--recipe FILE, else ./recipe.ts, else the embedded default) " +
        "for the time budget, evaluate val_bpb, print upstream's summary block and record a " +
        "pending card. Needs `autoresearch prepare` first.",
    )
    .option("--budget <seconds>", `seconds of counted training (default ${TIME_BUDGET_SECONDS})`)
    .option("--backend <kind>", "auto | cpu | webgpu", "auto")
    .option(
      "--seed <n>",
      "seed of the init and data order, first of --seeds (default: the item's, else 42)",
    )
    .option(
      "--seeds <n>",
      "run N seeds (seed, seed+1, ...) of the recipe as one group (default 1, or the item's seeds)",
    )
    .option("--recipe <file>", "the recipe to train (default ./recipe.ts, else the embedded one)")
    .option("--config <json>", `config change, e.g. '{"optim.matrixLr":0.05}' (dotted keys)`)
    .option("--item <id>", "run a queue item: its config change, seed, prior cards and group")
    .option("--results <file>", "also write the results as JSON to this file")
    .option("--agent <name>", "agent name on the card (env AUTORESEARCH_AGENT)")
    .option("--session <tag>", "session tag on the card (env AUTORESEARCH_SESSION)")
    .option("--hypothesis <text>", "what this run tests, for the card (default: the item's)")
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
      const count = opts.seeds === undefined
        ? undefined
        : nonNegativeInteger("--seeds", opts.seeds);
      if (count !== undefined && count < 1) throw new UsageError("--seeds", "must be at least 1");
      const firstSeed = opts.seed === undefined
        ? undefined
        : nonNegativeInteger("--seed", opts.seed);
      const item = opts.item === undefined ? undefined : await readItem(opts.kb, opts.item);
      if (item && opts.config !== undefined) {
        throw new UsageError("--config", "cannot be combined with --item (the item has its own)");
      }
      const recipe = await readRecipeText(opts.recipe);
      // A queue item's change applies to its base card's values; --config to the recipe's own.
      const overlay = item?.base?.card ? baseOverlay(opts.kb, item.base.card, recipe) : {};
      const itemChange = item ? { ...overlay, ...(item.config ?? {}) } : undefined;
      const configChange = opts.config !== undefined
        ? parseConfigChange(opts.config)
        : itemChange && Object.keys(itemChange).length > 0
        ? itemChange
        : undefined;
      // Seeds: --seeds N from --seed (or the item's first seed); else the item's; else one.
      const start = firstSeed ?? item?.seeds?.[0] ?? DEFAULT_SEED;
      const seedList = count !== undefined
        ? Array.from({ length: count }, (_, i) => start + i)
        : firstSeed === undefined && item?.seeds
        ? item.seeds
        : [start];
      precheckConfig(recipe, configChange);
      const git = await gitState(recipe.path);
      const hypothesis = opts.hypothesis ?? item?.hypothesis ?? "run of the current recipe";
      const base: CommonRun = {
        backend: parseBackendChoice(opts.backend),
        budget: opts.budget === undefined ? TIME_BUDGET_SECONDS : positive("--budget", opts.budget),
        seed: seedList[0],
        recipe,
        configChange,
        item: item?.id,
        group: item?.id ?? (seedList.length > 1 ? newId("grp") : undefined),
        kb: opts.card ? opts.kb : null,
        agent: checkName("--agent", opts.agent ?? defaultAgent()),
        session: checkName("--session", opts.session ?? defaultSession()),
        hypothesis,
        cache: opts.cache,
        evalTokens: opts.evalTokens === undefined
          ? undefined
          : positiveInteger("--eval-tokens", opts.evalTokens),
        commit: git.commit,
        dirty: git.dirty,
        recipeDiff: git.diff,
        tags: opts.tags !== undefined ? splitList(opts.tags) : item ? [item.category] : [],
        priorCards: [...new Set([...(item?.priorCards ?? []), ...splitList(opts.priorCards)])],
      };
      if (hypothesis.trim() === "") throw new UsageError("--hypothesis", "must not be empty");
      const checkpointsRoot = join(cachePaths(base.cache).root, "checkpoints");
      preflightWrites(base.kb, opts.results, checkpointsRoot);
      if (git.dirty) {
        console.error(
          `warning: uncommitted changes in the workspace: the card records commit ` +
            `${git.commit?.slice(0, 12)} as dirty, with the recipe's diff`,
        );
      }
      const replicateOf = item && !item.config ? item.base?.recipe_hash : undefined;
      const checkReplicate = (run: RunReport) => {
        if (replicateOf && run.recipe_hash !== replicateOf) {
          console.error(
            `warning: this run's recipe hash differs from the item's base (${replicateOf}): ` +
              `the workspace recipe is not the one it replicates`,
          );
        }
      };
      if (seedList.length === 1) {
        const run = await trainOnce(base);
        checkReplicate(run);
        await pruneOld(checkpointsRoot, keep);
        await finish(run, opts.json === true, opts.results);
        return;
      }
      const runs: RunReport[] = [];
      for (const [i, seed] of seedList.entries()) {
        console.error(`seed ${seed} (${i + 1} of ${seedList.length}, group ${base.group})`);
        const run = await trainOnce({ ...base, seed });
        checkReplicate(run);
        runs.push(run);
        if (opts.results) {
          const summary = { group: base.group, runs };
          await atomicWrite(opts.results, `${JSON.stringify(summary, null, 2)}\n`);
        }
      }
      await pruneOld(checkpointsRoot, keep);
      if (opts.json) printJson({ group: base.group, runs });
      let ok = true;
      for (const run of runs) ok = report(run, false, opts.json === true) && ok;
      if (!ok) Deno.exit(1);
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
      const recipe = await readRecipeText();
      const git = await gitState(recipe.path);
      const run: CommonRun = {
        backend: parseBackendChoice(opts.backend),
        budget: positive("--budget", opts.budget),
        seed: nonNegativeInteger("--seed", opts.seed),
        kb: opts.kb,
        agent: checkName("--agent", defaultAgent()),
        session: checkName("--session", defaultSession()),
        hypothesis: "baseline: the default recipe on the embedded corpus (autoresearch start)",
        cache: opts.cache,
        recipe,
        commit: git.commit,
        dirty: git.dirty,
        recipeDiff: git.diff,
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
