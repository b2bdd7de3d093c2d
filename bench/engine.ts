/**
 * Engine benchmark. CPU: milliseconds per call of the non-matmul ops at the reference CPU
 * configuration's sizes (4096 tokens of width 256, 4 heads of 64, seq 256, vocab 4096), and
 * tokens/s of a full training step (forward, backward, AdamW + Muon) of a one-block model built
 * with the autograd frontend. WebGPU, when an adapter exists: the memory bandwidth measured with a
 * copy kernel, then each non-matmul op of a GPU recipe micro-batch timed on the device (GPU
 * timestamps) against its bound, bytes moved / bandwidth (and the wall time of one call with a
 * sync, which is mostly latency on a real GPU); then the one-block model's step rate (smaller
 * sizes on a software adapter such as lavapipe, which is for correctness, not speed).
 * Matmul GFLOP/s is in bench/gemm.ts (CPU) and bench/webgpu.ts.
 */
import type { Backend, DeviceBuffer } from "../src/engine/backend.ts";
import { createCpuBackend } from "../src/engine/cpu/backend.ts";
import { createWebGpuBackend, type WebGpuBackend } from "../src/engine/webgpu/mod.ts";
import { type TinyConfig, TinyModel } from "../tests/engine/tiny_model.ts";
import { measureCopyBandwidth } from "./webgpu/bandwidth.ts";
import { measureOps, OP_HEADERS, opCases, opRows } from "./webgpu/op_bounds.ts";
import { benchStepDims } from "./webgpu/shapes.ts";
import { adapterPeaks, printTable } from "./webgpu/table.ts";

const allocated: DeviceBuffer[] = [];

function rand(be: Backend, n: number): DeviceBuffer<"f32"> {
  const b = be.alloc("f32", n);
  allocated.push(b);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.random() - 0.5;
  be.write(b, v);
  return b;
}

async function time(be: Backend, fn: () => void, reps: number): Promise<number> {
  fn();
  await be.sync();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  await be.sync();
  return (performance.now() - t0) / reps;
}

async function opTimes(be: Backend, tokens: number, vocab: number, reps: number): Promise<void> {
  const C = 256, H = 4, D = 64, T = 256, B = tokens / T;
  const x = rand(be, tokens * C), g = rand(be, tokens * C), out = rand(be, tokens * C);
  const rstd = rand(be, tokens);
  const q = rand(be, tokens * C), k = rand(be, tokens * C), v = rand(be, tokens * C);
  const lse = rand(be, B * H * T), dq = rand(be, tokens * C), dk = rand(be, tokens * C);
  const dv = rand(be, tokens * C);
  const logits = rand(be, tokens * vocab), dlogits = rand(be, tokens * vocab);
  const losses = rand(be, tokens), lseCe = rand(be, tokens), gl = rand(be, tokens);
  const targets = be.alloc("i32", tokens);
  be.write(targets, Int32Array.from({ length: tokens }, (_, i) => (i * 31) % vocab));
  const attn = { q, k, v, out, lse, batch: B, seq: T, heads: H, headDim: D, window: T };
  const ce = { logits, targets, rows: tokens, vocab, softcap: 15 };
  const rows: [string, () => void][] = [
    ["rmsnorm fwd", () => be.rmsnorm({ x, out, rstd, rows: tokens, dim: C })],
    [
      "rmsnorm bwd",
      () => be.rmsnormBackward({ x, rstd, gradOut: g, gradIn: out, rows: tokens, dim: C }),
    ],
    ["attention fwd (full causal)", () => be.attention(attn)],
    [
      "attention bwd",
      () => be.attentionBackward({ ...attn, gradOut: g, gradQ: dq, gradK: dk, gradV: dv }),
    ],
    ["cross-entropy fwd (softcap 15)", () => be.crossEntropy({ ...ce, losses, lse: lseCe })],
    [
      "cross-entropy bwd",
      () => be.crossEntropyBackward({ ...ce, lse: lseCe, gradLosses: gl, gradLogits: dlogits }),
    ],
    ["relu2 fwd (4x width)", () => be.unary({ op: "relu2", x: q, out, n: tokens * C })],
  ];
  console.log(`  ops at ${tokens} tokens, width ${C}, ${H}x${D} heads, seq ${T}, vocab ${vocab}:`);
  for (const [name, fn] of rows) {
    console.log(`    ${name.padEnd(32)} ${(await time(be, fn, reps)).toFixed(1).padStart(8)} ms`);
  }
  for (const b of allocated.splice(0)) be.free(b);
  be.free(targets);
  be.trim();
  be.resetPeak();
}

async function stepRate(be: Backend, cfg: TinyConfig, steps: number): Promise<void> {
  const model = new TinyModel(be, cfg);
  const n = cfg.batch * cfg.seq;
  const ids = Int32Array.from({ length: n }, (_, i) => (i * 7) % cfg.vocab);
  const targets = Int32Array.from({ length: n }, (_, i) => ((i + 1) * 7) % cfg.vocab);
  await model.step(ids, targets); // warm-up: pools, optimizer state, JIT
  const t0 = performance.now();
  let loss = 0;
  for (let i = 0; i < steps; i++) loss = await model.step(ids, targets);
  const ms = (performance.now() - t0) / steps;
  const peak = be.memory().peakInUseBytes / 2 ** 20;
  console.log(
    `  train step, 1 block, width ${cfg.width}, seq ${cfg.seq}, vocab ${cfg.vocab}, ${n} tokens: ` +
      `${ms.toFixed(0)} ms/step, ${(n / ms * 1000).toFixed(0)} tokens/s ` +
      `(loss ${loss.toFixed(3)}, peak ${peak.toFixed(1)} MiB)`,
  );
  model.dispose();
}

/** Runs the engine benchmark. */
export async function run(): Promise<void> {
  const cpu = await createCpuBackend();
  console.log(`cpu: ${cpu.info.device}`);
  await opTimes(cpu, 4096, 4096, 2);
  await stepRate(cpu, { vocab: 4096, width: 256, heads: 4, batch: 4, seq: 256, window: 128 }, 3);
  cpu.destroy();

  let gpu: WebGpuBackend;
  try {
    gpu = await createWebGpuBackend() as WebGpuBackend;
  } catch (error) {
    console.log(`webgpu: skipped (${error instanceof Error ? error.message : error})`);
    return;
  }
  try {
    console.log(`webgpu: ${gpu.info.device}${gpu.info.isFallback ? " (software fallback)" : ""}`);
    await webgpuOpBounds(gpu);
    if (gpu.info.isFallback) {
      await stepRate(gpu, { vocab: 256, width: 64, heads: 4, batch: 2, seq: 64, window: 32 }, 2);
    } else {
      await stepRate(
        gpu,
        { vocab: 4096, width: 256, heads: 4, batch: 4, seq: 256, window: 128 },
        5,
      );
    }
  } finally {
    gpu.destroy();
  }
}

/**
 * WebGPU: the adapter's bandwidth measured with a copy kernel, then every non-matmul op of a GPU
 * recipe micro-batch timed on the device against its bandwidth bound.
 */
async function webgpuOpBounds(gpu: WebGpuBackend): Promise<void> {
  const software = gpu.info.isFallback;
  const peaks = adapterPeaks(gpu.info.device, software);
  const copy = software
    ? await measureCopyBandwidth(gpu, 32, 1, 2)
    : await measureCopyBandwidth(gpu, 256, 20, 3);
  const published = peaks.bandwidth === null
    ? "no published figure in src/platform/peak.ts"
    : `published ${(peaks.bandwidth / 1e9).toFixed(0)} GB/s`;
  console.log(
    `  memory bandwidth MEASURED with a copy kernel (${copy.bufferBytes / 2 ** 20} MiB read + ` +
      `written, ${copy.source} time): ${(copy.bytesPerSecond / 1e9).toFixed(1)} GB/s; ${published}`,
  );
  const dims = benchStepDims(software);
  const { cases, free } = opCases(gpu, dims);
  try {
    const rows = await measureOps(gpu, cases, software);
    const heads = `${dims.width / dims.headDim}x${dims.headDim} heads`;
    console.log(
      `  ops of one GPU recipe micro-batch (${dims.rows} x ${dims.seqLen} tokens, width ` +
        `${dims.width}, ${heads}, vocab ${dims.vocabSize}` +
        `${software ? "; software adapter: 1 x 256 tokens instead of 16 x 2048" : ""}), ` +
        `bound = bytes / measured bandwidth:`,
    );
    printTable(OP_HEADERS, opRows(rows, copy.bytesPerSecond, peaks.bandwidth, peaks.fp32), "    ");
  } finally {
    free();
  }
}

if (import.meta.main) await run();
