/**
 * One experiment run, end to end, as upstream's `uv run train.py`: load the recipe (at run time,
 * recipe_loader.ts), train it for the budget, write a checkpoint (plain data) before evaluation,
 * evaluate val_bpb on the fixed validation slice (evaluation.ts), print the summary block, and
 * record a `pending` card in the knowledge base (never an automatic keep; the agent judges it
 * later). A recipe that does not load or throws, a diverged or hung run and a non-finite val_bpb
 * are failed runs: a `crash` card with val_bpb null and the error in one line. The hashes:
 * - recipe_hash: the recipe file's bytes plus its effective values (after any config change);
 * - harness_hash: every source that is not the recipe and can change a result (engine ops,
 *   optimizers, CPU and WGSL kernels, the harness: harness_sources.ts, embedded at build time),
 *   the prepared data's identity (tokenizer and token-file digests) and the evaluation settings.
 * Two cards compare only when their harness_hash, platform and budget agree.
 */
import type { Backend } from "../engine/backend.ts";
import { createBackend } from "../engine/create.ts";
import { detectPlatformWithGemm } from "../engine/platform.ts";
import { type BackendChoice, cpuCardPlatform, type PlatformInfo } from "../platform/mod.ts";
import {
  type CardInput,
  checkCardId,
  LIMITS,
  openKnowledgeBase,
  validateCardInput,
} from "../knowledge/mod.ts";
import { UsageError } from "../util/errors.ts";
import { atomicWrite } from "../util/atomic.ts";
import { newId } from "../util/ids.ts";
import { oneLine } from "../util/text.ts";
import { BestFitLoader } from "./dataloader.ts";
import { evaluateBpb } from "./bpb.ts";
import type { TokenDocs } from "./data.ts";
import type { PreparedData } from "./prepare.ts";
import { microSteps, trainModel } from "./loop.ts";
import {
  applyConfigChange,
  checkRecipeConfig,
  type LoadedRecipe,
  type ModelConfig,
  type Recipe,
  recipeName,
} from "./recipe.ts";
import { callRecipe, DEFAULT_RECIPE_SOURCE, evaluateRecipe, RecipeError } from "./recipe_loader.ts";
import { type EvalSettings, evalSettings } from "./evaluation.ts";
import { HARNESS_SOURCES } from "./harness_sources.ts";
import { writeCheckpoint } from "./checkpoint.ts";
import { formatSummary, type RunSummary } from "./summary.ts";
import { progressDisplay, progressLines } from "./progress.ts";

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
  /** The recipe's text and where it came from (default: the embedded default recipe). */
  recipe?: RecipeText;
  /** A config change applied to the recipe's values (dotted keys, C1/C2). */
  configChange?: Record<string, unknown>;
  /** Replace the recipe's values outright (tests; checked by the same rules). */
  configOverride?: Recipe;
  /** Validation tokens scored (default: upstream's on a real GPU, SMALL_EVAL_TOKENS otherwise). */
  evalTokens?: number;
  /** Group id shared by the seeds of one idea (`train --seeds N`, a queue item). */
  group?: string;
  /** Queue item id this run belongs to (`train --item`). */
  item?: string;
  /** True when the workspace had uncommitted changes at the start of the run. */
  dirty?: boolean;
  /** The uncommitted diff of the recipe, stored with the card of a dirty run. */
  recipeDiff?: string;
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
  /** Progress lines (default: a progress bar on a terminal, else one stderr line per step). */
  onProgressLine?: (line: string) => void;
  /** Informational lines (default: stderr). */
  log?: (line: string) => void;
}

/** A recipe's source text and where it came from. */
export interface RecipeText {
  /** Its text. */
  source: string;
  /** The file it was read from; null for the embedded default. */
  path: string | null;
}

/** Everything a run reports (the summary block's figures and more). */
export interface RunReport extends RunSummary {
  /** "ok", or "fail" when the recipe did not load, training diverged or hung, or val_bpb is not finite. */
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
  /** The recipe's name (derived from its values). */
  recipe: string;
  /** The recipe file, or null for the embedded default. */
  recipe_path: string | null;
  /** The fixed evaluation (slice tokens, context). */
  eval: { tokens: number; seq_len: number };
  /** 1-minute load average at the end of training (0 where the OS has none). */
  load_avg: number;
  /** Group id of the seeds of one idea, or null. */
  group: string | null;
  /** Queue item id, or null. */
  item: string | null;
  /** True when the workspace had uncommitted changes. */
  dirty: boolean;
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

/** The recipe hash: the recipe file's text plus its effective values (null: did not load). */
export async function recipeHash(source: string, config: Recipe | null): Promise<string> {
  return await sha256(JSON.stringify({ source, config }));
}

/**
 * The harness hash: every harness and engine source that can change a result, the prepared
 * data's identity, the evaluation settings, and the CPU matmul kernels in use (`kernels`: the
 * sgemm chosen on this machine sums in its own order; see gemm/select.ts).
 */
export async function harnessHash(
  identity: Record<string, string>,
  evaluation: EvalSettings,
  kernels = "",
): Promise<string> {
  const sources = Object.keys(HARNESS_SOURCES).sort().map((k) => [k, HARNESS_SOURCES[k]]);
  const ids = Object.keys(identity).sort().map((k) => [k, identity[k]]);
  const parts = { sources, data: ids, evaluation, ...(kernels ? { kernels } : {}) };
  return await sha256(JSON.stringify(parts));
}

/** An sgemm selection as far as the harness hash needs it. */
interface KernelChoice {
  chosen: string | null;
  candidates: readonly { id: string; core: string }[];
}

/**
 * The CPU matmul kernels of an sgemm selection: the BLAS core type ("blas:Cooperlake") or the
 * candidate ("wasm"); "" when nothing was chosen by measurement.
 */
export function sgemmKernels(choice: KernelChoice | undefined): string {
  if (!choice?.chosen) return "";
  const chosen = choice.candidates.find((c) => c.id === choice.chosen);
  return chosen?.core ? `blas:${chosen.core}` : choice.chosen;
}

/** The CPU matmul kernels a run uses ("" on WebGPU): see `sgemmKernels`. */
export function cpuKernels(platform: PlatformInfo, backend: Backend): string {
  return backend.info.name === "cpu" ? sgemmKernels(platform.sgemm) : "";
}

/**
 * WebGPU matmul tuning at first use (src/engine/webgpu/tune.ts) at the precision the user
 * allows (precision.ts), or null on the CPU. Loaded on demand, as the WebGPU backend itself is.
 */
async function startTuning(backend: Backend, log: (line: string) => void) {
  if (backend.info.name !== "webgpu") return null;
  const { WebGpuBackend } = await import("../engine/webgpu/backend.ts");
  if (!(backend instanceof WebGpuBackend)) return null;
  const { startRunTuning } = await import("./precision.ts");
  return await startRunTuning(backend, { log });
}

/** The 1-minute load average (0 where the OS reports none). */
function loadAverage(): number {
  try {
    const [one] = Deno.loadavg();
    return Number.isFinite(one) && one >= 0 ? one : 0;
  } catch {
    return 0;
  }
}

function defaultLog(line: string): void {
  console.error(line);
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
  const progress = opts.onProgressLine
    ? progressLines(opts.onProgressLine)
    : progressDisplay({ budgetSeconds: opts.budgetSeconds });
  const platform = await detectPlatformWithGemm(opts.backend);
  const backend: Backend = await createBackend(opts.backend);
  try {
    const gpu = backend.info.name === "webgpu" && !backend.info.isFallback;
    const evaluation = evalSettings(gpu, opts.data.val.tokens.length, opts.evalTokens);
    if (opts.evalTokens !== undefined && opts.evalTokens > opts.data.val.tokens.length) {
      // Capped as documented (never silently): the val split is all there is to score.
      log(
        `--eval-tokens ${opts.evalTokens} capped at the val split: ` +
          `${opts.data.val.tokens.length} tokens (${evaluation.tokens} scored)`,
      );
    }
    let hHash = await harnessHash(opts.data.identity, evaluation, cpuKernels(platform, backend));
    const text = opts.recipe ?? { source: DEFAULT_RECIPE_SOURCE, path: null };
    const run: RunContext = { opts, platform, backend, evaluation, hHash, started, text };
    let recipe: LoadedRecipe;
    try {
      recipe = loadForRun(text, { backend: backend.info.name, gpu }, opts);
    } catch (error) {
      if (!(error instanceof RecipeError)) throw error;
      log(`error: the recipe did not load: ${oneLine(error.message)}`);
      return await finishRun(run, null, failedTraining(error.message), null, 0);
    }
    const config = recipe.config;
    const rows = config.deviceBatchRows;
    const seqLen = config.model.seqLen;
    log(
      `training ${recipeName(config)} (${text.path ?? "embedded default recipe"}) on ` +
        `${backend.info.device} for ${opts.budgetSeconds} s (${microSteps(config)} x ` +
        `${rows}x${seqLen} tokens per step, data: ${opts.data.source})`,
    );
    const loader = new BestFitLoader(opts.data.train, {
      batchSize: rows,
      seqLen,
      shuffle: true,
      seed: opts.seed,
    });
    const hardTimeout = opts.hardTimeoutSeconds ?? defaultHardTimeout(opts.budgetSeconds);
    const tuning = await startTuning(backend, log);
    const peakFlops = platform.peak ? platform.peak.fp32 : null;
    backend.resetPeak();
    let result: Awaited<ReturnType<typeof trainModel>>;
    try {
      result = await trainModel({
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
        maxSeqLen: evaluation.seqLen,
        onProgress: (p) => progress.update(p),
        tune: tuning ? () => tuning.finish() : undefined,
      });
    } catch (error) {
      progress.stop();
      if (error instanceof UsageError) throw error;
      const message = error instanceof RecipeError
        ? error.message
        : `training threw: ${errorLine(error)}`;
      return await finishRun(run, recipe, failedTraining(message), null, loadAverage());
    }
    const loadAvg = loadAverage();
    progress.stop();
    if (tuning) {
      // The WebGPU matmul and attention variants the run ended on sum in their own order.
      hHash = run.hHash = await harnessHash(opts.data.identity, evaluation, tuning.kernels());
    }
    const model = result.model;
    let valBpb: number | null = null;
    let checkpoint: string | null = null;
    let evalSeconds = 0;
    let failure = result.failure;
    try {
      if (failure === null) {
        checkpoint = opts.checkpointDir;
        const snapshot = await model.snapshot();
        await writeCheckpoint(
          checkpoint,
          result.config,
          model.params.map((p) => ({
            name: p.name,
            shape: [...p.shape],
            values: snapshot.get(p.name)!,
          })),
          result.steps,
          {
            recipe: recipeName(config),
            seed: opts.seed,
            harness_hash: hHash,
            recipe_hash: await recipeHash(text.source, config),
          },
        );
        log(`checkpoint written: ${checkpoint} (evaluating next)`);
        const evalStart = performance.now();
        const label = text.path ?? "default recipe";
        const bpb = await evaluateBpb(
          (inputs, targets, shape) =>
            callRecipe(
              label,
              "forward",
              () => model.perTokenLoss(inputs, targets, shape.batchSize),
            ),
          opts.data.val,
          opts.data.tokenBytes,
          { batchSize: evaluation.rows, seqLen: evaluation.seqLen, evalTokens: evaluation.tokens },
        );
        evalSeconds = (performance.now() - evalStart) / 1000;
        log(
          `evaluated ${bpb.tokens} validation tokens (context ${evaluation.seqLen}) in ` +
            `${evalSeconds.toFixed(1)} s`,
        );
        if (bpb.wrapped) log("note: the validation slice is longer than the val split (wrapped)");
        if (Number.isFinite(bpb.bpb)) valBpb = bpb.bpb;
        else failure = `val_bpb is ${bpb.bpb} (the model's losses are not finite)`;
      }
    } catch (error) {
      if (error instanceof UsageError) throw error;
      failure = error instanceof RecipeError
        ? error.message
        : `evaluation threw: ${errorLine(error)}`;
    } finally {
      model.dispose();
    }
    return await finishRun(
      run,
      recipe,
      { ...result, failure, evalSeconds, valBpb, checkpoint },
      result.config,
      loadAvg,
    );
  } finally {
    backend.destroy();
  }
}

/** What every way out of a run needs. */
interface RunContext {
  opts: RunOptions;
  platform: PlatformInfo;
  backend: Backend;
  evaluation: EvalSettings;
  hHash: string;
  started: number;
  text: RecipeText;
}

/** How training and evaluation went. */
interface TrainingOutcome {
  failure: string | null;
  valBpb: number | null;
  checkpoint: string | null;
  evalSeconds: number;
  trainingSeconds: number;
  mfuPercent: number;
  totalTokens: number;
  steps: number;
  tokensPerSecond: number;
  model: { numParams: number } | null;
}

function failedTraining(failure: string): TrainingOutcome {
  return {
    failure,
    valBpb: null,
    checkpoint: null,
    evalSeconds: 0,
    trainingSeconds: 0,
    mfuPercent: 0,
    totalTokens: 0,
    steps: 0,
    tokensPerSecond: 0,
    model: null,
  };
}

/** The recipe of a run: evaluated for the device, with the config change or override applied. */
function loadForRun(
  text: RecipeText,
  device: { backend: "cpu" | "webgpu"; gpu: boolean },
  opts: RunOptions,
): LoadedRecipe {
  let recipe = evaluateRecipe(text.source, text.path, device);
  if (opts.configOverride) {
    const config = structuredClone(opts.configOverride);
    checkRecipeConfig(config, recipe.module.constraints ?? []);
    recipe = { ...recipe, config };
  }
  if (opts.configChange && Object.keys(opts.configChange).length > 0) {
    recipe = applyConfigChange(recipe, opts.configChange);
  }
  return recipe;
}

/** Build the report, record the card (when a knowledge base is given) and return the report. */
async function finishRun(
  run: RunContext,
  recipe: LoadedRecipe | null,
  outcome: TrainingOutcome,
  modelConfig: ModelConfig | null,
  loadAvg: number,
): Promise<RunReport> {
  const { opts, backend, evaluation } = run;
  const config = recipe?.config ?? null;
  const memory = backend.memory();
  const report: RunReport = {
    val_bpb: outcome.failure === null ? outcome.valBpb : null,
    training_seconds: outcome.trainingSeconds,
    total_seconds: (performance.now() - run.started) / 1000,
    peak_vram_mb: memory.peakInUseBytes / 1024 / 1024,
    mfu_percent: outcome.mfuPercent,
    total_tokens_M: outcome.totalTokens / 1e6,
    num_steps: outcome.steps,
    num_params_M: (outcome.model?.numParams ?? 0) / 1e6,
    depth: typeof modelConfig?.depth === "number" ? modelConfig.depth : 0,
    status: outcome.failure === null ? "ok" : "fail",
    failure: outcome.failure,
    card_id: null,
    checkpoint: outcome.checkpoint,
    backend: `${backend.info.name}: ${backend.info.device}`,
    platform: run.platform.label,
    recipe: config ? recipeName(config) : "unloadable recipe",
    recipe_path: run.text.path,
    data_source: opts.data.source,
    tokens_per_second: outcome.tokensPerSecond,
    eval_seconds: outcome.evalSeconds,
    eval: { tokens: evaluation.tokens, seq_len: evaluation.seqLen },
    load_avg: loadAvg,
    group: opts.group ?? null,
    item: opts.item ?? null,
    dirty: opts.dirty === true,
    harness_hash: run.hHash,
    recipe_hash: await recipeHash(run.text.source, config),
    budget_s: opts.budgetSeconds,
    seed: opts.seed,
  };
  if (opts.kb !== null) {
    const flops = recipe && config
      ? safeFlops(recipe, opts.data.vocabSize) * outcome.totalTokens
      : undefined;
    report.card_id = await recordCard(
      opts,
      cardInput(opts, report, config, flops, run.platform, backend),
    );
  }
  return report;
}

function safeFlops(recipe: LoadedRecipe, vocabSize: number): number {
  try {
    const flops = recipe.module.flopsPerToken(recipe.config, vocabSize);
    return Number.isFinite(flops) && flops >= 0 ? flops : 0;
  } catch {
    return 0;
  }
}

/** An error as one line: its name and the first line of its message. */
function errorLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split("\n")[0];
}

/** A diff cut to the card's limit, saying so when it was cut. */
function fitDiff(diff: string): string {
  const max = LIMITS.recipeDiff;
  if (diff.length <= max) return diff;
  const note = "\n[diff cut at the card's limit]\n";
  return diff.slice(0, max - note.length) + note;
}

/** The card input of a run (status pending; a failed run is a crash with val_bpb null). */
function cardInput(
  opts: RunOptions,
  report: RunReport,
  config: Recipe | null,
  estimatedFlops: number | undefined,
  platform: PlatformInfo,
  backend: Backend,
): CardInput {
  const failed = report.val_bpb === null;
  return {
    agent: opts.agent,
    session: opts.session,
    hypothesis: opts.hypothesis,
    ...(opts.commit ? { commit: opts.commit } : {}),
    ...(opts.dirty ? { dirty: true } : {}),
    ...(opts.dirty && opts.recipeDiff ? { recipe_diff: fitDiff(opts.recipeDiff) } : {}),
    ...(failed && report.failure ? { error: report.failure.slice(0, LIMITS.text) } : {}),
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
    config: (config ?? {}) as unknown as Record<string, unknown>,
    eval: report.eval,
    ...(opts.group ? { group: opts.group } : {}),
    ...(opts.item ? { item: opts.item } : {}),
    results: {
      val_bpb: report.val_bpb,
      peak_memory_mb: report.peak_vram_mb,
      training_seconds: report.training_seconds,
      num_steps: report.num_steps,
      total_tokens: Math.round(report.total_tokens_M * 1e6),
      num_params: Math.round(report.num_params_M * 1e6),
      ...(estimatedFlops !== undefined ? { estimated_flops: estimatedFlops } : {}),
      mfu_percent: report.mfu_percent,
      load_avg: report.load_avg,
    },
    // A finished run waits for the agent's judgement; a run that failed has no val_bpb and is
    // recorded as what it is, a crash (the schema allows null only there).
    status: failed ? "crash" : "pending",
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

async function recordCard(opts: RunOptions, input: CardInput): Promise<string> {
  const kb = openKnowledgeBase(opts.kb!);
  try {
    const card = await kb.writeCard(input);
    return card.id;
  } finally {
    kb.close();
  }
}

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
