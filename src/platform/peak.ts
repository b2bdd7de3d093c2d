/**
 * Peak FLOP/s for MFU. GPUs come from a table of published dense figures (fp32 and the fastest
 * 16-bit tensor rate with fp32 accumulation), matched on the adapter's description; the CPU
 * figure is MEASURED with a short timed matmul and cached per machine in
 * ~/.cache/autoresearch/platform.json. Nobody gets a hard-coded H100 number they do not own.
 */
import { join } from "node:path";
import { atomicWriteSync } from "../util/atomic.ts";
import { userCacheDir } from "../util/cache_dir.ts";
import type { CpuInfo } from "./cpu.ts";
import type { GpuInfo } from "./gpu.ts";

/** A known accelerator and its published dense peaks, in FLOP/s. */
export interface KnownGpu {
  /** Display name. */
  name: string;
  /** Matched against the adapter description (case-insensitive). */
  pattern: RegExp;
  /** Dense fp32 peak (no tensor-core TF32), FLOP/s. */
  fp32: number;
  /** Dense bf16/fp16 peak with fp32 accumulation, FLOP/s. */
  fp16: number;
  /** Published memory bandwidth, bytes/s (the bound of memory-bound kernels). */
  bandwidth: number;
}

const T = 1e12;
const G = 1e9;

/**
 * Known GPUs, most specific first (an "H100 PCIe" must not match as an SXM "H100"). Figures are
 * the vendors' dense numbers and memory bandwidths (A100: the 80 GB SXM part; the 40 GB one has
 * 1555 GB/s); Apple GPUs run fp16 at the fp32 rate and vary by core count (the
 * figure is for the most common configuration).
 */
export const KNOWN_GPUS: readonly KnownGpu[] = [
  { name: "NVIDIA B200", pattern: /\bB200\b/i, fp32: 80 * T, fp16: 2250 * T, bandwidth: 8000 * G },
  { name: "NVIDIA H200", pattern: /\bH200\b/i, fp32: 67 * T, fp16: 989.4 * T, bandwidth: 4800 * G },
  {
    name: "NVIDIA H100 PCIe",
    pattern: /\bH100\b.*PCIe/i,
    fp32: 51.2 * T,
    fp16: 756 * T,
    bandwidth: 2000 * G,
  },
  {
    name: "NVIDIA H100 NVL",
    pattern: /\bH100\b.*NVL/i,
    fp32: 60 * T,
    fp16: 835 * T,
    bandwidth: 3900 * G,
  },
  {
    name: "NVIDIA H100 SXM",
    pattern: /\bH100\b/i,
    fp32: 67 * T,
    fp16: 989.4 * T,
    bandwidth: 3350 * G,
  },
  {
    name: "NVIDIA GH200",
    pattern: /\bGH200\b/i,
    fp32: 67 * T,
    fp16: 989.4 * T,
    bandwidth: 4000 * G,
  },
  { name: "NVIDIA A100", pattern: /\bA100\b/i, fp32: 19.5 * T, fp16: 312 * T, bandwidth: 2039 * G },
  { name: "NVIDIA A10G", pattern: /\bA10G\b/i, fp32: 31.2 * T, fp16: 70 * T, bandwidth: 600 * G },
  { name: "NVIDIA A10", pattern: /\bA10\b/i, fp32: 31.2 * T, fp16: 125 * T, bandwidth: 600 * G },
  { name: "NVIDIA L40S", pattern: /\bL40S\b/i, fp32: 91.6 * T, fp16: 362 * T, bandwidth: 864 * G },
  { name: "NVIDIA L4", pattern: /\bL4\b/i, fp32: 30.3 * T, fp16: 121 * T, bandwidth: 300 * G },
  { name: "NVIDIA V100", pattern: /\bV100\b/i, fp32: 15.7 * T, fp16: 125 * T, bandwidth: 900 * G },
  {
    name: "NVIDIA T4",
    pattern: /\bTesla T4\b|\bT4\b/i,
    fp32: 8.1 * T,
    fp16: 65 * T,
    bandwidth: 320 * G,
  },
  {
    name: "NVIDIA RTX 5090",
    pattern: /RTX 5090/i,
    fp32: 104.8 * T,
    fp16: 209.5 * T,
    bandwidth: 1792 * G,
  },
  {
    name: "NVIDIA RTX 4090",
    pattern: /RTX 4090/i,
    fp32: 82.6 * T,
    fp16: 165.2 * T,
    bandwidth: 1008 * G,
  },
  {
    name: "NVIDIA RTX 4080",
    pattern: /RTX 4080/i,
    fp32: 48.7 * T,
    fp16: 97.5 * T,
    bandwidth: 717 * G,
  },
  {
    name: "NVIDIA RTX 4070",
    pattern: /RTX 4070/i,
    fp32: 29.1 * T,
    fp16: 58.3 * T,
    bandwidth: 504 * G,
  },
  {
    name: "NVIDIA RTX 3090",
    pattern: /RTX 3090/i,
    fp32: 35.6 * T,
    fp16: 71 * T,
    bandwidth: 936 * G,
  },
  {
    name: "NVIDIA RTX 3080",
    pattern: /RTX 3080/i,
    fp32: 29.8 * T,
    fp16: 59.5 * T,
    bandwidth: 760 * G,
  },
  {
    name: "NVIDIA RTX 3070",
    pattern: /RTX 3070/i,
    fp32: 20.3 * T,
    fp16: 40.6 * T,
    bandwidth: 448 * G,
  },
  {
    name: "AMD Instinct MI300X",
    pattern: /MI300X/i,
    fp32: 163.4 * T,
    fp16: 1307 * T,
    bandwidth: 5300 * G,
  },
  {
    name: "AMD Instinct MI250X",
    pattern: /MI250X/i,
    fp32: 47.9 * T,
    fp16: 383 * T,
    bandwidth: 3200 * G,
  },
  {
    name: "AMD Radeon RX 7900 XTX",
    pattern: /7900 XTX/i,
    fp32: 61.4 * T,
    fp16: 122.8 * T,
    bandwidth: 960 * G,
  },
  {
    name: "Apple M4 Max",
    pattern: /Apple M4 Max/i,
    fp32: 18.4 * T,
    fp16: 18.4 * T,
    bandwidth: 546 * G,
  },
  {
    name: "Apple M4 Pro",
    pattern: /Apple M4 Pro/i,
    fp32: 9.2 * T,
    fp16: 9.2 * T,
    bandwidth: 273 * G,
  },
  { name: "Apple M4", pattern: /Apple M4/i, fp32: 4.3 * T, fp16: 4.3 * T, bandwidth: 120 * G },
  {
    name: "Apple M3 Ultra",
    pattern: /Apple M3 Ultra/i,
    fp32: 28.2 * T,
    fp16: 28.2 * T,
    bandwidth: 819 * G,
  },
  {
    name: "Apple M3 Max",
    pattern: /Apple M3 Max/i,
    fp32: 16.4 * T,
    fp16: 16.4 * T,
    bandwidth: 400 * G,
  },
  {
    name: "Apple M3 Pro",
    pattern: /Apple M3 Pro/i,
    fp32: 7.4 * T,
    fp16: 7.4 * T,
    bandwidth: 150 * G,
  },
  { name: "Apple M3", pattern: /Apple M3/i, fp32: 4.1 * T, fp16: 4.1 * T, bandwidth: 100 * G },
  {
    name: "Apple M2 Ultra",
    pattern: /Apple M2 Ultra/i,
    fp32: 27.2 * T,
    fp16: 27.2 * T,
    bandwidth: 800 * G,
  },
  {
    name: "Apple M2 Max",
    pattern: /Apple M2 Max/i,
    fp32: 13.6 * T,
    fp16: 13.6 * T,
    bandwidth: 400 * G,
  },
  {
    name: "Apple M2 Pro",
    pattern: /Apple M2 Pro/i,
    fp32: 6.8 * T,
    fp16: 6.8 * T,
    bandwidth: 200 * G,
  },
  { name: "Apple M2", pattern: /Apple M2/i, fp32: 3.6 * T, fp16: 3.6 * T, bandwidth: 100 * G },
  {
    name: "Apple M1 Ultra",
    pattern: /Apple M1 Ultra/i,
    fp32: 21.2 * T,
    fp16: 21.2 * T,
    bandwidth: 800 * G,
  },
  {
    name: "Apple M1 Max",
    pattern: /Apple M1 Max/i,
    fp32: 10.4 * T,
    fp16: 10.4 * T,
    bandwidth: 400 * G,
  },
  {
    name: "Apple M1 Pro",
    pattern: /Apple M1 Pro/i,
    fp32: 5.2 * T,
    fp16: 5.2 * T,
    bandwidth: 200 * G,
  },
  { name: "Apple M1", pattern: /Apple M1/i, fp32: 2.6 * T, fp16: 2.6 * T, bandwidth: 68 * G },
];

/** Find the table entry for an adapter description, or null when it is not a known GPU. */
export function lookupGpu(description: string): KnownGpu | null {
  return KNOWN_GPUS.find((gpu) => gpu.pattern.test(description)) ?? null;
}

/** The peak FLOP/s an MFU figure is computed against, and where it came from. */
export interface PeakFlops {
  /** fp32 peak, FLOP/s. */
  fp32: number;
  /** 16-bit peak (bf16/fp16 with fp32 accumulation), FLOP/s; the fp32 figure on CPUs. */
  fp16: number;
  /** "table:<name>", "measured:<method>", "cache:<method>" or "env:AUTORESEARCH_PEAK_FLOPS". */
  source: string;
}

/** Peak FLOP/s of a GPU from the table, or null for an unknown or software adapter. */
export function gpuPeakFlops(gpu: GpuInfo): PeakFlops | null {
  if (gpu.isFallbackAdapter) return null;
  const known = lookupGpu(gpu.description);
  return known ? { fp32: known.fp32, fp16: known.fp16, source: `table:${known.name}` } : null;
}

/**
 * A matmul to time: multiplies an (n x n) by an (n x n) row-major matrix into `out`. The engine's
 * fastest CPU kernel can be passed in from above (the platform layer cannot import the engine).
 */
export type MatmulFn = (a: Float32Array, b: Float32Array, out: Float32Array, n: number) => void;

/** The platform's own portable matmul: i-k-j order over rows, 4 columns of B per pass. */
export function portableMatmul(
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  n: number,
): void {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const rowOut = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      const rowB = k * n;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        out[rowOut + j] += aik * b[rowB + j];
        out[rowOut + j + 1] += aik * b[rowB + j + 1];
        out[rowOut + j + 2] += aik * b[rowB + j + 2];
        out[rowOut + j + 3] += aik * b[rowB + j + 3];
      }
      for (; j < n; j++) out[rowOut + j] += aik * b[rowB + j];
    }
  }
}

/**
 * Time `matmul` on n x n matrices: one warm-up, then repeats until ~`budgetMs` has passed; the
 * best repeat counts (least disturbed by other processes). Returns FLOP/s (2 n^3 per matmul).
 */
export function measureMatmulFlops(
  matmul: MatmulFn = portableMatmul,
  n = 512,
  budgetMs = 300,
): number {
  const a = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = new Float32Array(n * n).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const out = new Float32Array(n * n);
  matmul(a, b, out, n);
  let best = Infinity;
  const start = performance.now();
  do {
    const t0 = performance.now();
    matmul(a, b, out, n);
    best = Math.min(best, performance.now() - t0);
  } while (performance.now() - start < budgetMs);
  return (2 * n * n * n) / (Math.max(best, 1e-3) / 1000);
}

/** Where the per-machine cache lives: `$XDG_CACHE_HOME` or `~/.cache`, then autoresearch/. */
export function platformCachePath(): string {
  return join(userCacheDir(), "platform.json");
}

interface CacheFile {
  version: 1;
  cpu: Record<string, { flops: number; method: string; measuredAt: string }>;
}

/** The key one machine's CPU figure is cached under: model, cores, arch and method. */
function cpuCacheKey(cpu: CpuInfo, method: string): string {
  return `${cpu.model}|${cpu.cores}|${cpu.arch}|${method}`;
}

/** Options for `cpuPeakFlops`. */
export interface CpuPeakOptions {
  /** The matmul to time (default: the portable one). */
  matmul?: MatmulFn;
  /** A name for the matmul, part of the cache key (default "portable"). */
  method?: string;
  /** Cache file path (default `platformCachePath()`). */
  cachePath?: string;
  /** Ignore the cache and measure again. */
  refresh?: boolean;
  /** Called with a warning (corrupt cache); default prints to stderr. */
  warn?: (message: string) => void;
}

/**
 * The CPU's peak FLOP/s for MFU: `AUTORESEARCH_PEAK_FLOPS` when set, else the cached figure for
 * this machine and method, else a fresh ~0.3 s measurement that is then cached. A corrupt cache
 * file is reported and left alone (measured again, not overwritten).
 */
export function cpuPeakFlops(cpu: CpuInfo, options: CpuPeakOptions = {}): PeakFlops {
  const override = Number(Deno.env.get("AUTORESEARCH_PEAK_FLOPS") ?? "");
  if (override > 0) {
    return { fp32: override, fp16: override, source: "env:AUTORESEARCH_PEAK_FLOPS" };
  }
  const method = options.method ?? "portable";
  const path = options.cachePath ?? platformCachePath();
  const warn = options.warn ?? ((message: string) => console.error(`warning: ${message}`));
  const key = cpuCacheKey(cpu, method);
  let cache: CacheFile | null = { version: 1, cpu: {} };
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
    if (parsed?.version !== 1 || typeof parsed.cpu !== "object" || parsed.cpu === null) {
      throw new Error("not a version-1 platform cache");
    }
    cache = parsed as CacheFile;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      warn(`${path}: ${error instanceof Error ? error.message : error}; measuring without cache`);
      cache = null; // corrupt: never overwrite it
    }
  }
  const hit = cache?.cpu[key];
  if (hit && !options.refresh && Number.isFinite(hit.flops) && hit.flops > 0) {
    return { fp32: hit.flops, fp16: hit.flops, source: `cache:${method}` };
  }
  const flops = measureMatmulFlops(options.matmul ?? portableMatmul);
  if (cache) {
    cache.cpu[key] = { flops, method, measuredAt: new Date().toISOString() };
    try {
      atomicWriteSync(path, JSON.stringify(cache, null, 2) + "\n");
    } catch (error) {
      warn(`${path}: cannot write cache (${error instanceof Error ? error.message : error})`);
    }
  }
  return { fp32: flops, fp16: flops, source: `measured:${method}` };
}
