/**
 * The whole platform picture in one call: which backend runs (`auto` picks WebGPU only on a real,
 * non-fallback adapter), the adapter, the CPU, memory, and the peak FLOP/s MFU is computed
 * against. This is what `autoresearch platform` prints and what cards record.
 */
import { UsageError } from "../util/errors.ts";
import { type CpuInfo, detectCpu } from "./cpu.ts";
import { detectGpu, type GpuInfo } from "./gpu.ts";
import { detectCpuFeatures, hardwarePeak } from "./cpu_features.ts";
import { cpuPeakFlops, type CpuPeakOptions, gpuPeakFlops, type PeakFlops } from "./peak.ts";

/** A backend the user may ask for. */
export type BackendChoice = "auto" | "cpu" | "webgpu";

/** A backend that actually runs. */
export type BackendKind = "cpu" | "webgpu";

/** The backend choices, for validation and help text. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "cpu", "webgpu"];

/** Validate a `--backend` value, or throw a UsageError naming the field. */
export function parseBackendChoice(raw: string, field = "--backend"): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(raw)) return raw as BackendChoice;
  throw new UsageError(
    field,
    `must be one of ${BACKEND_CHOICES.join(", ")}, got ${JSON.stringify(raw)}`,
  );
}

/**
 * Pick the backend: `cpu` and `webgpu` are forced (webgpu throws without an adapter); `auto`
 * takes WebGPU only when a non-fallback adapter exists, because a software adapter (lavapipe)
 * is slower than the CPU backend on the same cores.
 */
export function resolveBackend(choice: BackendChoice, gpu: GpuInfo | null): BackendKind {
  if (choice === "cpu") return "cpu";
  if (choice === "webgpu") {
    if (!gpu) throw new Error("--backend webgpu: no WebGPU adapter on this machine");
    return "webgpu";
  }
  return gpu && !gpu.isFallbackAdapter ? "webgpu" : "cpu";
}

/** Everything known about where the engine runs. */
export interface PlatformInfo {
  /** The backend that runs. */
  backend: BackendKind;
  /** What was asked for. */
  requested: BackendChoice;
  /** The WebGPU adapter, or null when there is none. */
  gpu: GpuInfo | null;
  /** The host CPU and memory. */
  cpu: CpuInfo;
  /** Peak FLOP/s of the chosen backend's device, or null for a GPU not in the table. */
  peak: PeakFlops | null;
  /** The CPU sgemm implementations timed on this machine and the one in use (engine-provided). */
  sgemm?: SgemmSummary;
  /** The WebGPU matmul variants tuned on this adapter (engine-provided; absent without one). */
  webgpuTuning?: WebGpuTuningSummary;
  /** A short label for cards and comparability ("NVIDIA H100 80GB HBM3", "cpu:<model> x2"). */
  label: string;
}

/** One CPU sgemm candidate as measured (see the engine's gemm/select.ts). */
export interface SgemmCandidateSummary {
  /** Candidate id (`blas`, `blas:detected`, `blas:<Core>`, `wasm`). */
  id: string;
  /** Why it is a candidate. */
  why: string;
  /** GFLOP/s on the training shapes, or null when it could not run. */
  gflops: number | null;
  /** The BLAS core the library chose, or "". */
  core: string;
  /** Why it could not run. */
  error?: string;
}

/** The CPU sgemm candidates of this machine and the chosen one. */
export interface SgemmSummary {
  /** The candidate in use, or null when none could be measured. */
  chosen: string | null;
  /** "measured", "cache", "forced" or "unmeasured". */
  source: string;
  /** Every candidate. */
  candidates: SgemmCandidateSummary[];
}

/** One tuned matmul shape. */
export interface TunedShapeSummary {
  /** "m x n x k", batch, transposes (e.g. "4096x1024x256NT"). */
  shape: string;
  /** The variant in use. */
  variant: string;
  /** Its device ms per launch when tuned (attention: forward + backward). */
  ms: number;
  /** Its GFLOP/s when tuned (matmul), else null. */
  gflops: number | null;
  /** The untuned default's time over the winner's (>= 1), or null when the default failed. */
  speedup: number | null;
}

/** One tuned family (matmul or attention) of this machine's adapter. */
export interface TunedFamilySummary {
  /** The cache file. */
  cachePath: string;
  /** The variants the tuner chooses from. */
  variants: { id: string; description: string; precision: string }[];
  /** Tuned shapes (empty until a run or the bench tuned some). */
  shapes: TunedShapeSummary[];
}

/** The WebGPU matmul tuning of this machine's adapter, and its attention tuning. */
export interface WebGpuTuningSummary extends TunedFamilySummary {
  /** The attention variants and tuned attention shapes. */
  attention: TunedFamilySummary;
}

/**
 * The CPU's f32 peak for MFU: `AUTORESEARCH_PEAK_FLOPS` when set; else the hardware formula
 * (cores x clock x FLOP per cycle, see cpu_features.ts), unless the best measured sgemm beats it
 * (the clock boosts above the one reported), in which case the measurement is the honest bound;
 * else, with no clock known, the best measured sgemm; else a short portable measurement.
 */
export function cpuPeak(
  cpu: CpuInfo,
  bestSgemmFlops: number | null,
  options: CpuPeakOptions = {},
): PeakFlops {
  const override = Number(Deno.env.get("AUTORESEARCH_PEAK_FLOPS") ?? "");
  if (override > 0) return cpuPeakFlops(cpu, options);
  const hardware = hardwarePeak(detectCpuFeatures(), cpu.model, cpu.cores);
  if (hardware && (bestSgemmFlops === null || bestSgemmFlops <= hardware.flops)) {
    return { fp32: hardware.flops, fp16: hardware.flops, source: `hardware:${hardware.formula}` };
  }
  if (bestSgemmFlops !== null) {
    const why = hardware ? `above ${hardware.formula}` : "clock unknown";
    return { fp32: bestSgemmFlops, fp16: bestSgemmFlops, source: `measured:best sgemm (${why})` };
  }
  return cpuPeakFlops(cpu, options);
}

/** Options for `detectPlatform`. */
export interface DetectOptions extends CpuPeakOptions {
  /** The engine's sgemm selection, when the caller has one (used for the CPU peak). */
  sgemm?: SgemmSummary;
  /** Which backend to resolve (default "auto"). */
  backend?: BackendChoice;
  /** Skip the CPU FLOP/s measurement (peak is then only from the cache or env, else null). */
  skipCpuMeasurement?: boolean;
}

/** Detect the platform and resolve the backend. */
export async function detectPlatform(options: DetectOptions = {}): Promise<PlatformInfo> {
  const requested = options.backend ?? "auto";
  const gpu = await detectGpu();
  const cpu = detectCpu();
  const backend = resolveBackend(requested, gpu);
  let peak: PeakFlops | null;
  if (backend === "webgpu" && gpu) {
    peak = gpuPeakFlops(gpu);
  } else {
    const best = Math.max(0, ...(options.sgemm?.candidates ?? []).map((c) => c.gflops ?? 0));
    peak = options.skipCpuMeasurement ? null : cpuPeak(cpu, best > 0 ? best * 1e9 : null, options);
  }
  const label = backend === "webgpu" && gpu
    ? gpu.description || `${gpu.vendor} ${gpu.device}`.trim()
    : `cpu:${cpu.model} x${cpu.cores}`;
  return {
    backend,
    requested,
    gpu,
    cpu,
    peak,
    label,
    ...(options.sgemm ? { sgemm: options.sgemm } : {}),
  };
}
