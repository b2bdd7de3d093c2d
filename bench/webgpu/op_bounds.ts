/**
 * The non-matmul ops of a training micro-batch, each with the bytes it must move at least (every
 * input read once, every output written once, f32) and, for attention, its FLOPs, so the engine
 * bench can set each op's device time against its bandwidth bound (bytes / bandwidth) and, where
 * the peak is known, its compute bound. Sizes follow `StepDims` (the GPU recipe's micro-batch).
 */
import type { Backend, DeviceBuffer } from "../../src/engine/backend.ts";
import type { GpuTiming, WebGpuBackend } from "../../src/engine/webgpu/mod.ts";
import { timeDevice, timeWall } from "./measure.ts";
import type { StepDims } from "./shapes.ts";
import { fixed, percentOfPeak } from "./table.ts";

/** One op to time. */
export interface OpCase {
  /** Display name. */
  name: string;
  /** Minimum bytes moved. */
  bytes: number;
  /** FLOPs when the op is compute-heavy (attention), else 0. */
  flops: number;
  /** Record one call. */
  run: () => void;
}

/** The op cases on `backend` and a function freeing what they allocated. */
export function opCases(backend: Backend, dims: StepDims): { cases: OpCase[]; free: () => void } {
  const B = dims.rows, T = dims.seqLen, C = dims.width, D = dims.headDim, V = dims.vocabSize;
  const H = C / D, R = B * T, F = 4 * C;
  const owned: DeviceBuffer[] = [];
  const f32 = (n: number, value = 0.01) => {
    const buffer = backend.alloc("f32", n);
    backend.fill({ out: buffer, value });
    owned.push(buffer);
    return buffer;
  };
  const x = f32(R * C), g = f32(R * C), out = f32(R * C), rstd = f32(R, 1);
  const q = f32(R * C), k = f32(R * C), v = f32(R * C), lse = f32(B * H * T);
  const dq = f32(R * C), dk = f32(R * C), dv = f32(R * C);
  const cos = f32(T * D / 2, 1), sin = f32(T * D / 2, 0);
  const hidden = f32(R * F), hiddenOut = f32(R * F), hiddenGrad = f32(R * F);
  const logits = f32(R * V), dlogits = f32(R * V);
  const losses = f32(R), lseCe = f32(R), gradLosses = f32(R, 1 / R);
  const table = f32(V * C), param = f32(V * C), grad = f32(V * C), m = f32(V * C), v2 = f32(V * C);
  const ids = backend.alloc("i32", R);
  owned.push(ids);
  backend.write(ids, Int32Array.from({ length: R }, (_, i) => (i * 7919) % V));
  const attn = { q, k, v, out, lse, batch: B, seq: T, heads: H, headDim: D, window: T };
  const ce = { logits, targets: ids, rows: R, vocab: V, softcap: 15 };
  // Causal: half the T x T scores; forward 2 products (QK^T, PV), backward 5 (with recompute).
  const attnFlops = 2 * B * H * T * T * D;
  const cases: OpCase[] = [
    {
      name: "rmsnorm fwd",
      bytes: 4 * (2 * R * C + R),
      flops: 0,
      run: () => backend.rmsnorm({ x, out, rstd, rows: R, dim: C }),
    },
    {
      name: "rmsnorm bwd",
      bytes: 4 * (3 * R * C + R),
      flops: 0,
      run: () => backend.rmsnormBackward({ x, rstd, gradOut: g, gradIn: out, rows: R, dim: C }),
    },
    {
      name: "rotary fwd",
      bytes: 4 * (2 * R * C + T * D),
      flops: 0,
      run: () => backend.rotary({ x: q, out, cos, sin, batch: B, seq: T, heads: H, headDim: D }),
    },
    {
      name: "residual add",
      bytes: 4 * 3 * R * C,
      flops: 0,
      run: () =>
        backend.binary({
          op: "add",
          a: x,
          b: g,
          out,
          shape: [R, C],
          aShape: [R, C],
          bShape: [R, C],
        }),
    },
    {
      name: "relu2 fwd (4C)",
      bytes: 4 * 2 * R * F,
      flops: 0,
      run: () => backend.unary({ op: "relu2", x: hidden, out: hiddenOut, n: R * F }),
    },
    {
      name: "relu2 bwd (4C)",
      bytes: 4 * 3 * R * F,
      flops: 0,
      run: () =>
        backend.unaryBackward({
          op: "relu2",
          x: hidden,
          y: hiddenOut,
          gradOut: hiddenOut,
          gradIn: hiddenGrad,
          n: R * F,
        }),
    },
    {
      name: "embedding fwd",
      bytes: 4 * (R + 2 * R * C),
      flops: 0,
      run: () => backend.embedding({ table, ids, out, tokens: R, vocab: V, dim: C }),
    },
    {
      name: "cross-entropy fwd",
      bytes: 4 * (R * V + 3 * R),
      flops: 0,
      run: () => backend.crossEntropy({ ...ce, losses, lse: lseCe }),
    },
    {
      name: "cross-entropy bwd",
      bytes: 4 * (2 * R * V + 3 * R),
      flops: 0,
      run: () =>
        backend.crossEntropyBackward({ ...ce, lse: lseCe, gradLosses, gradLogits: dlogits }),
    },
    {
      name: "attention fwd (causal)",
      bytes: 4 * (4 * R * C + B * H * T),
      flops: attnFlops,
      run: () => backend.attention(attn),
    },
    {
      name: "attention bwd",
      bytes: 4 * (8 * R * C + B * H * T),
      flops: 2.5 * attnFlops,
      run: () =>
        backend.attentionBackward({ ...attn, gradOut: g, gradQ: dq, gradK: dk, gradV: dv }),
    },
    {
      name: "adamw (lm head)",
      bytes: 4 * 7 * V * C,
      flops: 0,
      run: () =>
        backend.adamw({
          param,
          grad,
          m,
          v: v2,
          n: V * C,
          lr: 1e-3,
          beta1: 0.8,
          beta2: 0.95,
          eps: 1e-10,
          weightDecay: 0,
          step: 1,
        }),
    },
  ];
  return { cases, free: () => owned.forEach((buffer) => backend.free(buffer)) };
}

/** One op's measured times. */
export interface OpRow {
  /** The case. */
  op: Pick<OpCase, "name" | "bytes" | "flops">;
  /** Device time per call. */
  timing: GpuTiming;
  /** Wall time of one call and a sync (what a sync per call measures: latency included). */
  syncedMs: number;
}

/** Time every case on the device, and once with a sync per call (a failing case is reported). */
export async function measureOps(
  backend: WebGpuBackend,
  cases: readonly OpCase[],
  software: boolean,
): Promise<OpRow[]> {
  const rows: OpRow[] = [];
  for (const op of cases) {
    try {
      const timing = await timeDevice(backend, op.run, software);
      const syncedMs = await timeWall(backend, op.run, 1);
      rows.push({ op: { name: op.name, bytes: op.bytes, flops: op.flops }, timing, syncedMs });
    } catch (error) {
      // One failing op must not cost a scarce GPU run the others.
      console.log(`    ${op.name}: failed (${error instanceof Error ? error.message : error})`);
    }
  }
  return rows;
}

/** Headers of `opRows`. */
export const OP_HEADERS: readonly string[] = [
  "op",
  "device ms",
  "sync'd ms",
  "MB moved",
  "bound ms",
  "x bound",
  "published bound ms",
  "GFLOP/s",
  "% f32 peak",
];

/**
 * One row per op: device time, the wall time with a sync per call, bytes moved, the bound at the
 * measured bandwidth and how many times above it the op runs, the bound at the published
 * bandwidth ("-" when unknown), and GFLOP/s with percent of peak for compute-heavy ops.
 */
export function opRows(
  rows: readonly OpRow[],
  measuredBandwidth: number,
  publishedBandwidth: number | null,
  peak: number | null,
): string[][] {
  return rows.map(({ op, timing, syncedMs }) => {
    const bound = 1000 * op.bytes / measuredBandwidth;
    const published = publishedBandwidth === null ? null : 1000 * op.bytes / publishedBandwidth;
    const flopRate = op.flops > 0 ? op.flops / (timing.ms / 1000) : null;
    return [
      op.name + (timing.source === "wall" ? " (wall)" : ""),
      fixed(timing.ms, 3),
      fixed(syncedMs, 3),
      fixed(op.bytes / 1e6, 1),
      fixed(bound, 3),
      fixed(timing.ms / bound, 1),
      fixed(published, 3),
      fixed(flopRate === null ? null : flopRate / 1e9, 1),
      flopRate === null ? "-" : percentOfPeak(flopRate, peak),
    ];
  });
}
