/**
 * Shared by the trainer's tests: the backends a test runs on. CPU always; WebGPU when an adapter
 * exists (skipped with a message otherwise), and a hard failure when none exists but
 * AUTORESEARCH_REQUIRE_WEBGPU=1 (CI sets it).
 */
import type { Backend } from "../../src/engine/backend.ts";
import { createCpuBackend } from "../../src/engine/cpu/backend.ts";
import type { MicroBatch } from "../../src/train/loop.ts";
import { Rng } from "../../src/train/model.ts";
import { type Recipe, UPSTREAM_OPTIMIZER } from "../../src/train/recipe.ts";

/** One backend a test is registered for. */
export interface BackendUnderTest {
  /** "cpu" or "webgpu". */
  name: string;
  /** Creates a fresh backend. */
  create: () => Promise<Backend>;
  /** Why the test is skipped, or undefined when it runs. */
  skip?: string;
}

const requireWebGpu = Deno.env.get("AUTORESEARCH_REQUIRE_WEBGPU") === "1";
const adapter = await (async () => {
  try {
    return await navigator.gpu?.requestAdapter();
  } catch {
    return null;
  }
})();

type WebGpuModule = { createWebGpuBackend?: () => Promise<Backend> };
const WEBGPU_MODULE = "../../src/engine/webgpu/mod.ts";
const webgpuModule: WebGpuModule | null = await import(WEBGPU_MODULE).catch(() => null);

async function createWebGpu(): Promise<Backend> {
  if (!webgpuModule?.createWebGpuBackend) {
    throw new Error("src/engine/webgpu/mod.ts does not export createWebGpuBackend");
  }
  return await webgpuModule.createWebGpuBackend();
}

/** CPU, then WebGPU (skipped with a reason when no adapter exists and CI does not require it). */
export function backendsUnderTest(): BackendUnderTest[] {
  let skip: string | undefined;
  if (!adapter) skip = "no WebGPU adapter on this machine";
  else if (!webgpuModule?.createWebGpuBackend) skip = "the WebGPU backend is not built yet";
  if (requireWebGpu) skip = undefined; // CI: run and fail loudly instead of skipping
  if (skip) console.log(`skipping WebGPU trainer tests: ${skip}`);
  return [
    { name: "cpu", create: () => createCpuBackend() },
    { name: "webgpu", create: createWebGpu, skip },
  ];
}

/** A tiny recipe for fast tests: depth 2, width 64, two heads, seq 32, windows "SL". */
export const TINY_RECIPE: Recipe = {
  name: "tiny-test",
  model: {
    depth: 2,
    width: 64,
    headDim: 32,
    seqLen: 32,
    windowPattern: "SL",
    softcap: 15,
    veGateChannels: 32,
  },
  optim: UPSTREAM_OPTIMIZER,
  totalBatchTokens: 256,
  deviceBatchRows: 4,
  warmupSteps: 1,
};

/**
 * Learnable synthetic batches: a sparse random Markov chain (4 successors per token), seeded.
 * Returns a `nextBatch` callback for the loop.
 */
export function markovBatches(
  vocab: number,
  rows: number,
  seqLen: number,
  seed: number,
): () => MicroBatch {
  const rng = new Rng(seed);
  const successors = Array.from(
    { length: vocab },
    () => Array.from({ length: 4 }, () => Math.floor(rng.next() * vocab)),
  );
  let token = 0;
  return () => {
    const inputs = new Int32Array(rows * seqLen), targets = new Int32Array(rows * seqLen);
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t <= seqLen; t++) {
        if (t < seqLen) inputs[r * seqLen + t] = token;
        if (t > 0) targets[r * seqLen + t - 1] = token;
        if (t < seqLen) token = successors[token][Math.floor(rng.next() * 4)];
      }
    }
    return { inputs, targets };
  };
}
