/**
 * One experiment run, end to end, as upstream's `uv run train.py`: train the recipe for the
 * budget, write a checkpoint (plain data) before evaluation, evaluate val_bpb on the fixed
 * validation slice, print the summary block, and record a `pending` card in the knowledge base
 * (never an automatic keep; the agent judges it later with write-card). Both hashes of a card are
 * computed from text embedded at build time (compile-safe, no reads of the source tree):
 * - recipe_hash: the recipe's source (recipe.ts: model, optimizer and hyperparameters, the one
 *   file an agent edits) plus the effective recipe values;
 * - harness_hash: the harness source (constants, tokenizer, data, loader, bpb, loop, the model
 *   runner) plus the prepared data's identity (tokenizer and token-file digests) and the
 *   evaluation settings.
 * Two cards compare only when their harness_hash, platform, budget and seed classes agree.
 */
import recipeSource from "./recipe.ts" with { type: "text" };
import modelRunnerSource from "./model.ts" with { type: "text" };
import harnessSource from "./harness.ts" with { type: "text" };
import tokenizerSource from "./tokenizer.ts" with { type: "text" };
import dataSource from "./data.ts" with { type: "text" };
import loaderSource from "./dataloader.ts" with { type: "text" };
import bpbSource from "./bpb.ts" with { type: "text" };
import loopSource from "./loop.ts" with { type: "text" };
import type { Backend } from "../engine/backend.ts";
import { createBackend } from "../engine/create.ts";
import { detectPlatformWithGemm } from "../engine/platform.ts";
import { type BackendChoice, cpuCardPlatform, type PlatformInfo } from "../platform/mod.ts";
import {
  type CardInput,
  checkCardId,
  openKnowledgeBase,
  validateCardInput,
} from "../knowledge/mod.ts";
import { UsageError } from "../util/errors.ts";
import { atomicWrite } from "../util/atomic.ts";
import { newId } from "../util/ids.ts";
import { BestFitLoader } from "./dataloader.ts";
import { evaluateBpb } from "./bpb.ts";
import type { TokenDocs } from "./data.ts";
import type { PreparedData } from "./prepare.ts";
import { EVAL_TOKENS, SMALL_EVAL_TOKENS } from "./harness.ts";
import { microSteps, trainModel } from "./loop.ts";
import { flopsPerToken, type ModelConfig, type Recipe, recipeFor } from "./recipe.ts";
import { writeCheckpoint } from "./checkpoint.ts";
import { formatProgress, formatSummary, type RunSummary } from "./summary.ts";

/** A prepared dataset, as the trainer needs it. */
export interface TrainingData {
  /** Where the text came from (printed and recorded). */
  source: string;
  /** Tokenizer vocabulary size. */
  vocabSize: number;
  /** Raw byte length of every token (0 for specials). */
  tokenBytes: ArrayLike<number>;
  /** Training split. */
  train: TokenDocs;
  /** Validation split (its leading slice is scored). */
  val: TokenDocs;
  /** Digests that identify the prepared data (tokenizer, token files). */
  identity: Record<string, string>;
}

/** Options of `runExperiment`. */
export interface RunOptions {
  /** The prepared data. */
  data: TrainingData;
  /** Which backend (auto, cpu, webgpu). */
  backend: BackendChoice;
  /** Seconds of counted training. */
  budgetSeconds: number;
  /** Seed of the initialisation and the data order. */
  seed: number;
  /** Recipe override (default: `recipeFor` the chosen device). */
  recipe?: Recipe;
  /** Validation tokens scored (default: upstream's on a real GPU, SMALL_EVAL_TOKENS otherwise). */
  evalTokens?: number;
  /** Knowledge base to record the card in; null records nothing. */
  kb: string | null;
  /** Agent name for the card. */
  agent: string;
  /** Session tag for the card. */
  session: string;
  /** Hypothesis text for the card. */
  hypothesis: string;
  /** Git commit of the recipe, when known. */
  commit?: string;
  /** Tags for the card (normalised by the knowledge base). */
  tags?: string[];
  /** Ids of cards that inspired this run. */
  priorCards?: string[];
  /** Where the checkpoint goes (a directory). */
  checkpointDir: string;
  /** Wall-clock limit for the whole run, seconds (default 2 * budget + 600). */
  hardTimeoutSeconds?: number;
  /** Progress lines (default: stderr, rewritten in place on a terminal). */
  onProgressLine?: (line: string) => void;
  /** Informational lines (default: stderr). */
  log?: (line: string) => void;
}

/** Everything a run reports (the summary block's figures and more). */
export interface RunReport extends RunSummary {
  /** "ok", or "fail" when training diverged or hung (no val_bpb then). */
  status: "ok" | "fail";
  /** Why it failed. */
  failure: string | null;
  /** The card recorded (status pending), or null when none was recorded. */
  card_id: string | null;
  /** Checkpoint directory, or null when training failed before one was written. */
  checkpoint: string | null;
  /** Backend name and device. */
  backend: string;
  /** Platform label (comparability class). */
  platform: string;
  /** The recipe's name. */
  recipe: string;
  /** Data source. */
  data_source: string;
  /** Counted tokens per second. */
  tokens_per_second: number;
  /** Seconds spent on evaluation. */
  eval_seconds: number;
  /** Hash of everything but the recipe. */
  harness_hash: string;
  /** Hash of the recipe. */
  recipe_hash: string;
  /** Budget, seconds. */
  budget_s: number;
  /** Seed. */
  seed: number;
}

/** The harness's prepared dataset (`loadPrepared`) as training data, with its identity. */
export async function trainingDataFrom(prepared: PreparedData): Promise<TrainingData> {
  const digest = (docs: TokenDocs) =>
    sha256Bytes(new Uint8Array(docs.tokens.buffer, docs.tokens.byteOffset, docs.tokens.byteLength));
  return {
    source: `${prepared.meta.source.kind}: ${prepared.meta.name}`,
    vocabSize: prepared.tokenizer.vocabSize,
    tokenBytes: prepared.tokenBytes,
    train: prepared.train,
    val: prepared.val,
    identity: {
      tokenizer: prepared.meta.tokenizer.sha256,
      train_tokens: await digest(prepared.train),
      val_tokens: await digest(prepared.val),
    },
  };
}

/** sha256 hex of a string. */
async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** sha256 hex of bytes. */
export async function sha256Bytes(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The recipe hash: the recipe's source file and its effective values. */
export async function recipeHash(recipe: Recipe): Promise<string> {
  return await sha256(
    JSON.stringify({ recipeSource, recipe }),
  );
}

/** The harness hash: harness sources, prepared-data identity and evaluation settings. */
export async function harnessHash(
  identity: Record<string, string>,
  evalTokens: number,
): Promise<string> {
  const sources = [
    harnessSource,
    tokenizerSource,
    dataSource,
    loaderSource,
    bpbSource,
    loopSource,
    modelRunnerSource,
  ];
  const ids = Object.keys(identity).sort().map((k) => [k, identity[k]]);
  return await sha256(JSON.stringify({ sources, data: ids, evalTokens }));
}

function defaultLog(line: string): void {
  console.error(line);
}

function defaultProgress(): (line: string) => void {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  return (line: string) => {
    if (tty) Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${line}`));
    else console.error(line);
  };
}

/**
 * The wall-clock limit of a run: twice the budget plus ten minutes (startup, warm-up,
 * evaluation). The loop stops between steps past it; the CLI also arms a process watchdog for a
 * run hung inside the device.
 */
export function defaultHardTimeout(budgetSeconds: number): number {
  return 2 * budgetSeconds + 600;
}

/** Train, checkpoint, evaluate and record one run. Prints nothing on stdout. */
export async function runExperiment(opts: RunOptions): Promise<RunReport> {
  const started = performance.now();
  preflightCard(opts);
  const log = opts.log ?? defaultLog;
  const progressLine = opts.onProgressLine ?? defaultProgress();
  const platform = await detectPlatformWithGemm(opts.backend);
  const backend: Backend = await createBackend(opts.backend);
  const isRealGpu = backend.info.name === "webgpu" && !backend.info.isFallback;
  const recipe = opts.recipe ?? recipeFor(backend.info.name, backend.info.isFallback);
  // Upstream's slice on a GPU, a small one elsewhere; never more than the val split holds
  // (scoring the same tokens again adds nothing but time).
  // Capped at the val split, as documented: a larger request scores the whole split.
  const evalTokens = Math.min(
    opts.evalTokens ?? (isRealGpu ? EVAL_TOKENS : SMALL_EVAL_TOKENS),
    opts.data.val.tokens.length,
  );
  if (opts.evalTokens !== undefined && opts.evalTokens > evalTokens) {
    log(`--eval-tokens ${opts.evalTokens} capped at the val split: ${evalTokens} tokens`);
  }
  // We train in f32 everywhere, so MFU is against the f32 peak (not a bf16 H100 figure).
  const peakFlops = platform.peak ? platform.peak.fp32 : null;
  const [hHash, rHash] = await Promise.all([
    harnessHash(opts.data.identity, evalTokens),
    recipeHash(recipe),
  ]);
  const rows = recipe.deviceBatchRows;
  const seqLen = recipe.model.seqLen;
  log(
    `training ${recipe.name} on ${backend.info.device} for ${opts.budgetSeconds} s ` +
      `(${microSteps(recipe)} x ${rows}x${seqLen} tokens per step, data: ${opts.data.source})`,
  );
  const loader = new BestFitLoader(opts.data.train, {
    batchSize: rows,
    seqLen,
    shuffle: true,
    seed: opts.seed,
  });
  const hardTimeout = opts.hardTimeoutSeconds ?? defaultHardTimeout(opts.budgetSeconds);
  backend.resetPeak();
  let report: RunReport | null = null;
  try {
    const result = await trainModel({
      backend,
      recipe,
      vocabSize: opts.data.vocabSize,
      budgetSeconds: opts.budgetSeconds,
      seed: opts.seed,
      nextBatch: () => {
        const batch = loader.next().value;
        return { inputs: batch.inputs, targets: batch.targets };
      },
      peakFlops,
      hardTimeoutSeconds: hardTimeout,
      onProgress: (p) => progressLine(formatProgress(p)),
    });
    if (Deno.stderr.isTerminal() && !opts.onProgressLine) console.error("");
    const model = result.model;
    const config = result.config;
    let valBpb: number | null = null;
    let checkpoint: string | null = null;
    let evalSeconds = 0;
    try {
      if (result.failure === null) {
        checkpoint = opts.checkpointDir;
        const snapshot = await model.snapshot();
        await writeCheckpoint(
          checkpoint,
          config,
          model.params.map((p) => ({
            name: p.name,
            shape: [...p.shape],
            values: snapshot.get(p.name)!,
          })),
          result.steps,
          { recipe: recipe.name, seed: opts.seed, harness_hash: hHash, recipe_hash: rHash },
        );
        log(`checkpoint written: ${checkpoint} (evaluating next)`);
        const evalStart = performance.now();
        const bpb = await evaluateBpb(
          (inputs, targets, shape) => model.perTokenLoss(inputs, targets, shape.batchSize),
          opts.data.val,
          opts.data.tokenBytes,
          { batchSize: rows, seqLen, evalTokens },
        );
        evalSeconds = (performance.now() - evalStart) / 1000;
        valBpb = bpb.bpb;
        log(`evaluated ${bpb.tokens} validation tokens in ${evalSeconds.toFixed(1)} s`);
        if (bpb.wrapped) log("note: the validation slice is longer than the val split (wrapped)");
      }
    } finally {
      model.dispose();
    }
    const memory = backend.memory();
    report = {
      val_bpb: valBpb,
      training_seconds: result.trainingSeconds,
      total_seconds: (performance.now() - started) / 1000,
      peak_vram_mb: memory.peakInUseBytes / 1024 / 1024,
      mfu_percent: result.mfuPercent,
      total_tokens_M: result.totalTokens / 1e6,
      num_steps: result.steps,
      num_params_M: model.numParams / 1e6,
      depth: config.depth,
      status: result.failure === null ? "ok" : "fail",
      failure: result.failure,
      card_id: null,
      checkpoint,
      backend: `${backend.info.name}: ${backend.info.device}`,
      platform: platform.label,
      recipe: recipe.name,
      data_source: opts.data.source,
      tokens_per_second: result.tokensPerSecond,
      eval_seconds: evalSeconds,
      harness_hash: hHash,
      recipe_hash: rHash,
      budget_s: opts.budgetSeconds,
      seed: opts.seed,
    };
    if (opts.kb !== null) {
      report.card_id = await recordCard(opts, report, recipe, config, platform, backend);
    }
    return report;
  } finally {
    backend.destroy();
  }
}

/** The card input of a run (status pending; a failed run is a crash with val_bpb null). */
function cardInput(
  opts: RunOptions,
  report: RunReport,
  recipe: Recipe,
  config: ModelConfig,
  platform: PlatformInfo,
  backend: Backend,
): CardInput {
  return {
    agent: opts.agent,
    session: opts.session,
    hypothesis: opts.hypothesis,
    ...(opts.commit ? { commit: opts.commit } : {}),
    tags: opts.tags ?? [],
    prior_cards: opts.priorCards ?? [],
    platform: {
      backend: backend.info.name,
      ...cpuCardPlatform(platform.cpu),
      ...(backend.info.name === "webgpu"
        ? {
          device: platform.gpu?.description || backend.info.device,
          vendor: platform.gpu?.vendor || "unknown",
        }
        : {}),
    },
    harness_hash: report.harness_hash,
    recipe_hash: report.recipe_hash,
    budget_s: opts.budgetSeconds,
    seed: opts.seed,
    config: {
      recipe: recipe.name,
      model: config,
      optim: recipe.optim,
      total_batch_tokens: recipe.totalBatchTokens,
      device_batch_rows: recipe.deviceBatchRows,
      warmup_steps: recipe.warmupSteps,
      data_source: opts.data.source,
    },
    results: {
      val_bpb: report.val_bpb,
      peak_memory_mb: report.peak_vram_mb,
      training_seconds: report.training_seconds,
      num_steps: report.num_steps,
      total_tokens: Math.round(report.total_tokens_M * 1e6),
      num_params: Math.round(report.num_params_M * 1e6),
      estimated_flops: flopsPerToken(config) * report.total_tokens_M * 1e6,
      mfu_percent: report.mfu_percent,
    },
    // A finished run waits for the agent's judgement; a run that diverged or hung has no
    // val_bpb and is recorded as what it is, a crash (the schema allows null only there).
    status: report.val_bpb === null ? "crash" : "pending",
  };
}

/**
 * Check the card fields a user supplies (agent, session, hypothesis, tags, prior cards) BEFORE
 * training, so bad input fails at once (exit 2) instead of after the budget is spent.
 */
export function preflightCard(
  opts: Pick<
    RunOptions,
    "kb" | "agent" | "session" | "hypothesis" | "tags" | "priorCards" | "budgetSeconds" | "seed"
  >,
): void {
  if (opts.kb === null) return;
  const placeholder = {
    agent: opts.agent,
    session: opts.session,
    hypothesis: opts.hypothesis,
    tags: opts.tags ?? [],
    prior_cards: opts.priorCards ?? [],
    platform: { backend: "cpu", device: "x", vendor: "x", cores: 1, memory_gb: 1 },
    harness_hash: "0".repeat(64),
    recipe_hash: "0".repeat(64),
    budget_s: opts.budgetSeconds,
    seed: opts.seed,
    config: {},
    results: { val_bpb: 1 },
    status: "pending",
  };
  validateCardInput(placeholder);
  const kb = openKnowledgeBase(opts.kb);
  try {
    for (const prior of opts.priorCards ?? []) {
      checkCardId(prior, "--prior-cards");
      try {
        Deno.statSync(kb.cardPath(prior));
      } catch {
        throw new UsageError("--prior-cards", `card ${prior} does not exist in ${opts.kb}`);
      }
    }
  } finally {
    kb.close();
  }
}

async function recordCard(
  opts: RunOptions,
  report: RunReport,
  recipe: Recipe,
  config: ModelConfig,
  platform: PlatformInfo,
  backend: Backend,
): Promise<string> {
  const kb = openKnowledgeBase(opts.kb!);
  try {
    const card = await kb.writeCard(cardInput(opts, report, recipe, config, platform, backend));
    return card.id;
  } finally {
    kb.close();
  }
}

/** A CPU vendor guessed from its model name (cards want one). */
/** The report as upstream's summary block (what `train` prints on stdout). */
export function summaryText(report: RunReport): string {
  return formatSummary(report);
}

/** Write the report as JSON to `path` atomically. */
export async function writeResults(path: string, report: RunReport): Promise<void> {
  await atomicWrite(path, `${JSON.stringify(report, null, 2)}\n`);
}

/** A fresh run id for checkpoint folders. */
export function newRunId(): string {
  return newId("run");
}
