/**
 * One training step of a recipe on the WebGPU backend, taken apart: the wall time of one
 * micro-batch (forward + backward) and of one optimizer update, each ended by a sync, composed
 * into a step (micro-steps x micro-batch + update) and tokens/s and MFU against the f32 peak;
 * dispatches and submits per step, per kernel too (the dispatcher's counters); and per-kernel
 * device time from `DispatchProfiler`, which runs every dispatch in its own timed pass (an upper
 * bound: kernels cannot overlap there).
 */
import { startRunTuning } from "../../src/train/precision.ts";
import {
  DispatchProfiler,
  hasTimestamps,
  type KernelTime,
  type WebGpuBackend,
} from "../../src/engine/webgpu/mod.ts";
import { microSteps } from "../../src/train/loop.ts";
import { ModelRunner } from "../../src/train/model.ts";
// The frozen reference recipe (never the live one), so figures compare over time.
import {
  createOptimizer,
  flopsPerToken,
  GPT,
  type Recipe,
} from "../../tests/train/reference_recipe.ts";
import { fixed } from "./table.ts";

/** Counts of one phase (a micro-batch or an optimizer update). */
export interface PhaseCounts {
  /** Wall milliseconds, ended by a sync. */
  ms: number;
  /** Dispatches recorded. */
  dispatches: number;
  /** Command buffers submitted. */
  submits: number;
  /** Dispatches per kernel ("module.entry"). */
  kernels: Map<string, number>;
}

/** One kernel's share of a step. */
export interface StepKernel {
  /** "module.entry". */
  kernel: string;
  /** Dispatches per step (counted by the dispatcher). */
  dispatches: number;
  /** Device milliseconds per step (profiled), or null without timestamps. */
  ms: number | null;
}

/** A step's figures. */
export interface StepFigures {
  /** The recipe measured. */
  recipe: Recipe;
  /** Vocabulary size. */
  vocab: number;
  /** The matmul and attention variants the step ran on ("webgpu-matmul:<ids> ..."). */
  variants?: string;
  /** Micro-batches per optimizer step. */
  microSteps: number;
  /** One micro-batch. */
  micro: PhaseCounts;
  /** One optimizer update. */
  update: PhaseCounts;
  /** Per-kernel dispatches and device time of one step, slowest (then most dispatched) first. */
  kernels: StepKernel[];
}

/** Step wall milliseconds: micro-steps x micro-batch + update. */
export function stepMs(f: StepFigures): number {
  return f.microSteps * f.micro.ms + f.update.ms;
}

/** Training tokens per second. */
export function tokensPerSecond(f: StepFigures): number {
  return f.recipe.totalBatchTokens / (stepMs(f) / 1000);
}

/** Model FLOP/s (upstream's 6N + attention estimate) of the step. */
export function modelFlopsPerSecond(f: StepFigures): number {
  return tokensPerSecond(f) * flopsPerToken(f.recipe, f.vocab);
}

/** Run `fn`, sync, and return its wall time and the dispatcher's counts. */
async function phase(backend: WebGpuBackend, fn: () => void): Promise<PhaseCounts> {
  await backend.sync();
  const dispatcher = backend.dispatcher;
  dispatcher.resetCounts();
  const t0 = performance.now();
  fn();
  await backend.sync();
  return {
    ms: performance.now() - t0,
    dispatches: dispatcher.dispatchCount,
    submits: dispatcher.submitCount,
    kernels: new Map(dispatcher.kernelCounts),
  };
}

/** Per-kernel device time of `fn`, or [] when the device has no timestamps. */
async function profile(backend: WebGpuBackend, fn: () => void): Promise<KernelTime[]> {
  if (!hasTimestamps(backend)) return [];
  const profiler = new DispatchProfiler(backend.gpu.device);
  backend.dispatcher.profiler = profiler;
  try {
    fn();
    await backend.sync();
    return await profiler.collect();
  } finally {
    backend.dispatcher.profiler = null;
    profiler.destroy();
  }
}

/**
 * A step's kernels: dispatches counted in `micro` (times the micro-steps) and `update`; device
 * time from the profiles of one micro-batch (scaled likewise) and one update, when profiled.
 */
function stepKernels(
  micro: PhaseCounts,
  update: PhaseCounts,
  times: number,
  microProfile: KernelTime[],
  updateProfile: KernelTime[],
): StepKernel[] {
  const profiled = microProfile.length + updateProfile.length > 0;
  const totals = new Map<string, StepKernel>();
  const entry = (kernel: string) => {
    let total = totals.get(kernel);
    if (!total) totals.set(kernel, total = { kernel, dispatches: 0, ms: profiled ? 0 : null });
    return total;
  };
  for (const [counts, factor] of [[micro.kernels, times], [update.kernels, 1]] as const) {
    for (const [kernel, n] of counts) entry(kernel).dispatches += factor * n;
  }
  for (const [profile, factor] of [[microProfile, times], [updateProfile, 1]] as const) {
    for (const k of profile) entry(k.kernel).ms! += factor * k.ms;
  }
  return [...totals.values()].sort((a, b) =>
    (b.ms ?? 0) - (a.ms ?? 0) || b.dispatches - a.dispatches
  );
}

/**
 * Measure a step of `recipe` at `vocab`: a warm-up step (pipelines, pools, optimizer state), then
 * one timed micro-batch and update, then one profiled micro-batch and update.
 */
export async function measureStep(
  backend: WebGpuBackend,
  recipe: Recipe,
  vocab: number,
): Promise<StepFigures> {
  const net = new GPT(backend, { ...recipe.model, vocabSize: vocab }, 1);
  const model = new ModelRunner(net);
  const optimizer = createOptimizer(net, recipe.optim);
  const micro = microSteps(recipe);
  const rows = recipe.deviceBatchRows;
  const n = rows * recipe.model.seqLen;
  const ids = new Int32Array(n).map((_, i) => (i * 7919) % vocab);
  const targets = ids.map((x) => (x * 31 + 7) % vocab);
  const loss = backend.alloc("f32", 1);
  const microBatch = () => {
    model.forward(ids, targets, rows);
    model.accumulateLoss(loss, 1 / micro);
    model.backward(1 / micro);
  };
  let step = 0;
  const update = () => optimizer.step(step++, 0);
  // A run tunes at first use (real adapters, or AUTORESEARCH_WEBGPU_TUNE=1): the step is timed
  // on the kernels a run would use, from the cache the webgpu bench filled.
  const tuning = await startRunTuning(backend, { log: (line) => console.log(`  tuner: ${line}`) });
  try {
    model.zeroGrads();
    backend.fill({ out: loss, value: 0 });
    microBatch();
    await tuning.finish();
    update();
    await tuning.finish();
    await backend.read(loss);
    const microCounts = await phase(backend, microBatch);
    const updateCounts = await phase(backend, update);
    const microKernels = await profile(backend, microBatch);
    const updateKernels = await profile(backend, update);
    return {
      recipe,
      vocab,
      variants: tuning.kernels(),
      microSteps: micro,
      micro: microCounts,
      update: updateCounts,
      kernels: stepKernels(microCounts, updateCounts, micro, microKernels, updateKernels),
    };
  } finally {
    backend.free(loss);
    optimizer.dispose();
    model.dispose();
  }
}

/** Lines summarising a step: time, tokens/s, MFU, dispatches and submits. */
export function stepSummary(f: StepFigures, peak: number | null): string[] {
  const flops = modelFlopsPerSecond(f);
  const mfu = peak === null ? "MFU: peak unknown" : `MFU ${(100 * flops / peak).toFixed(2)}%`;
  const perStep = (p: "dispatches" | "submits") => f.microSteps * f.micro[p] + f.update[p];
  return [
    `step = ${f.microSteps} x micro-batch ${f.micro.ms.toFixed(1)} ms + update ` +
    `${f.update.ms.toFixed(1)} ms = ${stepMs(f).toFixed(0)} ms (wall, each ended by a sync)`,
    `${tokensPerSecond(f).toFixed(0)} tokens/s, ${(flops / 1e9).toFixed(1)} model GFLOP/s, ${mfu}`,
    `dispatches per step ${perStep("dispatches")} (${f.micro.dispatches} per micro-batch, ` +
    `${f.update.dispatches} per update); submits per step ${perStep("submits")} ` +
    `(${f.micro.submits} per micro-batch, ${f.update.submits} per update)`,
    ...(f.variants ? [`variants: ${f.variants}`] : []),
  ];
}

/** Headers of `kernelRows`. */
export const KERNEL_HEADERS: readonly string[] = [
  "kernel",
  "dispatches/step",
  "device ms/step",
  "% of profiled",
  "us/dispatch",
];

/** The `top` slowest (or, unprofiled, most dispatched) kernels of a step, then the rest. */
export function kernelRows(kernels: readonly StepKernel[], top = 20): string[][] {
  const total = kernels.reduce((sum, k) => sum + (k.ms ?? 0), 0);
  const row = (k: StepKernel) => [
    k.kernel,
    String(k.dispatches),
    fixed(k.ms, 2),
    fixed(k.ms !== null && total > 0 ? 100 * k.ms / total : null, 1),
    fixed(k.ms !== null && k.dispatches > 0 ? 1000 * k.ms / k.dispatches : null, 1),
  ];
  const rows = kernels.slice(0, top).map(row);
  const rest = kernels.slice(top);
  if (rest.length > 0) {
    const ms = rest.some((k) => k.ms === null) ? null : rest.reduce((sum, k) => sum + k.ms!, 0);
    rows.push(row({
      kernel: `(${rest.length} others)`,
      dispatches: rest.reduce((sum, k) => sum + k.dispatches, 0),
      ms,
    }));
  }
  return rows;
}
