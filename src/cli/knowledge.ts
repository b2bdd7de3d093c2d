/**
 * CLI commands of the knowledge layer: write-card (and judging a pending card), read-brief,
 * read-meta, coverage, synthesize, update-meta, plot, retract, update-index, show-card,
 * lineage, list-cards. Thin wrappers over src/knowledge: parse flags, call the library, print.
 * Stored text is printed through oneLine() so one record stays one line.
 */
import type { Command } from "@commander-js/extra-typings";
import { queueSection } from "../director/brief.ts";
import {
  type CardSummary,
  coverage,
  type KnowledgeBase,
  openKnowledgeBase,
  readBrief,
  readMeta,
  type Skipped,
  updateMeta,
  writePlot,
  writeSessionReport,
} from "../knowledge/mod.ts";
import { judgeCard } from "../knowledge/judge.ts";
import { checkCardId } from "../knowledge/store.ts";
import { cpuCardPlatform } from "../platform/mod.ts";
import { UsageError } from "../util/errors.ts";
import { readTextLimited, readUtf8Limited } from "../util/guarded.ts";
import { oneLine, truncate } from "../util/text.ts";
import { action, checkBase, jsonOption, kbOption, parseNumber, printJson } from "./common.ts";
import { cardContext } from "../workspace/mod.ts";

/** Default agent name: `$AUTORESEARCH_AGENT`, else `$USER`, else `agent`. */
export function defaultAgent(): string {
  return Deno.env.get("AUTORESEARCH_AGENT") || Deno.env.get("USER") || "agent";
}

/** Default session tag: `$AUTORESEARCH_SESSION`, else today's UTC date. */
export function defaultSession(): string {
  return Deno.env.get("AUTORESEARCH_SESSION") || new Date().toISOString().slice(0, 10);
}

/** Card fields -> the flag that sets them, so validation errors name what the user typed. */
const FLAG_OF: Record<string, string> = {
  "results.val_bpb": "--result",
  "results.delta": "--delta",
  "results.peak_memory_mb": "--peak-memory-mb",
  "results.training_seconds": "--training-seconds",
  "results.num_steps": "--num-steps",
  "results.total_tokens": "--total-tokens",
  "results.num_params": "--num-params",
  "results.estimated_flops": "--estimated-flops",
  "results.mfu_percent": "--mfu-percent",
  "platform.backend": "--backend",
  "platform.device": "--device",
  "platform.vendor": "--vendor",
  "platform.cores": "--cores",
  "platform.memory_gb": "--memory-gb",
  harness_hash: "--harness-hash",
  recipe_hash: "--recipe-hash",
  budget_s: "--budget",
  prior_cards: "--prior-cards",
  recipe_diff: "--recipe-diff-file",
};

function withFlag(error: unknown): unknown {
  if (!(error instanceof UsageError)) return error;
  const base = error.field.replace(/\.\d+$/, "");
  const flag = FLAG_OF[error.field] ?? FLAG_OF[base] ??
    (/^[a-z_]+$/.test(base) ? `--${base.replaceAll("_", "-")}` : undefined);
  return flag ? new UsageError(`${error.field} (${flag})`, error.rule) : error;
}

let stdinUsedBy: string | null = null;

/** Text of a `--*-file` argument: a path, or `-` for stdin (one option at most). */
async function readTextArg(flag: string, path: string): Promise<string> {
  if (path !== "-") return await readTextLimited(flag, path, TEXT_ARG_LIMIT);
  if (stdinUsedBy) throw new UsageError(flag, `stdin is already read by ${stdinUsedBy}`);
  stdinUsedBy = flag;
  return await readUtf8Limited(flag, "stdin", Deno.stdin.readable, TEXT_ARG_LIMIT);
}

/** Largest `--*-file` read (a card's text fields are far smaller; /dev/zero never ends). */
const TEXT_ARG_LIMIT = 4 << 20;

function exactlyOne(
  flag: string,
  inline: string | undefined,
  file: string | undefined,
): "inline" | "file" | null {
  if (inline !== undefined && file !== undefined) {
    throw new UsageError(flag, `give ${flag} or ${flag}-file, not both`);
  }
  return inline !== undefined ? "inline" : file !== undefined ? "file" : null;
}

async function textOption(
  flag: string,
  inline: string | undefined,
  file: string | undefined,
): Promise<string | undefined> {
  const which = exactlyOne(flag, inline, file);
  if (which === "inline") return inline;
  if (which === "file") return await readTextArg(`${flag}-file`, file!);
  return undefined;
}

function parseList(flag: string, raw: string): string[] {
  const items = raw.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) {
    throw new UsageError(flag, "must be a comma-separated list without empty or whitespace items");
  }
  return items;
}

function parseJsonObject(flag: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(flag, `must be JSON (${(error as Error).message.split("\n")[0]})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(flag, "must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Options of `write-card` that a judgement (`--complete`) records; any other option given with
 * `--complete` is refused rather than silently dropped (a `--result` there would be lost).
 */
const JUDGEMENT_OPTIONS = new Set([
  "complete",
  "status",
  "lesson",
  "lessonFile",
  "delta",
  "agent",
  "kb",
  "json",
  // judgement options of later versions (superseding a judgement) are theirs to check
  "supersede",
  "supersedes",
  "reason",
  "fromJudge",
  "reasonFile",
]);

function refuseFlagsOutsideJudgement(opts: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(opts)) {
    if (value === undefined || JUDGEMENT_OPTIONS.has(key)) continue;
    const flag = `--${key.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;
    throw new UsageError(
      flag,
      "does not apply to --complete (a judgement records --status, --lesson and --delta only; " +
        "results belong on the card when it is written)",
    );
  }
}

function reportSkipped(skipped: Skipped[]): void {
  for (const skip of skipped) {
    console.error(`warning: skipped ${oneLine(skip.path)}: ${oneLine(skip.reason)}`);
  }
}

function cardLine(card: CardSummary): string {
  const value = card.val_bpb === null ? "-" : card.val_bpb.toFixed(4);
  const status = card.retracted ? `${card.status},retracted` : card.status;
  return `${card.id} ${status} ${value} ${oneLine(card.session)} ${
    truncate(oneLine(card.hypothesis), 120)
  }`;
}

/** Card fields -> the flag that gives them, for the one "required" error of a new card. */
const REQUIRED: [string, string][] = [
  ["hypothesis", "--hypothesis"],
  ["status", "--status"],
  ["results.val_bpb", "--result"],
  ["harness_hash", "--harness-hash"],
  ["recipe_hash", "--recipe-hash"],
  ["budget_s", "--budget"],
];

/**
 * Fill harness_hash, recipe_hash and budget_s of a new card from what a run here would record
 * (workspace recipe, prepared data, default budget) when neither a flag nor --input gave them,
 * then name every required field still missing in ONE error (nothing written).
 */
async function fillFromContext(
  input: Record<string, unknown>,
  options: { recipe?: string; cache?: string },
): Promise<void> {
  const missingHashes = (["harness_hash", "recipe_hash"] as const).filter((key) =>
    input[key] === undefined
  );
  const unavailable: Record<string, string> = {};
  // The hashes are derived as a CPU run here computes them; a GPU card must bring its own.
  const backend = (input.platform as Record<string, unknown> | undefined)?.backend;
  const want = backend === "cpu" ? missingHashes : [];
  for (const key of backend === "cpu" ? [] : missingHashes) {
    unavailable[key] = `derived for CPU cards only (this card's backend is ${String(backend)})`;
  }
  if (want.length > 0 || input.budget_s === undefined) {
    const context = await cardContext({ ...options, want: [...want] });
    for (const key of want) {
      if (context[key] !== undefined) input[key] = context[key];
    }
    if (input.budget_s === undefined) input.budget_s = context.budget_s;
    Object.assign(unavailable, context.unavailable);
  }
  const results = input.results as Record<string, unknown>;
  // A crash has no val_bpb; every other status needs one.
  const resultMissing = input.status !== "crash" &&
    (results.val_bpb === null || results.val_bpb === undefined);
  const missing = REQUIRED.filter(([key]) =>
    key === "results.val_bpb" ? resultMissing : input[key] === undefined
  );
  if (missing.length === 0) return;
  const why = missing.filter(([key]) => unavailable[key] !== undefined)
    .map(([key, flag]) => `${flag} cannot be derived here: ${unavailable[key]}`);
  throw new UsageError(
    missing.map(([key, flag]) => `${key} (${flag})`).join(", "),
    `required${why.length > 0 ? `; ${why.join("; ")}` : ""}`,
  );
}

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  program
    .command("write-card")
    .description(
      "record an experiment card (immutable), or judge a pending card with --complete ID",
    )
    .option(
      "--complete <card-id>",
      "judge this card instead of writing a new one (again, with --reason, to revise it)",
    )
    .option("--reason <text>", "with --complete: why an earlier judgement is revised")
    .option(
      "--from-judge",
      "with --complete: take the status from `autoresearch judge` (replicate is kept provisionally)",
    )
    .option("--input <file>", "card input as JSON (file or - for stdin); flags override it")
    .option("--commit <hash>", "git commit of the recipe that ran")
    .option("--hypothesis <text>", "what was tried and why")
    .option("--hypothesis-file <file>", "hypothesis from a file (- for stdin)")
    .option("--result <val_bpb>", "val_bpb of the run (omit for a crash)")
    .option("--delta <number>", "change versus the baseline (negative is better)")
    .option("--status <status>", "keep | discard (alias revert) | inconclusive | crash | pending")
    .option("--lesson <text>", "what was learned")
    .option("--lesson-file <file>", "lesson from a file (- for stdin)")
    .option("--tags <list>", "comma-separated tags (lr, batch_size, ...)")
    .option("--prior-cards <ids>", "comma-separated ids of cards that inspired this one")
    .option("--agent <name>", "who ran it (env AUTORESEARCH_AGENT, USER)")
    .option("--session <tag>", "session tag (env AUTORESEARCH_SESSION, default today's date)")
    .option(
      "--backend <backend>",
      "webgpu | cpu | cuda | rocm | mps | mlx (default cpu, with this machine's CPU)",
    )
    .option("--device <text>", "adapter or CPU description")
    .option("--vendor <text>", "adapter or CPU vendor")
    .option("--cores <n>", "CPU cores")
    .option("--memory-gb <n>", "system memory in GB")
    .option("--harness-hash <hash>", "hash of the fixed harness (data, eval, tokenizer)")
    .option("--recipe-hash <hash>", "hash of the training recipe")
    .option("--budget <seconds>", "training time budget in seconds")
    .option("--seed <n>", "random seed (default 0)")
    .option("--config <json>", "full hyperparameter snapshot as a JSON object")
    .option("--config-file <file>", "hyperparameter snapshot from a JSON file (- for stdin)")
    .option("--recipe-diff-file <file>", "diff of the recipe against its parent (- for stdin)")
    .option(
      "--recipe <file>",
      "recipe whose hash a new card gets (default ./recipe.ts, else built in)",
    )
    .option("--cache <dir>", "prepared data the harness hash comes from (env AUTORESEARCH_CACHE)")
    .option("--peak-memory-mb <n>", "peak memory, MB")
    .option("--training-seconds <n>", "counted training seconds")
    .option("--num-steps <n>", "optimizer steps")
    .option("--total-tokens <n>", "tokens trained on")
    .option("--num-params <n>", "model parameters")
    .option("--estimated-flops <n>", "estimated training FLOPs")
    .option("--mfu-percent <n>", "model FLOPs utilisation, percent")
    .addOption(kbOption())
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
A new card needs --hypothesis, --status and --result (unless crash), or all of it as JSON with
--input. --harness-hash, --recipe-hash and --budget default to what a run here would record: the
prepared data in the cache, the recipe (--recipe, else ./recipe.ts, else the built-in one) and
the default budget; the platform defaults to this machine's CPU. Examples:
  autoresearch write-card --commit a1b2c3d --hypothesis "halve the batch" --result 0.986 \\
    --status keep --lesson "more steps win" --tags batch_size
  autoresearch write-card --complete card_01K... --status discard --lesson-file notes.txt`,
    )
    .action(action(async (opts) => {
      // Writing a new card creates the base; judging one needs it to exist.
      const kb = openKnowledgeBase(checkBase(opts.kb, opts.complete !== undefined));
      const agent = opts.agent ?? defaultAgent();
      const lesson = await textOption("--lesson", opts.lesson, opts.lessonFile);
      if (opts.complete !== undefined) {
        checkCardId(opts.complete, "--complete");
        refuseFlagsOutsideJudgement(opts);
        if (opts.fromJudge && opts.status !== undefined) {
          throw new UsageError("--from-judge", "give --status or --from-judge, not both");
        }
        if (opts.status === undefined && !opts.fromJudge) {
          throw new UsageError("--status", "is required with --complete (or --from-judge)");
        }
        const delta = opts.delta === undefined ? undefined : parseNumber("--delta", opts.delta);
        const asComplete = (error: unknown) => {
          // The card being judged is the one --complete named.
          if (error instanceof UsageError && (error.field === "card" || error.field === "id")) {
            throw new UsageError("--complete", error.rule);
          }
          throw withFlag(error);
        };
        const judged = opts.fromJudge ? await judgeCard(kb, opts.complete).catch(asComplete) : null;
        // A revision by the judge says why unless the user did.
        const previous = judged ? kb.getCard(opts.complete) : null;
        const revises = previous !== null &&
          (previous.completion !== null || previous.card.status !== "pending");
        const reason = opts.reason ?? (judged && revises ? `judge: ${judged.reason}` : undefined);
        const completion = await kb.completeCard(opts.complete, {
          status: (judged?.status ?? opts.status) as "keep",
          agent,
          ...(lesson === undefined ? {} : { lesson }),
          ...(delta === undefined ? {} : { delta }),
          ...(reason === undefined ? {} : { reason: reason.slice(0, 4000) }),
          ...(judged ? { verdict: judged.verdict } : {}),
        }).catch(asComplete);
        if (judged && !opts.json) {
          console.log(oneLine(`judge: ${judged.verdict}: ${judged.reason}`));
        }
        if (opts.json) printJson(completion);
        else console.log(`${completion.card_id} judged ${completion.status} (${completion.id})`);
        return;
      }
      if (opts.reason !== undefined) {
        throw new UsageError("--reason", "is only used with --complete");
      }
      const input: Record<string, unknown> = opts.input === undefined
        ? {}
        : parseJsonObject("--input", await readTextArg("--input", opts.input));
      const set = (key: string, value: unknown) => {
        if (value !== undefined) input[key] = value;
      };
      const num = (flag: string, raw: string | undefined) =>
        raw === undefined ? undefined : parseNumber(flag, raw);
      set("agent", opts.agent ?? input.agent ?? agent);
      set("session", opts.session ?? input.session ?? defaultSession());
      set("hypothesis", await textOption("--hypothesis", opts.hypothesis, opts.hypothesisFile));
      set("commit", opts.commit);
      set("lesson", lesson);
      set("status", opts.status);
      if (opts.tags !== undefined) input.tags = parseList("--tags", opts.tags);
      if (opts.priorCards !== undefined) {
        input.prior_cards = parseList("--prior-cards", opts.priorCards);
      }
      set("harness_hash", opts.harnessHash);
      set("recipe_hash", opts.recipeHash);
      set("budget_s", num("--budget", opts.budget));
      if (opts.seed !== undefined) input.seed = parseNumber("--seed", opts.seed);
      else if (input.seed === undefined) input.seed = 0;
      const configWhich = exactlyOne("--config", opts.config, opts.configFile);
      if (configWhich === "inline") input.config = parseJsonObject("--config", opts.config!);
      if (configWhich === "file") {
        input.config = parseJsonObject(
          "--config-file",
          await readTextArg("--config-file", opts.configFile!),
        );
      }
      if (input.config === undefined) input.config = {};
      if (opts.recipeDiffFile !== undefined) {
        input.recipe_diff = await readTextArg("--recipe-diff-file", opts.recipeDiffFile);
      }
      // Platform: flags over --input over this machine's CPU.
      const platformGiven = typeof input.platform === "object" && input.platform !== null;
      const platform: Record<string, unknown> = platformGiven
        ? { ...input.platform as Record<string, unknown> }
        : {};
      if (!platformGiven) {
        const backend = opts.backend ?? "cpu";
        platform.backend = backend;
        if (backend === "cpu") Object.assign(platform, cpuCardPlatform());
      }
      if (opts.backend !== undefined) platform.backend = opts.backend;
      if (opts.device !== undefined) platform.device = opts.device;
      if (opts.vendor !== undefined) platform.vendor = opts.vendor;
      if (opts.cores !== undefined) platform.cores = parseNumber("--cores", opts.cores);
      if (opts.memoryGb !== undefined) {
        platform.memory_gb = parseNumber("--memory-gb", opts.memoryGb);
      }
      input.platform = platform;
      // Results: a missing --result means no val_bpb (only valid for a crash).
      const results: Record<string, unknown> = typeof input.results === "object" &&
          input.results !== null
        ? { ...input.results as Record<string, unknown> }
        : { val_bpb: null };
      if (opts.result !== undefined) results.val_bpb = parseNumber("--result", opts.result);
      const resultFlags: [string, string | undefined, string][] = [
        ["delta", opts.delta, "--delta"],
        ["peak_memory_mb", opts.peakMemoryMb, "--peak-memory-mb"],
        ["training_seconds", opts.trainingSeconds, "--training-seconds"],
        ["num_steps", opts.numSteps, "--num-steps"],
        ["total_tokens", opts.totalTokens, "--total-tokens"],
        ["num_params", opts.numParams, "--num-params"],
        ["estimated_flops", opts.estimatedFlops, "--estimated-flops"],
        ["mfu_percent", opts.mfuPercent, "--mfu-percent"],
      ];
      for (const [key, raw, flag] of resultFlags) {
        if (raw !== undefined) results[key] = parseNumber(flag, raw);
      }
      input.results = results;
      await fillFromContext(input, { recipe: opts.recipe, cache: opts.cache });
      const card = await kb.writeCard(input).catch((error) => {
        throw withFlag(error);
      });
      if (opts.json) printJson(card);
      else console.log(card.id);
    }));

  program
    .command("read-brief")
    .description("the short summary an agent reads before planning (about 4 KB at most)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const kb = openKnowledgeBase(checkBase(opts.kb, true));
      const result = await readBrief(kb, await queueSection(opts.kb));
      reportSkipped(result.skipped);
      if (opts.json) printJson(result.brief);
      else console.log(result.text);
    }));

  program
    .command("read-meta")
    .description("the full meta-synthesis (regenerated when the cards changed)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const result = await readMeta(openKnowledgeBase(checkBase(opts.kb, true)));
      reportSkipped(result.skipped);
      if (opts.json) {
        printJson({ path: result.path, regenerated: result.regenerated, text: result.text });
      } else console.log(result.text.trimEnd());
    }));

  program
    .command("coverage")
    .description("experiments per taxonomy category; zero shows as unexplored")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const result = await coverage(openKnowledgeBase(checkBase(opts.kb, true)));
      reportSkipped(result.skipped);
      if (opts.json) {
        printJson({ categories: result.synthesis.coverage, free_tags: result.synthesis.freeTags });
      } else console.log(result.text);
    }));

  program
    .command("synthesize")
    .description("write a session report to views/sessions/<session>.md")
    .requiredOption("--session <tag>", "the session to report on")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const result = await writeSessionReport(
        openKnowledgeBase(checkBase(opts.kb, true)),
        opts.session,
      );
      reportSkipped(result.skipped);
      if (opts.json) printJson({ path: result.path, text: result.text });
      else console.log(`${result.text.trimEnd()}\n\n(written to ${result.path})`);
    }));

  program
    .command("update-meta")
    .description("rebuild the meta-synthesis views/meta.md from all cards")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const result = await updateMeta(openKnowledgeBase(checkBase(opts.kb, false)));
      reportSkipped(result.skipped);
      const summary = {
        path: result.path,
        cards: result.synthesis.total,
        classes: result.synthesis.classes.length,
        confirmed: result.synthesis.findings.filter((f) => f.confirmed).length,
      };
      if (opts.json) printJson(summary);
      else {
        console.log(
          `meta-synthesis of ${summary.cards} cards (${summary.classes} classes, ` +
            `${summary.confirmed} confirmed findings) written to ${summary.path}`,
        );
      }
    }));

  program
    .command("plot")
    .description("SVG of val_bpb over time with the running best per comparability class")
    .option("--out <file>", "output path (default <kb>/views/progress.svg)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const result = await writePlot(openKnowledgeBase(checkBase(opts.kb, false)), opts.out);
      reportSkipped(result.skipped);
      if (opts.json) printJson({ path: result.path, points: result.points, best: result.best });
      else console.log(`plotted ${result.points} results to ${result.path}`);
    }));

  program
    .command("retract")
    .description("retract a card (an append-only record; the card stays, flagged)")
    .requiredOption("--id <card-id>", "the card to retract")
    .option("--reason <text>", "why")
    .option("--reason-file <file>", "reason from a file (- for stdin)")
    .option("--agent <name>", "who retracts it (env AUTORESEARCH_AGENT, USER)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      checkCardId(opts.id, "--id");
      const reason = await textOption("--reason", opts.reason, opts.reasonFile);
      if (reason === undefined) throw new UsageError("--reason", "is required");
      const record = await openKnowledgeBase(checkBase(opts.kb, true)).retract(
        opts.id,
        reason,
        opts.agent ?? defaultAgent(),
      ).catch((error) => {
        if (error instanceof UsageError && error.field === "reason") {
          throw new UsageError("--reason", error.rule);
        }
        throw error;
      });
      if (opts.json) printJson(record);
      else console.log(`${record.card_id} retracted (${record.id})`);
    }));

  program
    .command("update-index")
    .description("rebuild the derived index from the card files, from scratch")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const kb = openKnowledgeBase(checkBase(opts.kb, true));
      const report = await kb.rebuildIndex();
      const cards = (await kb.listCards()).length;
      reportSkipped(report.skipped);
      if (opts.json) printJson({ cards, records: report.added, skipped: report.skipped });
      else {
        console.log(
          `indexed ${cards} cards (${report.added} records), ${report.skipped.length} skipped`,
        );
      }
    }));

  program
    .command("show-card")
    .description("print one card with its judgement and retractions")
    .argument("<id>", "card id")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action((id, opts) => {
      const detail = openKnowledgeBase(checkBase(opts.kb, true)).getCard(id);
      reportSkipped(detail.skipped);
      if (opts.json) {
        printJson(detail);
        return;
      }
      const c = detail.card;
      const line = (key: string, value: unknown) =>
        console.log(
          `${key.padEnd(16)} ${oneLine(typeof value === "string" ? value : JSON.stringify(value))}`,
        );
      line("id", c.id);
      line("status", detail.retracted ? `${detail.status} (retracted)` : detail.status);
      if (detail.completion) {
        const verdict = detail.completion.verdict
          ? `, judge said ${detail.completion.verdict}`
          : "";
        line(
          "judged",
          `${detail.completion.status} by ${detail.completion.agent} (${detail.completion.id}` +
            `${verdict})` + (detail.disputed ? " DISPUTED: another judgement competes" : ""),
        );
      }
      for (const other of detail.completions) {
        if (other.id === detail.completion?.id) continue;
        const why = other.reason ? `: ${other.reason}` : "";
        const link = other.supersedes?.length ? `, supersedes ${other.supersedes.join(" ")}` : "";
        line("judgement", `${other.status} by ${other.agent} (${other.id}${link})${why}`);
      }
      for (const r of detail.retractions) line("retracted", `${r.reason} (by ${r.agent}, ${r.id})`);
      line("timestamp", c.timestamp);
      line("agent", c.agent);
      line("session", c.session);
      if (c.commit) line("commit", c.commit);
      line("hypothesis", c.hypothesis);
      const lesson = detail.completion?.lesson ?? c.lesson;
      if (lesson) line("lesson", lesson);
      line("val_bpb", c.results.val_bpb === null ? "null (crash)" : String(c.results.val_bpb));
      line("results", c.results);
      line("tags", c.tags.join(", "));
      line("prior_cards", c.prior_cards.join(", "));
      line("platform", c.platform);
      line("harness_hash", c.harness_hash);
      line("recipe_hash", c.recipe_hash);
      line("budget_s", String(c.budget_s));
      line("seed", String(c.seed));
      line("config", c.config);
      if (c.recipe_diff) line("recipe_diff", `${c.recipe_diff.length} characters (see --json)`);
    }));

  program
    .command("lineage")
    .description("ancestors and descendants of a card through prior_cards")
    .argument("<id>", "card id")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (id, opts) => {
      const kb = openKnowledgeBase(checkBase(opts.kb, true));
      const lineage = await lineageOf(kb, id);
      if (opts.json) {
        printJson(lineage);
        return;
      }
      console.log(`card ${cardLine(lineage.card)}`);
      console.log(`ancestors (${lineage.ancestors.length}):`);
      for (const a of lineage.ancestors) {
        console.log(
          `  ${"-".repeat(a.depth)} ${a.card ? cardLine(a.card) : `${a.id} (unknown card)`}`,
        );
      }
      console.log(`descendants (${lineage.descendants.length}):`);
      for (const d of lineage.descendants) {
        console.log(`  ${"+".repeat(d.depth)} ${cardLine(d.card)}`);
      }
    }));

  program
    .command("list-cards")
    .description("one line per card: id, status, val_bpb, session, hypothesis")
    .option("--session <tag>", "only this session")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const kb = openKnowledgeBase(checkBase(opts.kb, true));
      const cards = await kb.listCards({ session: opts.session });
      reportSkipped(kb.lastSkipped);
      if (opts.json) printJson(cards);
      else for (const card of cards) console.log(cardLine(card));
    }));
}

async function lineageOf(kb: KnowledgeBase, id: string) {
  checkCardId(id);
  const lineage = await kb.lineage(id);
  reportSkipped(kb.lastSkipped);
  return lineage;
}
