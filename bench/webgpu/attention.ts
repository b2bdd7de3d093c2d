/**
 * The attention part of the WebGPU bench: the attention shapes of one GPU-recipe micro-batch
 * (one per window size of its pattern), tuned the way a run tunes them (attention_tune.ts), then
 * forward + backward timed on the device with the untuned default and with the tuned variant.
 * FLOPs count the score and value products over the keys a causal sliding window lets each
 * query see (forward 4 D per query-key pair; backward 2.5 times the forward).
 */
import type { WebGpuBackend } from "../../src/engine/webgpu/backend.ts";
import type { AttentionShape } from "../../src/engine/webgpu/attention_variants.ts";
import { attentionShapeKey, tuneAttention } from "../../src/engine/webgpu/attention_tune.ts";
import { timeOnDevice } from "../../src/engine/webgpu/timing.ts";
import { seededRandom } from "../../src/util/random.ts";
import { GPU_RECIPE, layerWindows } from "../../src/train/default_recipe.ts";
import type { StepDims } from "./shapes.ts";
import { fixed, gflops, percentOfPeak, printTable } from "./table.ts";

/** One attention shape per distinct window of the recipe's layers, with its layer count. */
export function benchAttentionShapes(dims: StepDims): { shape: AttentionShape; layers: number }[] {
  const windows = layerWindows({ ...GPU_RECIPE.model, seqLen: dims.seqLen, depth: dims.depth });
  const counts = new Map<number, number>();
  for (const window of windows) counts.set(window, (counts.get(window) ?? 0) + 1);
  return [...counts].map(([window, layers]) => ({
    shape: {
      batch: dims.rows,
      heads: dims.width / dims.headDim,
      seq: dims.seqLen,
      headDim: dims.headDim,
      window,
    },
    layers,
  }));
}

/** Query-key pairs a causal window lets through (window >= seq: the full triangle). */
function visiblePairs(seq: number, window: number): number {
  let pairs = 0;
  for (let q = 0; q < seq; q++) pairs += Math.min(q + 1, window + 1);
  return pairs;
}

/** FLOPs of a forward + backward: 4 D per visible pair forward, 2.5 times that backward. */
export function attentionFlops(shape: AttentionShape): number {
  const forward = 4 * shape.headDim * visiblePairs(shape.seq, Math.min(shape.window, shape.seq)) *
    shape.batch * shape.heads;
  return 3.5 * forward;
}

/** Device ms of one forward + backward with the backend's current choice, best of two. */
async function timeShape(backend: WebGpuBackend, shape: AttentionShape): Promise<number> {
  const n = shape.batch * shape.seq * shape.heads * shape.headDim;
  const random = seededRandom(shape.seq + shape.window);
  const alloc = (length: number, fill = true) => {
    const buffer = backend.alloc("f32", length);
    if (fill) backend.write(buffer, Float32Array.from({ length }, () => random() * 2 - 1));
    return buffer;
  };
  const buffers = {
    q: alloc(n),
    k: alloc(n),
    v: alloc(n),
    gradOut: alloc(n),
    out: alloc(n, false),
    lse: alloc(shape.batch * shape.heads * shape.seq, false),
    gradQ: alloc(n, false),
    gradK: alloc(n, false),
    gradV: alloc(n, false),
  };
  const params = { ...buffers, ...shape };
  const step = () => {
    backend.attention(params);
    backend.attentionBackward(params);
  };
  try {
    await timeOnDevice(backend, step); // compile outside the measurement
    let best = Infinity;
    for (let round = 0; round < 2; round++) {
      best = Math.min(best, (await timeOnDevice(backend, step)).ms);
    }
    return best;
  } finally {
    for (const buffer of Object.values(buffers)) backend.free(buffer);
  }
}

/** Tune the micro-batch's attention shapes, then print untuned against tuned. */
export async function benchAttention(
  backend: WebGpuBackend,
  dims: StepDims,
  software: boolean,
  peak: number | null,
  tuneSeconds: number,
): Promise<void> {
  const shapes = benchAttentionShapes(dims);
  console.log(
    `attention forward + backward, one micro-batch (${dims.rows} x ${dims.seqLen} tokens, ` +
      `${dims.width / dims.headDim} heads of ${dims.headDim}):`,
  );
  try {
    await tuneAttention(backend, shapes.map((s) => s.shape), {
      cachePath: software ? null : undefined,
      maxSeconds: tuneSeconds,
      refresh: Deno.env.get("AUTORESEARCH_BENCH_RETUNE") === "1",
      log: (message) => console.log(`  tuner: ${message}`),
    });
  } catch (error) {
    console.log(`  tuner: failed (${error instanceof Error ? error.message : error})`);
    backend.attentionChoice = null;
  }
  const rows: string[][] = [];
  for (const { shape, layers } of shapes) {
    const tuned = backend.attentionVariantFor(shape);
    const choice = backend.attentionChoice;
    backend.attentionChoice = null;
    const untuned = backend.attentionVariantFor(shape);
    const untunedMs = await timeShape(backend, shape);
    backend.attentionChoice = choice;
    const tunedMs = tuned.id === untuned.id ? untunedMs : await timeShape(backend, shape);
    const flops = attentionFlops(shape);
    rows.push([
      attentionShapeKey(shape),
      String(layers),
      untuned.id,
      fixed(untunedMs, 3),
      tuned.id === untuned.id ? "(same)" : tuned.id,
      fixed(tunedMs, 3),
      fixed(gflops(flops, tunedMs)),
      percentOfPeak(flops / (tunedMs / 1000), peak),
      `${(untunedMs / tunedMs).toFixed(2)}x`,
    ]);
  }
  printTable(
    [
      "shape",
      "layers",
      "untuned variant",
      "device ms",
      "tuned variant",
      "device ms",
      "GFLOP/s",
      "% f32 peak",
      "speed-up",
    ],
    rows,
  );
}
