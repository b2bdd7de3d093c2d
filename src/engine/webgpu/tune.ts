/**
 * The matmul autotuner. No single kernel is fastest on every GPU: tile sizes, load widths and
 * splits that suit an H100 can be slow on an Apple or AMD part, and what suits a 65536 x 512
 * product is wrong for 512 x 512. So each shape a run uses is timed with every variant that
 * supports it (matmul_variants.ts), on this adapter, with GPU timestamps (timing.ts); each
 * candidate's result is checked against the default variant's before it may win. The choice is
 * cached per adapter, driver, Deno version and variant catalogue in
 * `~/.cache/autoresearch/webgpu-tune.json`, so only the first run on a machine pays (the trainer
 * tunes during its uncounted warm-up). A corrupt cache is reported and left alone.
 */
import { dirname, join } from "node:path";
import { atomicWriteSync } from "../../util/atomic.ts";
import { userCacheDir } from "../../util/cache_dir.ts";
import { seededRandom } from "../../util/random.ts";
import type { WebGpuBackend, WebGpuBuffer } from "./backend.ts";
import {
  defaultMatmulVariant,
  MATMUL_VARIANTS,
  type MatmulShape,
  type MatmulVariant,
} from "./matmul_variants.ts";
import { hasTimestamps, timeOnDevice } from "./timing.ts";
import matmulWgsl from "../../../kernels/matmul.wgsl" with { type: "text" };
import matmulWgslTs from "./matmul_wgsl.ts" with { type: "text" };

/** One variant's outcome on one shape. */
export interface TunedCandidate {
  /** Variant id. */
  id: string;
  /** Device ms per matmul, or null when it failed the check or threw. */
  ms: number | null;
  /** Why it was rejected. */
  error?: string;
}

/** The tuned choice for one shape. */
export interface TuneEntry {
  /** The winning variant's id. */
  variant: string;
  /** Its ms per matmul. */
  ms: number;
  /** GFLOP/s of the winner. */
  gflops: number;
  /** The untuned default's id and ms (for the speed-up). */
  defaultVariant: string;
  defaultMs: number | null;
  /** "timestamp" (GPU clock) or "wall". */
  timing: "timestamp" | "wall";
  /** Every candidate measured. */
  candidates: TunedCandidate[];
  /** Whether f16 variants competed (absent in older caches: they did not). */
  allowF16?: boolean;
}

/** The tuned entries of one adapter. */
export interface AdapterTuning {
  /** What the key was built from, for people reading the cache. */
  adapter: string;
  /** Tuned shapes by `shapeKey`. */
  entries: Record<string, TuneEntry>;
  /** The f16 loss gate's verdict on this adapter (src/train/precision.ts), when it ran. */
  f16Gate?: F16GateVerdict;
}

/** What the f16 loss gate found on an adapter. */
export interface F16GateVerdict {
  /** f16 stayed within the tolerance. */
  passed: boolean;
  /** Largest loss difference from f32 over the gate's steps. */
  maxLossDiff: number;
  /** The tolerance applied. */
  tolerance: number;
}

interface CacheFile {
  version: 1;
  adapters: Record<string, AdapterTuning>;
}

/** Options of `tuneMatmul`. */
export interface TuneOptions {
  /** Let f16-precision variants win (default false: f32 stays the default). */
  allowF16?: boolean;
  /** Cache file (default `webgpuTuneCachePath()`); null = no cache. */
  cachePath?: string | null;
  /** Measure again even when cached. */
  refresh?: boolean;
  /** Stop measuring new shapes after this many seconds (default 120); the rest stay untuned. */
  maxSeconds?: number;
  /** Progress and warnings (default: stderr). */
  log?: (message: string) => void;
  /** Variants to choose from (default MATMUL_VARIANTS). */
  variants?: readonly MatmulVariant[];
}

/** What `tuneMatmul` did. */
export interface TuneResult {
  /** The adapter key the entries are cached under. */
  key: string;
  /** Entries for the requested shapes (cached or measured). */
  entries: Record<string, TuneEntry>;
  /** Shapes measured now. */
  measured: number;
  /** Shapes found in the cache. */
  cached: number;
  /** Shapes left untuned (time limit). */
  skipped: number;
}

/** `$XDG_CACHE_HOME` or `~/.cache`, then autoresearch/webgpu-tune.json. */
export function webgpuTuneCachePath(): string {
  return join(userCacheDir(), "webgpu-tune.json");
}

/**
 * The cache key of a shape: m x n x k, batch, transposes, and "u" when its offsets or strides
 * are not vec4-aligned (only scalar-load variants compete for it).
 */
export function shapeKey(shape: MatmulShape): string {
  return `${shape.m}x${shape.n}x${shape.k}` +
    `${shape.batch > 1 ? `b${shape.batch}` : ""}${shape.transA ? "T" : "N"}` +
    `${shape.transB ? "T" : "N"}${shape.aligned === false ? "u" : ""}`;
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
 * A short hash of the matmul kernels' sources: a change to the generator or the hand-written
 * kernels that keeps the variant ids still measures again.
 */
const KERNEL_CODE_HASH = fnv1a(matmulWgslTs + matmulWgsl);

function fnv1a(text: string): string {
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

/**
 * The key tuned choices are cached under: the adapter (description, vendor, architecture,
 * device), the driver where known, Deno's version (its WebGPU implementation) and the variant
 * catalogue, so any change among them measures again.
 */
export function adapterKeyOf(
  info: AdapterIdentity,
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
): string {
  return [
    info.description || "-",
    info.vendor || "-",
    info.architecture || "-",
    info.device || "-",
    `driver ${driverVersion() || "-"}`,
    `deno ${Deno.version.deno}`,
    `variants ${variants.map((v) => v.id).join(",")} code ${KERNEL_CODE_HASH}`,
  ].join(" | ");
}

/** `adapterKeyOf` for a backend's adapter. */
export function adapterKey(
  backend: WebGpuBackend,
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
): string {
  return adapterKeyOf(backend.gpu.adapter.info, variants);
}

/** The cached tuning of an adapter without creating a device (for `autoresearch platform`). */
export function readAdapterTuning(
  info: AdapterIdentity,
  cachePath: string = webgpuTuneCachePath(),
  log: (message: string) => void = () => {},
): AdapterTuning | null {
  return readCache(cachePath, log)?.adapters[adapterKeyOf(info)] ?? null;
}

function readCache(path: string, log: (message: string) => void): CacheFile | null {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
    if (parsed?.version !== 1 || typeof parsed.adapters !== "object" || parsed.adapters === null) {
      throw new Error("not a version-1 webgpu tuning cache");
    }
    return parsed as CacheFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, adapters: {} };
    log(`warning: ${path}: ${error instanceof Error ? error.message : error}; tuning uncached`);
    return null; // corrupt: reported and left alone, never overwritten
  }
}

/** The cached tuning of this backend's adapter, or null (no cache, or corrupt). */
export function cachedTuning(
  backend: WebGpuBackend,
  cachePath: string = webgpuTuneCachePath(),
  log: (message: string) => void = () => {},
): AdapterTuning | null {
  return readCache(cachePath, log)?.adapters[adapterKey(backend)] ?? null;
}

function writeCache(path: string, key: string, tuning: AdapterTuning, log: (m: string) => void) {
  // Re-read right before writing: another run may have added shapes meanwhile.
  const cache = readCache(path, log);
  if (!cache) return;
  const current = cache.adapters[key];
  cache.adapters[key] = {
    adapter: tuning.adapter,
    entries: { ...current?.entries, ...tuning.entries },
    ...(tuning.f16Gate ?? current?.f16Gate ? { f16Gate: tuning.f16Gate ?? current?.f16Gate } : {}),
  };
  try {
    Deno.mkdirSync(dirname(path), { recursive: true });
    atomicWriteSync(path, JSON.stringify(cache, null, 2) + "\n");
  } catch (error) {
    log(`warning: ${path}: cannot write cache (${error instanceof Error ? error.message : error})`);
  }
}

/** Elements of each operand of a shape, batch included (items stored back to back). */
function operandSizes(shape: MatmulShape): [number, number, number] {
  const { m, n, k, batch } = shape;
  return [batch * m * k, batch * k * n, batch * m * n];
}

/** Elements compared against the reference: all of C up to 2^20, else its head and tail. */
const CHECK_ELEMENTS = 1 << 20;

async function readCheck(backend: WebGpuBackend, c: WebGpuBuffer): Promise<Float32Array[]> {
  if (c.length <= CHECK_ELEMENTS) return [await backend.read(c) as Float32Array];
  const half = CHECK_ELEMENTS / 2;
  return [
    await backend.read(c, 0, half) as Float32Array,
    await backend.read(c, c.length - half, half) as Float32Array,
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

/** Tolerance of the check against the default variant, relative to max |C|. */
const TOLERANCE = { f32: 1e-4, f16: 2e-2 } as const;

/** Variants re-timed in the second round. */
const FINALISTS = 4;

/** Repetitions for a measured time near `ms`: about 20 ms of work, 1 to 50 runs. */
function repsFor(ms: number): number {
  return Math.max(1, Math.min(50, Math.round(20 / Math.max(ms, 1e-3))));
}

/** Time one shape with every candidate; the fastest that agrees with the default wins. */
async function tuneShape(
  backend: WebGpuBackend,
  shape: MatmulShape,
  variants: readonly MatmulVariant[],
  allowF16: boolean,
): Promise<TuneEntry> {
  const caps = backend.matmulCaps;
  const reference = defaultMatmulVariant(shape, backend.largeTileMinTiles);
  const [sizeA, sizeB, sizeC] = operandSizes(shape);
  const random = seededRandom(shape.m * 31 + shape.n * 17 + shape.k);
  const fill = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
  const a = backend.alloc("f32", sizeA);
  const b = backend.alloc("f32", sizeB);
  const c = backend.alloc("f32", sizeC);
  const previous = backend.forcedMatmulVariant;
  const candidates: TunedCandidate[] = [];
  let timing: "timestamp" | "wall" = hasTimestamps(backend) ? "timestamp" : "wall";
  try {
    backend.write(a, fill(sizeA));
    backend.write(b, fill(sizeB));
    const { m, n, k, batch, transA, transB } = shape;
    const launch = () => backend.matmul({ a, b, c, m, n, k, batch, transA, transB });
    backend.forcedMatmulVariant = reference;
    launch();
    const want = await readCheck(backend, c);
    for (const variant of variants) {
      if (!variant.supports(shape, caps)) continue;
      if (variant.precision === "f16" && !allowF16) continue;
      backend.forcedMatmulVariant = variant;
      try {
        backend.fill({ out: c, value: Number.NaN }); // a variant that writes nothing fails
        launch(); // compiles the pipeline outside the measurement
        const error = relativeError(await readCheck(backend, c), want);
        if (!(error <= TOLERANCE[variant.precision])) {
          candidates.push({
            id: variant.id,
            ms: null,
            error: `differs by ${error.toExponential(1)}`,
          });
          continue;
        }
        // Round 1: one timing each (about 20 ms of work), enough to rank.
        const first = await timeOnDevice(backend, launch);
        const timed = await timeOnDevice(backend, launch, repsFor(first.ms));
        if (timed.source === "wall") timing = "wall";
        candidates.push({ id: variant.id, ms: timed.ms });
      } catch (error) {
        candidates.push({
          id: variant.id,
          ms: null,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    // Round 2: the leaders timed twice more, best of three (noise decides only among them).
    const leaders = candidates.filter((x) => x.ms !== null).sort((x, y) => x.ms! - y.ms!)
      .slice(0, FINALISTS);
    for (const leader of leaders) {
      backend.forcedMatmulVariant = variants.find((v) => v.id === leader.id)!;
      const reps = repsFor(leader.ms!);
      for (let round = 0; round < 2; round++) {
        leader.ms = Math.min(leader.ms!, (await timeOnDevice(backend, launch, reps)).ms);
      }
    }
  } finally {
    backend.forcedMatmulVariant = previous;
    for (const buffer of [a, b, c]) backend.free(buffer);
  }
  const valid = candidates.filter((x) => x.ms !== null) as { id: string; ms: number }[];
  if (valid.length === 0) {
    throw new Error(`webgpu: no matmul variant ran ${shapeKey(shape)} correctly`);
  }
  const best = valid.reduce((x, y) => (y.ms < x.ms ? y : x));
  const flops = 2 * shape.m * shape.n * shape.k * shape.batch;
  return {
    variant: best.id,
    ms: best.ms,
    gflops: flops / (best.ms / 1000) / 1e9,
    defaultVariant: reference.id,
    defaultMs: candidates.find((x) => x.id === reference.id)?.ms ?? null,
    timing,
    candidates,
    allowF16,
  };
}

/**
 * Tune `shapes` on this backend's adapter: cached entries are reused, the rest measured (until
 * `maxSeconds`) and cached. Installs the result with `applyMatmulTuning`.
 */
export async function tuneMatmul(
  backend: WebGpuBackend,
  shapes: Iterable<MatmulShape>,
  options: TuneOptions = {},
): Promise<TuneResult> {
  const log = options.log ?? ((message: string) => console.error(message));
  const variants = options.variants ?? MATMUL_VARIANTS;
  const key = adapterKey(backend, variants);
  const path = options.cachePath === undefined ? webgpuTuneCachePath() : options.cachePath;
  const cache = path ? readCache(path, log) : null;
  const known = cache?.adapters[key]?.entries ?? {};
  const entries: Record<string, TuneEntry> = {};
  const fresh: Record<string, TuneEntry> = {};
  const started = performance.now();
  const limitMs = (options.maxSeconds ?? 120) * 1000;
  let cached = 0;
  let skipped = 0;
  const unique = new Map<string, MatmulShape>();
  for (const shape of shapes) unique.set(shapeKey(shape), shape);
  for (const [id, shape] of unique) {
    const hit = known[id];
    const allowF16 = options.allowF16 ?? false;
    const winner = hit && variants.find((v) => v.id === hit.variant);
    // An entry tuned without f16 cannot answer with f16 allowed; one that chose f16 is void
    // when f16 is not allowed.
    const usable = winner && (allowF16 ? hit.allowF16 === true : winner.precision === "f32");
    if (usable && !options.refresh) {
      entries[id] = hit;
      cached++;
      continue;
    }
    if (performance.now() - started > limitMs) {
      skipped++;
      continue;
    }
    const entry = await tuneShape(backend, shape, variants, allowF16);
    entries[id] = fresh[id] = entry;
    const speedup = entry.defaultMs ? ` (${(entry.defaultMs / entry.ms).toFixed(2)}x default)` : "";
    log(
      `tuned matmul ${id}: ${entry.variant} ${entry.gflops.toFixed(1)} GFLOP/s${speedup}`,
    );
  }
  if (path && cache && Object.keys(fresh).length > 0) {
    writeCache(path, key, { adapter: key, entries: fresh }, log);
  }
  applyMatmulTuning(
    backend,
    { adapter: key, entries: { ...known, ...entries } },
    variants,
    options.allowF16 ?? false,
  );
  return { key, entries, measured: Object.keys(fresh).length, cached, skipped };
}

/** Parse a shape key back (null for a key of another format). */
function parseShapeKey(key: string): MatmulShape | null {
  const match = key.match(/^(\d+)x(\d+)x(\d+)(?:b(\d+))?([NT])([NT])(u?)$/);
  if (!match) return null;
  return {
    m: Number(match[1]),
    n: Number(match[2]),
    k: Number(match[3]),
    batch: Number(match[4] ?? 1),
    transA: match[5] === "T",
    transB: match[6] === "T",
    ...(match[7] ? { aligned: false } : {}),
  };
}

/**
 * Make the backend use a tuning: a tuned shape gets its variant; an untuned shape gets the
 * variant of the nearest tuned shape of the same transposes and batching (distance in log
 * m, n, k), when that variant supports it; else the default.
 */
export function applyMatmulTuning(
  backend: WebGpuBackend,
  tuning: AdapterTuning,
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
  allowF16 = false,
): void {
  const tuned = Object.entries(tuning.entries).flatMap(([key, entry]) => {
    const shape = parseShapeKey(key);
    const variant = variants.find((v) => v.id === entry.variant);
    if (!shape || !variant || (variant.precision === "f16" && !allowF16)) return [];
    return [{ key, shape, variant }];
  });
  const exact = new Map(tuned.map((t) => [t.key, t.variant]));
  const caps = backend.matmulCaps;
  backend.matmulChoice = (shape) => {
    const hit = exact.get(shapeKey(shape));
    if (hit) return hit;
    let best: MatmulVariant | undefined;
    let bestDistance = Infinity;
    for (const t of tuned) {
      if (t.shape.transA !== shape.transA || t.shape.transB !== shape.transB) continue;
      if ((t.shape.batch > 1) !== (shape.batch > 1)) continue;
      if (!t.variant.supports(shape, caps)) continue;
      const distance = Math.abs(Math.log2(t.shape.m / shape.m)) +
        Math.abs(Math.log2(t.shape.n / shape.n)) + Math.abs(Math.log2(t.shape.k / shape.k));
      if (distance < bestDistance) [best, bestDistance] = [t.variant, distance];
    }
    // Beyond about 4x in the dimensions together, a neighbour says little: keep the default.
    return bestDistance <= 2 ? best : undefined;
  };
}

/** Whether the trainer tunes: `AUTORESEARCH_WEBGPU_TUNE` = "1"/"0", else real adapters only. */
export function tuningWanted(isFallback: boolean): boolean {
  const value = Deno.env.get("AUTORESEARCH_WEBGPU_TUNE");
  if (value === undefined || value === "") return !isFallback;
  if (value === "1" || value === "0") return value === "1";
  throw new Error(`AUTORESEARCH_WEBGPU_TUNE: must be 1 or 0, got ${JSON.stringify(value)}`);
}

/** The trainer's side of tuning: collect a run's shapes, tune them, name the kernels used. */
export interface FirstUseTuning {
  /** Tune the shapes seen so far (cached ones cost nothing) and use the result. */
  finish(): Promise<TuneResult | null>;
  /** The matmul variants the run's shapes use now: "webgpu-matmul:<ids>" (harness hash). */
  kernels(): string;
}

/**
 * Start tuning at first use: cached choices apply at once; the shapes of the first step are
 * collected, and `finish()` (called by the trainer after that step, outside the counted time)
 * tunes the ones not cached. Without tuning (`tuningWanted` false) only `kernels()` works.
 */
export function tuneAtFirstUse(backend: WebGpuBackend, options: TuneOptions = {}): FirstUseTuning {
  const seen = new Map<string, MatmulShape>();
  const wanted = tuningWanted(backend.info.isFallback ?? false);
  backend.onMatmulShape = (shape) => seen.set(shapeKey(shape), shape);
  if (wanted && options.cachePath !== null) {
    const cached = cachedTuning(backend, options.cachePath, options.log);
    if (cached) applyMatmulTuning(backend, cached, options.variants, options.allowF16 ?? false);
  }
  let finished = false;
  return {
    async finish() {
      if (finished || !wanted) return null;
      finished = true;
      return await tuneMatmul(backend, [...seen.values()], options);
    },
    kernels() {
      const ids = new Set([...seen.values()].map((shape) => backend.matmulVariantFor(shape).id));
      return ids.size ? `webgpu-matmul:${[...ids].sort().join(",")}` : "";
    },
  };
}

/**
 * A choice that runs every shape an f16 variant supports with the first such variant of the
 * catalogue, and leaves the rest to the default (the f16 golden test and the precision gate).
 */
export function f16Choice(
  backend: WebGpuBackend,
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
): (shape: MatmulShape) => MatmulVariant | undefined {
  const caps = backend.matmulCaps;
  const f16 = variants.filter((v) => v.precision === "f16");
  return (shape) => f16.find((v) => v.supports(shape, caps));
}

/** The cached f16 gate verdict of this backend's adapter, or null. */
export function readF16Gate(
  backend: WebGpuBackend,
  cachePath: string = webgpuTuneCachePath(),
): F16GateVerdict | null {
  return cachedTuning(backend, cachePath)?.f16Gate ?? null;
}

/** Cache the f16 gate verdict with the adapter's tuning. */
export function writeF16Gate(
  backend: WebGpuBackend,
  verdict: F16GateVerdict,
  cachePath: string = webgpuTuneCachePath(),
  log: (message: string) => void = () => {},
): void {
  const { passed, maxLossDiff, tolerance } = verdict;
  const key = adapterKey(backend);
  writeCache(cachePath, key, {
    adapter: key,
    entries: {},
    f16Gate: { passed, maxLossDiff, tolerance },
  }, log);
}
