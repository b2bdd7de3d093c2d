/**
 * Where an external trainer ran, as a card's platform: an NVIDIA GPU (asked of `nvidia-smi`,
 * PyTorch's `cuda`), Apple silicon (the chip's name from the system, `mps` by default or `mlx`
 * for the MLX ports), else this machine's CPU described exactly as our own trainer describes it.
 * Flags override any field; the host's cores and memory complete the description.
 */
import { type Backend, BACKENDS, type Platform } from "../knowledge/schema.ts";
import { cpuCardPlatform, detectCpu } from "../platform/mod.ts";
import { UsageError } from "../util/errors.ts";
import { vendorOf } from "./text.ts";

/** One GPU as `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` says. */
export interface NvidiaGpu {
  /** marketing name, e.g. "NVIDIA H100 80GB HBM3" */
  name: string;
  /** total memory, MiB (null when not reported) */
  memoryMib: number | null;
}

/** Parse the CSV lines of an `nvidia-smi` query (one GPU per line). */
export function parseNvidiaSmi(text: string): NvidiaGpu[] {
  const gpus: NvidiaGpu[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const comma = line.lastIndexOf(",");
    const name = (comma < 0 ? line : line.slice(0, comma)).trim();
    const memory = comma < 0 ? NaN : Number(line.slice(comma + 1).trim());
    if (name === "" || /^No devices were found/i.test(name)) continue;
    gpus.push({ name, memoryMib: Number.isFinite(memory) ? memory : null });
  }
  return gpus;
}

/** The GPUs `nvidia-smi` reports (empty when it is missing or fails). */
export async function queryNvidiaSmi(): Promise<NvidiaGpu[]> {
  try {
    const out = await new Deno.Command("nvidia-smi", {
      args: ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? parseNvidiaSmi(new TextDecoder().decode(out.stdout)) : [];
  } catch {
    return [];
  }
}

/** Flags that override the detected platform. */
export interface PlatformOverrides {
  /** cuda | rocm | mps | mlx | cpu | webgpu */
  backend?: string;
  /** device description */
  device?: string;
  /** device vendor */
  vendor?: string;
  /** CPU cores */
  cores?: number;
  /** system memory, GB */
  memory_gb?: number;
}

/** Validate a `--backend` value for an external trainer. */
export function parseExternalBackend(raw: string, field = "--backend"): Backend {
  if ((BACKENDS as readonly string[]).includes(raw)) return raw as Backend;
  throw new UsageError(field, `must be one of ${BACKENDS.join(", ")}, got ${JSON.stringify(raw)}`);
}

/**
 * Detect the platform of a run on this machine: NVIDIA first (a machine with an NVIDIA GPU runs
 * upstream's trainer on it), then Apple silicon, then the CPU. Overrides win field by field;
 * a `--device` without `--backend` keeps the detected backend.
 */
export async function detectExternalPlatform(overrides: PlatformOverrides = {}): Promise<Platform> {
  const host = cpuCardPlatform(detectCpu());
  const hostFields = { cores: host.cores, memory_gb: host.memory_gb > 0 ? host.memory_gb : 1 };
  let platform: Platform;
  const wanted = overrides.backend === undefined
    ? undefined
    : parseExternalBackend(overrides.backend);
  const gpus = wanted === undefined || wanted === "cuda" ? await queryNvidiaSmi() : [];
  if (gpus.length > 0 && (wanted === undefined || wanted === "cuda")) {
    platform = { backend: "cuda", device: gpus[0].name, vendor: "NVIDIA", ...hostFields };
  } else if (
    (wanted === undefined || wanted === "mps" || wanted === "mlx") &&
    Deno.build.os === "darwin" && Deno.build.arch === "aarch64"
  ) {
    platform = { backend: wanted ?? "mps", device: host.device, vendor: "Apple", ...hostFields };
  } else {
    if (wanted !== undefined && wanted !== "cpu" && overrides.device === undefined) {
      throw new UsageError("--device", `is required with --backend ${wanted}: none detected here`);
    }
    platform = { backend: wanted ?? "cpu", ...host, ...hostFields };
  }
  if (overrides.device !== undefined) {
    platform.device = overrides.device;
    if (overrides.vendor === undefined) platform.vendor = vendorOf(overrides.device);
  }
  if (overrides.vendor !== undefined) platform.vendor = overrides.vendor;
  if (overrides.cores !== undefined) platform.cores = overrides.cores;
  if (overrides.memory_gb !== undefined) platform.memory_gb = overrides.memory_gb;
  return platform;
}
