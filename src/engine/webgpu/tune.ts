/**
 * The matmul autotuner. No single kernel is fastest on every GPU: tile sizes, load widths and
 * splits that suit an H100 can be slow on an Apple or AMD part, and what suits a 65536 x 512
 * product is wrong for 512 x 512. So each shape a run uses is timed with every variant that
 * supports it (matmul_variants.ts), on this adapter, with GPU timestamps; each candidate's result
 * is checked against the default variant's before it may win (tuner.ts does the measuring and
 * the caching for every family). The choice is cached per adapter, driver, Deno version and
 * variant catalogue in `~/.cache/autoresearch/webgpu-tune.json`, so only the first run on a
 * machine pays (the trainer tunes during its uncounted warm-up).
 */
import { join } from "node:path";
import { userCacheDir } from "../../util/cache_dir.ts";
import { seededRandom } from "../../util/random.ts";
import type { WebGpuBackend } from "./backend.ts";
import {
  defaultMatmulVariant,
  MATMUL_VARIANTS,
  type MatmulShape,
  type MatmulVariant,
} from "./matmul_variants.ts";
import {
  adapterBaseKey,
  type AdapterIdentity,
  firstUse,
  type FirstUseTuning,
  log2Distance,
  type Measurement,
  measureVariants,
  nearestChoice,
  readTuneCache,
  sourceHash,
  type Trial,
  type TunerOptions,
  type TunerResult,
  tuneShapes,
  tuningWanted,
  updateTuneCache,
} from "./tuner.ts";
import matmulWgsl from "../../../kernels/matmul.wgsl" with { type: "text" };
import matmulWgslTs from "./matmul_wgsl.ts" with { type: "text" };

/** The tuned choice for one shape. */
export interface TuneEntry extends Measurement {
  /** GFLOP/s of the winner. */
  gflops: number;
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

/** Options of `tuneMatmul`. */
export interface TuneOptions extends TunerOptions<MatmulVariant> {
  /** Let f16-precision variants win (default false: f32 stays the default). */
  allowF16?: boolean;
}

/** What `tuneMatmul` did. */
export type TuneResult = TunerResult<TuneEntry>;

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

/** A short hash of the matmul kernels' sources (a generator change keeping ids re-measures). */
const KERNEL_CODE_HASH = sourceHash(matmulWgslTs + matmulWgsl);

/** The key matmul choices are cached under: the adapter's, the variant ids and the code hash. */
export function adapterKeyOf(
  info: AdapterIdentity,
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
): string {
  return `${adapterBaseKey(info)} | variants ${
    variants.map((v) => v.id).join(",")
  } code ${KERNEL_CODE_HASH}`;
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
  return readTuneCache<AdapterTuning>(cachePath, log)?.adapters[adapterKeyOf(info)] ?? null;
}

/** The cached tuning of this backend's adapter, or null (no cache, or corrupt). */
export function cachedTuning(
  backend: WebGpuBackend,
  cachePath: string = webgpuTuneCachePath(),
  log: (message: string) => void = () => {},
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
): AdapterTuning | null {
  return readTuneCache<AdapterTuning>(cachePath, log)?.adapters[adapterKey(backend, variants)] ??
    null;
}

/** Merge entries (and a gate verdict) into an adapter's cached tuning. */
function writeTuning(
  path: string,
  key: string,
  update: Partial<AdapterTuning>,
  log: (message: string) => void,
): void {
  updateTuneCache<AdapterTuning>(path, key, (current) => {
    const f16Gate = update.f16Gate ?? current?.f16Gate;
    return {
      adapter: key,
      entries: { ...current?.entries, ...update.entries },
      ...(f16Gate ? { f16Gate } : {}),
    };
  }, log);
}

/** Tolerance of the check against the default variant, relative to max |C|. */
const TOLERANCE = { f32: 1e-4, f16: 2e-2 } as const;

/** Seeded operands of one shape (items back to back) and the launch of a forced variant. */
function matmulTrial(backend: WebGpuBackend, shape: MatmulShape): Trial<MatmulVariant> {
  const { m, n, k, batch, transA, transB } = shape;
  const random = seededRandom(m * 31 + n * 17 + k);
  const upload = (length: number) => {
    const buffer = backend.alloc("f32", length);
    backend.write(buffer, Float32Array.from({ length }, () => random() * 2 - 1));
    return buffer;
  };
  const a = upload(batch * m * k);
  const b = upload(batch * k * n);
  const c = backend.alloc("f32", batch * m * n);
  const previous = backend.forcedMatmulVariant;
  return {
    run(variant) {
      backend.forcedMatmulVariant = variant;
      backend.matmul({ a, b, c, m, n, k, batch, transA, transB });
    },
    outputs: [c],
    dispose() {
      backend.forcedMatmulVariant = previous;
      for (const buffer of [a, b, c]) backend.free(buffer);
    },
  };
}

/** Time one shape with every candidate; the fastest that agrees with the default wins. */
async function tuneShape(
  backend: WebGpuBackend,
  shape: MatmulShape,
  variants: readonly MatmulVariant[],
  allowF16: boolean,
): Promise<TuneEntry> {
  const caps = backend.matmulCaps;
  const candidates = variants.filter((variant) =>
    variant.supports(shape, caps) && (variant.precision === "f32" || allowF16)
  );
  const measured = await measureVariants(
    backend,
    matmulTrial(backend, shape),
    defaultMatmulVariant(shape, backend.largeTileMinTiles),
    candidates,
    (variant) => TOLERANCE[variant.precision],
    `matmul ${shapeKey(shape)}`,
  );
  const flops = 2 * shape.m * shape.n * shape.k * shape.batch;
  return { ...measured, gflops: flops / (measured.ms / 1000) / 1e9, allowF16 };
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
  const allowF16 = options.allowF16 ?? false;
  const key = adapterKey(backend, variants);
  const path = options.cachePath === undefined ? webgpuTuneCachePath() : options.cachePath;
  const cache = path ? readTuneCache<AdapterTuning>(path, log) : null;
  const known = cache?.adapters[key]?.entries ?? {};
  const tuned = await tuneShapes(shapes, {
    key: shapeKey,
    known,
    // An entry tuned without f16 cannot answer with f16 allowed; one that chose f16 is void
    // when f16 is not allowed.
    usable: (hit) => {
      const winner = variants.find((v) => v.id === hit.variant);
      return Boolean(winner) && (allowF16 ? hit.allowF16 === true : winner!.precision === "f32");
    },
    refresh: options.refresh,
    maxSeconds: options.maxSeconds,
    tune: (shape) => tuneShape(backend, shape, variants, allowF16),
    report: (id, entry) => {
      const speedup = entry.defaultMs
        ? ` (${(entry.defaultMs / entry.ms).toFixed(2)}x default)`
        : "";
      log(`tuned matmul ${id}: ${entry.variant} ${entry.gflops.toFixed(1)} GFLOP/s${speedup}`);
    },
  });
  if (path && cache && Object.keys(tuned.fresh).length > 0) {
    writeTuning(path, key, { entries: tuned.fresh }, log);
  }
  applyMatmulTuning(
    backend,
    { adapter: key, entries: { ...known, ...tuned.entries } },
    variants,
    allowF16,
  );
  return {
    key,
    entries: tuned.entries,
    measured: Object.keys(tuned.fresh).length,
    cached: tuned.cached,
    skipped: tuned.skipped,
  };
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
 * variant of the nearest tuned shape of the same transposes and batching (log2 distance in m,
 * n and k together at most 2, about 4x), when that variant supports it; else the default.
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
  const caps = backend.matmulCaps;
  backend.matmulChoice = nearestChoice(tuned, {
    key: shapeKey,
    compatible: (t, shape) =>
      t.transA === shape.transA && t.transB === shape.transB &&
      (t.batch > 1) === (shape.batch > 1),
    supports: (variant, shape) => variant.supports(shape, caps),
    distance: (t, shape) =>
      log2Distance(t.m, shape.m) + log2Distance(t.n, shape.n) + log2Distance(t.k, shape.k),
  });
}

/** Products below this many FLOPs keep the default at first use: any kernel runs them in µs. */
const MIN_TUNED_FLOPS = 2 ** 22;

/**
 * Start tuning at first use: cached choices apply at once; the shapes launched are collected,
 * and each `finish()` (the trainer calls it after the first micro-batch and after the first step,
 * outside the counted time) tunes the new ones not cached; every choice so far stays applied.
 * Without tuning (`tuningWanted` false) only `kernels()` works.
 */
export function tuneAtFirstUse(
  backend: WebGpuBackend,
  options: TuneOptions = {},
): FirstUseTuning<TuneResult> {
  const wanted = tuningWanted(backend.info.isFallback ?? false);
  const allowF16 = options.allowF16 ?? false;
  const applied: Record<string, TuneEntry> = {};
  if (wanted && options.cachePath !== null) {
    const cached = cachedTuning(backend, options.cachePath, options.log, options.variants);
    Object.assign(applied, cached?.entries);
    if (cached) applyMatmulTuning(backend, cached, options.variants, allowF16);
  }
  return firstUse({
    wanted,
    watch: (collect) => backend.onMatmulShape = collect,
    key: shapeKey,
    tune: async (shapes) => {
      const worth = shapes.filter((s) => 2 * s.m * s.n * s.k * s.batch >= MIN_TUNED_FLOPS);
      const result = await tuneMatmul(backend, worth, options);
      Object.assign(applied, result.entries);
      applyMatmulTuning(
        backend,
        { adapter: result.key, entries: applied },
        options.variants,
        allowF16,
      );
      return result;
    },
    variantOf: (shape) => backend.matmulVariantFor(shape).id,
    label: "webgpu-matmul",
  });
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
  writeTuning(cachePath, adapterKey(backend), {
    entries: {},
    f16Gate: { passed, maxLossDiff, tolerance },
  }, log);
}
