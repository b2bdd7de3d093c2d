/**
 * The whole platform picture in one call: which backend runs (`auto` picks WebGPU only on a real,
 * non-fallback adapter), the adapter, the CPU, memory, and the peak FLOP/s MFU is computed
 * against. This is what `autoresearch platform` prints and what cards record.
 */
import { UsageError } from "../util/errors.ts";
import { type CpuInfo, detectCpu } from "./cpu.ts";
import { detectGpu, type GpuInfo } from "./gpu.ts";
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
  /** A short label for cards and comparability ("NVIDIA H100 80GB HBM3", "cpu:<model> x2"). */
  label: string;
}

/** Options for `detectPlatform`. */
export interface DetectOptions extends CpuPeakOptions {
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
    peak = options.skipCpuMeasurement ? null : cpuPeakFlops(cpu, options);
  }
  const label = backend === "webgpu" && gpu
    ? gpu.description || `${gpu.vendor} ${gpu.device}`.trim()
    : `cpu:${cpu.model} x${cpu.cores}`;
  return { backend, requested, gpu, cpu, peak, label };
}
