/**
 * Trainer benchmark: first the WebGPU step of the GPU recipe (tokens/s, MFU against the
 * adapter's f32 peak, dispatches and submits per step, per-kernel device time;
 * bench/webgpu/step.ts; a tiny config on a software adapter); then tokens/s of a full training
 * step (forward, backward, optimizer) of the reference CPU config (depth 4, width 256, head_dim 64, seq 256, vocab 4096, 16384 tokens/step)
 * and of the CPU default recipe (same model, 2048 tokens/step), each beside PyTorch's figure
 * measured in the same run (scripts/golden_train.py --bench, when .venv has torch); a per-op
 * profile of the reference step (where the time goes outside matmul); and the val_bpb and evaluation speed of the default 60 s run on the embedded corpus.
 * `AUTORESEARCH_BENCH_QUICK=1` skips the 60 s run.
 */
import { createBackend } from "../src/engine/create.ts";
import type { Backend } from "../src/engine/backend.ts";
import { requestAdapter } from "../src/platform/mod.ts";
import { ModelRunner } from "../src/train/model.ts";
// The frozen reference recipe (never the live one), so figures compare over time.
import {
  CPU_RECIPE,
  createOptimizer,
  GPT,
  GPU_RECIPE,
  type Recipe,
} from "../tests/train/reference_recipe.ts";
import { REFERENCE_RECIPE_TEXT } from "../tests/train/model_helpers.ts";
import { microSteps } from "../src/train/loop.ts";
import { printProfile, profileBackend } from "./op_profile.ts";
import { loadPrepared, prepare } from "../src/train/prepare.ts";
import { runExperiment, trainingDataFrom } from "../src/train/run.ts";
import type { WebGpuBackend } from "../src/engine/webgpu/mod.ts";
import { BENCH_VOCAB } from "./webgpu/shapes.ts";
import {
  KERNEL_HEADERS,
  kernelRows,
  measureStep,
  type StepFigures,
  stepSummary,
} from "./webgpu/step.ts";
import { adapterPeaks, printTable } from "./webgpu/table.ts";

/** ARCHITECTURE.md's reference CPU config (the CPU default recipe is smaller). */
const REFERENCE: Recipe = {
  ...CPU_RECIPE,
  model: {
    ...CPU_RECIPE.model,
    depth: 4,
    width: 256,
    headDim: 64,
    seqLen: 256,
    windowPattern: "L",
  },
  totalBatchTokens: 16384,
  deviceBatchRows: 16,
};
const PYTORCH_STATED = 1300;

/** Best tokens/s over `steps` timed steps (after one warm-up step); `onWarm` runs after it. */
async function stepTokensPerSecond(
  backend: Backend,
  steps: number,
  recipe: Recipe = REFERENCE,
  onWarm: () => void = () => {},
): Promise<number> {
  const cfg = { ...recipe.model, vocabSize: 4096 };
  const net = new GPT(backend, cfg, 1);
  const model = new ModelRunner(net);
  const optimizer = createOptimizer(net, recipe.optim);
  const rows = recipe.deviceBatchRows;
  const micro = microSteps(recipe);
  const n = rows * cfg.seqLen;
  const ids = new Int32Array(n).map((_, i) => (i * 7919) % 4096);
  const targets = ids.map((x) => (x * 31 + 7) % 4096);
  const loss = backend.alloc("f32", 1);
  let best = Infinity;
  try {
    for (let step = 0; step <= steps; step++) {
      const t0 = performance.now();
      model.zeroGrads();
      backend.fill({ out: loss, value: 0 });
      for (let m = 0; m < micro; m++) {
        model.forward(ids, targets, rows);
        model.accumulateLoss(loss, 1 / micro);
        model.backward(1 / micro);
      }
      optimizer.step(step, 0);
      await backend.read(loss);
      if (step > 0) best = Math.min(best, performance.now() - t0);
      if (step === 0) onWarm();
    }
  } finally {
    backend.free(loss);
    optimizer.dispose();
    model.dispose();
  }
  return (micro * n) / (best / 1000);
}

/** PyTorch's tokens/s on the same config, measured now, or null without .venv torch. */
async function pytorchTokensPerSecond(recipe: Recipe): Promise<number | null> {
  const python = new URL("../.venv/bin/python", import.meta.url).pathname;
  const script = new URL("../scripts/golden_train.py", import.meta.url).pathname;
  const tokens = String(recipe.totalBatchTokens), rows = String(recipe.deviceBatchRows);
  try {
    const out = await new Deno.Command(python, {
      args: [script, "--bench", "--tokens", tokens, "--rows", rows],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) return null;
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
    return JSON.parse(line).tokens_per_second;
  } catch {
    return null;
  }
}

/** Ours beside PyTorch on one config, same run. */
async function compareWithPytorch(label: string, recipe: Recipe): Promise<void> {
  console.log(label);
  const cpu = await createBackend("cpu");
  let cpuTps: number;
  try {
    cpuTps = await stepTokensPerSecond(cpu, 3, recipe);
    console.log(`  cpu (${cpu.info.device}): ${cpuTps.toFixed(0)} tokens/s`);
  } finally {
    cpu.destroy();
  }
  const torchTps = await pytorchTokensPerSecond(recipe);
  if (torchTps !== null) {
    console.log(`  pytorch (CPU, 2 threads, fp32, same run): ${torchTps.toFixed(0)} tokens/s`);
    console.log(`  ratio cpu / pytorch: ${(cpuTps / torchTps).toFixed(2)}`);
  } else {
    console.log(
      `  pytorch: not measured (no .venv torch); stated figure ~${PYTORCH_STATED} tokens/s`,
    );
  }
}

/** Where a reference step's time goes, op by op (CPU backend). */
async function profileStep(): Promise<void> {
  const cpu = await createBackend("cpu");
  try {
    const profiled = profileBackend(cpu);
    const steps = 2;
    const t0 = { ms: 0 };
    const tps = await stepTokensPerSecond(profiled.backend, steps, REFERENCE, () => {
      profiled.reset();
      t0.ms = performance.now();
    });
    const stepMs = (performance.now() - t0.ms) / steps;
    console.log(
      `  per-op profile, reference step (${stepMs.toFixed(0)} ms/step, ${tps.toFixed(0)} tok/s):`,
    );
    printProfile(profiled.times(), stepMs, steps);
  } finally {
    cpu.destroy();
  }
}

/** What a software adapter (lavapipe) can step in seconds: 2 blocks of width 128, 256 tokens. */
const SOFTWARE_STEP: Recipe = {
  ...CPU_RECIPE,
  model: { ...CPU_RECIPE.model, depth: 2, width: 128, headDim: 64, seqLen: 128 },
  totalBatchTokens: 256,
  deviceBatchRows: 2,
};

/**
 * The WebGPU step: the GPU recipe at upstream's vocabulary on a real GPU; a tiny config on a
 * software adapter (the GPU recipe's 2^19-token step would take hours there).
 */
export async function webgpuStep(): Promise<void> {
  if (!await requestAdapter()) {
    console.log("webgpu: no adapter");
    return;
  }
  const gpu = await createBackend("webgpu") as WebGpuBackend;
  try {
    const software = gpu.info.isFallback;
    const recipe = software ? SOFTWARE_STEP : GPU_RECIPE;
    const vocab = software ? 1024 : BENCH_VOCAB;
    const m = recipe.model;
    console.log(
      `webgpu step (${gpu.info.device}): ${software ? "software adapter: a tiny config, " : ""}` +
        `d${m.depth} w${m.width} h${m.headDim} seq${m.seqLen} vocab ${vocab}, ` +
        `${recipe.totalBatchTokens} tokens/step as ${recipe.deviceBatchRows}-row micro-batches` +
        (software ? " (not the GPU recipe: 2^19 tokens of d8 w512 seq2048)" : " (GPU recipe)"),
    );
    let figures: StepFigures;
    try {
      figures = await measureStep(gpu, recipe, vocab);
    } catch (error) {
      console.log(`  failed: ${error instanceof Error ? error.message : error}`);
      return;
    }
    const peak = adapterPeaks(gpu.info.device, software).fp32;
    for (const line of stepSummary(figures, peak)) console.log(`  ${line}`);
    const profiled = figures.kernels.some((k) => k.ms !== null);
    console.log(
      profiled
        ? "  per kernel, one step (device time: every dispatch in its own timed pass):"
        : "  per kernel, one step (device time not measured: no timestamp-query):",
    );
    printTable(KERNEL_HEADERS, kernelRows(figures.kernels), "    ");
  } finally {
    gpu.destroy();
  }
}

/** Print the trainer's figures. */
export async function run(): Promise<void> {
  // The WebGPU step first: on a GPU machine it is what a time-limited check is for.
  await webgpuStep();
  await compareWithPytorch(
    "full training step, reference CPU config (d4 w256 h64 seq256 vocab4096, 16384 tok)",
    REFERENCE,
  );
  await compareWithPytorch(
    "full training step, CPU default recipe (same model, 2048 tok as 8 rows)",
    CPU_RECIPE,
  );
  await profileStep();
  if (Deno.env.get("AUTORESEARCH_BENCH_QUICK") === "1") return;
  // The default run: embedded corpus, the reference recipe's CPU values, 60 s, in a temp cache.
  const cacheRoot = await Deno.makeTempDir({ prefix: "autoresearch-bench-" });
  try {
    await prepare({ cacheRoot, source: "embedded", log: () => {} });
    const data = await trainingDataFrom(await loadPrepared({ cacheRoot }));
    const report = await runExperiment({
      data,
      backend: "cpu",
      budgetSeconds: 60,
      seed: 42,
      recipe: REFERENCE_RECIPE_TEXT,
      kb: null,
      agent: "bench",
      session: "bench",
      hypothesis: "bench",
      checkpointDir: `${cacheRoot}/checkpoint`,
      onProgressLine: () => {},
      log: () => {},
    });
    console.log(
      `default 60 s run (${report.recipe}, embedded corpus, cpu): val_bpb ` +
        `${report.val_bpb?.toFixed(4)} after ${report.num_steps} steps, ` +
        `${report.tokens_per_second.toFixed(0)} tokens/s, total ${
          report.total_seconds.toFixed(0)
        } s`,
    );
    console.log(
      `  evaluation: ${report.eval.tokens} tokens (context ${report.eval.seq_len}) in ` +
        `${report.eval_seconds.toFixed(1)} s = ${
          (report.eval.tokens / report.eval_seconds).toFixed(0)
        } tokens/s, ${(100 * report.eval_seconds / 60).toFixed(1)}% of the 60 s budget ` +
        `(${(100 * report.eval_seconds / 300).toFixed(1)}% of the default 300 s)`,
    );
  } finally {
    await Deno.remove(cacheRoot, { recursive: true });
  }
}

if (import.meta.main) await run();
