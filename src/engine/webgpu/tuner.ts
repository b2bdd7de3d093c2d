/**
 * What every WebGPU autotuner shares (matmul: tune.ts, attention: attention_tune.ts): measuring
 * the variants of one shape (each result checked against the default variant's before it may
 * win, then timed on the device in two rounds), the per-adapter JSON cache (re-read before each
 * write, a corrupt file reported and left alone), the loop over a run's shapes with a time limit,
 * and the borrowing of a near tuned shape's choice for an untuned one. A family supplies only
 * what differs: its shapes, buffers, launch and tolerance.
 */
import { dirname } from "node:path";
import { atomicWriteSync } from "../../util/atomic.ts";
import { UsageError } from "../../util/errors.ts";
import type { WebGpuBackend, WebGpuBuffer } from "./backend.ts";
import { hasTimestamps, timeOnDevice } from "./timing.ts";

/** One variant's outcome on one shape. */
export interface TunedCandidate {
  /** Variant id. */
  id: string;
  /** Device ms per launch, or null when it failed the check or threw. */
  ms: number | null;
  /** Why it was rejected. */
  error?: string;
}

/** What measuring one shape found. */
export interface Measurement {
  /** The winning variant's id. */
  variant: string;
  /** Its ms per launch. */
  ms: number;
  /** The untuned default's id and ms (for the speed-up). */
  defaultVariant: string;
  defaultMs: number | null;
  /** "timestamp" (GPU clock) or "wall". */
  timing: "timestamp" | "wall";
  /** Every candidate measured. */
  candidates: TunedCandidate[];
}

/** The buffers and launch of one shape, prepared by a family. */
export interface Trial<V> {
  /** Record the work once with `variant` (forced on the backend). */
  run(variant: V): void;
  /** The outputs the candidates must agree on. */
  outputs: WebGpuBuffer[];
  /** Release the buffers and the forced variant. */
  dispose(): void;
}

/** Variants re-timed in the second round. */
const FINALISTS = 4;

/** Elements compared per output: all of it up to 2^20, else its head and tail. */
const CHECK_ELEMENTS = 1 << 20;

async function readCheck(backend: WebGpuBackend, buffer: WebGpuBuffer): Promise<Float32Array[]> {
  if (buffer.length <= CHECK_ELEMENTS) return [await backend.read(buffer) as Float32Array];
  const half = CHECK_ELEMENTS / 2;
  return [
    await backend.read(buffer, 0, half) as Float32Array,
    await backend.read(buffer, buffer.length - half, half) as Float32Array,
  ];
}

/** Largest |got - want| relative to the largest |want| (0 for an all-zero reference). */
function relativeError(got: Float32Array[], want: Float32Array[]): number {
  let worst = 0;
  let scale = 0;
  want.forEach((part, p) => {
    for (let i = 0; i < part.length; i++) {
      scale = Math.max(scale, Math.abs(part[i]));
      const diff = Math.abs(got[p][i] - part[i]);
      worst = Number.isNaN(diff) ? Infinity : Math.max(worst, diff);
    }
  });
  return scale === 0 ? worst : worst / scale;
}

/** Repetitions for a measured time near `ms`: about 20 ms of work, 1 to 50 runs. */
function repsFor(ms: number): number {
  return Math.max(1, Math.min(50, Math.round(20 / Math.max(ms, 1e-3))));
}

/**
 * Measure `candidates` on one prepared shape: the reference runs first; each candidate runs once
 * (compiling outside the measurement) and must agree with it to `tolerance(variant)` of each
 * output's largest element, else it is rejected with what it showed; survivors are timed once,
 * the FINALISTS fastest twice more, and the best time wins. Throws when none is correct.
 */
export async function measureVariants<V extends { id: string }>(
  backend: WebGpuBackend,
  trial: Trial<V>,
  reference: V,
  candidates: readonly V[],
  tolerance: (variant: V) => number,
  what: string,
): Promise<Measurement> {
  const results: TunedCandidate[] = [];
  let timing: "timestamp" | "wall" = hasTimestamps(backend) ? "timestamp" : "wall";
  const time = async (variant: V, reps: number) => {
    const timed = await timeOnDevice(backend, () => trial.run(variant), reps);
    if (timed.source === "wall") timing = "wall";
    return timed.ms;
  };
  try {
    trial.run(reference);
    const want = await Promise.all(trial.outputs.map((buffer) => readCheck(backend, buffer)));
    for (const variant of candidates) {
      try {
        // A variant that leaves any output unwritten fails the check.
        for (const out of trial.outputs) backend.fill({ out, value: Number.NaN });
        trial.run(variant);
        let error = 0;
        for (const [index, buffer] of trial.outputs.entries()) {
          error = Math.max(error, relativeError(await readCheck(backend, buffer), want[index]));
        }
        if (!(error <= tolerance(variant))) {
          results.push({ id: variant.id, ms: null, error: `differs by ${error.toExponential(1)}` });
          continue;
        }
        const first = await time(variant, 1);
        results.push({ id: variant.id, ms: await time(variant, repsFor(first)) });
      } catch (error) {
        results.push({
          id: variant.id,
          ms: null,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    // The leaders timed twice more, best of three: noise decides only among them.
    const leaders = results.filter((x) => x.ms !== null).sort((x, y) => x.ms! - y.ms!)
      .slice(0, FINALISTS);
    for (const leader of leaders) {
      const variant = candidates.find((v) => v.id === leader.id)!;
      const reps = repsFor(leader.ms!);
      for (let round = 0; round < 2; round++) {
        leader.ms = Math.min(leader.ms!, await time(variant, reps));
      }
    }
  } finally {
    trial.dispose();
  }
  const valid = results.filter((x) => x.ms !== null) as { id: string; ms: number }[];
  if (valid.length === 0) throw new Error(`webgpu: no variant ran ${what} correctly`);
  const best = valid.reduce((x, y) => (y.ms < x.ms ? y : x));
  return {
    variant: best.id,
    ms: best.ms,
    defaultVariant: reference.id,
    defaultMs: results.find((x) => x.id === reference.id)?.ms ?? null,
    timing,
    candidates: results,
  };
}

/** A tuning cache file: per adapter key, that adapter's record (its `entries` and extras). */
interface CacheFile<R> {
  version: 1;
  adapters: Record<string, R>;
}

/**
 * Read a tuning cache: an empty one when the file does not exist, null (reported through `log`)
 * when it is corrupt: then it is left alone, never overwritten, and tuning runs uncached.
 */
export function readTuneCache<R>(
  path: string,
  log: (message: string) => void,
): CacheFile<R> | null {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
    if (parsed?.version !== 1 || typeof parsed.adapters !== "object" || parsed.adapters === null) {
      throw new Error("not a version-1 webgpu tuning cache");
    }
    return parsed as CacheFile<R>;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, adapters: {} };
    log(`warning: ${path}: ${error instanceof Error ? error.message : error}; tuning uncached`);
    return null;
  }
}

/**
 * Update one adapter's record in a tuning cache: re-read right before writing (another run may
 * have added shapes meanwhile), merge with `update`, write atomically. A corrupt file is left.
 */
export function updateTuneCache<R>(
  path: string,
  key: string,
  update: (current: R | undefined) => R,
  log: (message: string) => void,
): void {
  const cache = readTuneCache<R>(path, log);
  if (!cache) return;
  cache.adapters[key] = update(cache.adapters[key]);
  try {
    Deno.mkdirSync(dirname(path), { recursive: true });
    atomicWriteSync(path, JSON.stringify(cache, null, 2) + "\n");
  } catch (error) {
    log(`warning: ${path}: cannot write cache (${error instanceof Error ? error.message : error})`);
  }
}

/** Options every tuner takes (`tuneMatmul`, `tuneAttention`). */
export interface TunerOptions<V> {
  /** Cache file (default: the family's file in the user cache); null = no cache. */
  cachePath?: string | null;
  /** Measure again even when cached. */
  refresh?: boolean;
  /** Stop measuring new shapes after this many seconds (default 120); the rest stay untuned. */
  maxSeconds?: number;
  /** Progress and warnings (default: stderr). */
  log?: (message: string) => void;
  /** Variants to choose from (default: the family's catalogue). */
  variants?: readonly V[];
}

/** What a tuner did. */
export interface TunerResult<E> {
  /** The adapter key the entries are cached under. */
  key: string;
  /** Entries for the requested shapes (cached or measured). */
  entries: Record<string, E>;
  /** Shapes measured now. */
  measured: number;
  /** Shapes found in the cache. */
  cached: number;
  /** Shapes left untuned (time limit). */
  skipped: number;
}

/** What `tuneShapes` found. */
export interface ShapesTuned<E> {
  /** Entries for the requested shapes (cached or measured). */
  entries: Record<string, E>;
  /** The entries measured now. */
  fresh: Record<string, E>;
  /** Shapes found in the cache. */
  cached: number;
  /** Shapes left untuned (time limit). */
  skipped: number;
}

/**
 * Tune each distinct shape (by `key`): a usable cached entry is taken as it is (unless
 * `refresh`); the rest are measured by `tune` until `maxSeconds` have passed (the shape under way
 * finishes), and `report` is told of each.
 */
export async function tuneShapes<S, E>(
  shapes: Iterable<S>,
  options: {
    key: (shape: S) => string;
    known: Record<string, E>;
    usable: (entry: E) => boolean;
    refresh?: boolean;
    maxSeconds?: number;
    tune: (shape: S) => Promise<E>;
    report: (key: string, entry: E) => void;
  },
): Promise<ShapesTuned<E>> {
  const entries: Record<string, E> = {};
  const fresh: Record<string, E> = {};
  const started = performance.now();
  const limitMs = (options.maxSeconds ?? 120) * 1000;
  let cached = 0;
  let skipped = 0;
  const unique = new Map<string, S>();
  for (const shape of shapes) unique.set(options.key(shape), shape);
  for (const [id, shape] of unique) {
    const hit = options.known[id];
    if (hit && options.usable(hit) && !options.refresh) {
      entries[id] = hit;
      cached++;
      continue;
    }
    if (performance.now() - started > limitMs) {
      skipped++;
      continue;
    }
    entries[id] = fresh[id] = await options.tune(shape);
    options.report(id, fresh[id]);
  }
  return { entries, fresh, cached, skipped };
}

/**
 * A per-shape choice from tuned entries: the exact shape's variant, else the variant of the
 * nearest compatible tuned shape within `maxDistance` (beyond it a neighbour says little), when
 * that variant supports the shape; else undefined (the default).
 */
export function nearestChoice<S, V>(
  tuned: readonly { key: string; shape: S; variant: V }[],
  options: {
    key: (shape: S) => string;
    compatible: (tuned: S, shape: S) => boolean;
    supports: (variant: V, shape: S) => boolean;
    distance: (tuned: S, shape: S) => number;
    maxDistance?: number;
  },
): (shape: S) => V | undefined {
  const exact = new Map(tuned.map((t) => [t.key, t.variant]));
  const maxDistance = options.maxDistance ?? 2;
  return (shape) => {
    const hit = exact.get(options.key(shape));
    if (hit) return hit;
    let best: V | undefined;
    let bestDistance = Infinity;
    for (const t of tuned) {
      if (!options.compatible(t.shape, shape) || !options.supports(t.variant, shape)) continue;
      const distance = options.distance(t.shape, shape);
      if (distance < bestDistance) [best, bestDistance] = [t.variant, distance];
    }
    return bestDistance <= maxDistance ? best : undefined;
  };
}

/** |log2(a / b)|: how far apart two sizes are, in factors of two. */
export function log2Distance(a: number, b: number): number {
  return Math.abs(Math.log2(a / b));
}

/** A short hash of kernel sources (FNV-1a, 32 bits): part of a cache key. */
export function sourceHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** The adapter fields a tuning key is built from (GPUAdapterInfo or platform/gpu.ts GpuInfo). */
export interface AdapterIdentity {
  description: string;
  vendor: string;
  architecture: string;
  device: string;
}

/** The driver version where the OS tells it (NVIDIA's kernel module on Linux), else "". */
function driverVersion(): string {
  if (Deno.build.os !== "linux") return "";
  try {
    const text = Deno.readTextFileSync("/proc/driver/nvidia/version");
    return text.match(/Kernel Module\s+(\S+)/)?.[1] ?? text.split("\n")[0].slice(0, 80);
  } catch {
    return "";
  }
}

/**
 * The adapter part of every tuning key: description, vendor, architecture and device, the
 * driver where known and Deno's version (its WebGPU implementation). Each family appends its
 * variant ids and a hash of its kernels' sources, so any change among them measures again.
 */
export function adapterBaseKey(info: AdapterIdentity): string {
  return [
    info.description || "-",
    info.vendor || "-",
    info.architecture || "-",
    info.device || "-",
    `driver ${driverVersion() || "-"}`,
    `deno ${Deno.version.deno}`,
  ].join(" | ");
}

/** Whether the trainer tunes: `AUTORESEARCH_WEBGPU_TUNE` = "1"/"0", else real adapters only. */
export function tuningWanted(isFallback: boolean): boolean {
  const value = Deno.env.get("AUTORESEARCH_WEBGPU_TUNE");
  if (value === undefined || value === "") return !isFallback;
  if (value === "1" || value === "0") return value === "1";
  throw new UsageError("AUTORESEARCH_WEBGPU_TUNE", `must be 1 or 0, got ${JSON.stringify(value)}`);
}

/** The trainer's side of a tuner: tune the shapes a run used, name the kernels they run on. */
export interface FirstUseTuning<R> {
  /** Tune the shapes seen since the last call (cached ones cost nothing); null when none. */
  finish(): Promise<R | null>;
  /** The variants the run's shapes use now, "<label>:<ids>" (part of the harness hash). */
  kernels(): string;
}

/**
 * Tuning at first use: `watch` installs the collector of launched shapes (cached choices are
 * already applied by the caller); each `finish()` tunes the shapes seen since the last one, when
 * `wanted` (the trainer calls it after the first micro-batch and after the first step).
 */
export function firstUse<S, R>(options: {
  wanted: boolean;
  watch: (collect: (shape: S) => void) => void;
  key: (shape: S) => string;
  tune: (shapes: S[]) => Promise<R>;
  variantOf: (shape: S) => string;
  label: string;
}): FirstUseTuning<R> {
  const seen = new Map<string, S>();
  const tuned = new Set<string>();
  options.watch((shape) => seen.set(options.key(shape), shape));
  return {
    async finish() {
      const fresh = [...seen].filter(([key]) => !tuned.has(key));
      if (!options.wanted || fresh.length === 0) return null;
      for (const [key] of fresh) tuned.add(key);
      return await options.tune(fresh.map(([, shape]) => shape));
    },
    kernels() {
      const ids = new Set([...seen.values()].map(options.variantOf));
      return ids.size ? `${options.label}:${[...ids].sort().join(",")}` : "";
    },
  };
}
