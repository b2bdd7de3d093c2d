/**
 * The attention autotuner, the same way as the matmul one (tune.ts): each attention shape a run
 * uses (batch, heads, seq, head dim, window) is timed with every variant that supports it
 * (attention_variants.ts), forward and backward together as one training step runs them, with
 * GPU timestamps; each candidate's five results (out, lse, dQ, dK, dV) are checked against the
 * default variant's before it may win (tuner.ts measures and caches for every family). The choice is cached per adapter, driver,
 * Deno version and attention catalogue in `~/.cache/autoresearch/webgpu-attention-tune.json`.
 * A corrupt cache is reported and left alone.
 */
import { join } from "node:path";
import attentionWgsl from "../../../kernels/attention.wgsl" with { type: "text" };
import attentionVariantsTs from "./attention_variants.ts" with { type: "text" };
import attentionTiledTs from "./attention_tiled.ts" with { type: "text" };
import { userCacheDir } from "../../util/cache_dir.ts";
import { seededRandom } from "../../util/random.ts";
import type { WebGpuBackend } from "./backend.ts";
import {
  ATTENTION_VARIANTS,
  type AttentionShape,
  type AttentionVariant,
  defaultAttentionVariant,
} from "./attention_variants.ts";
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

/** The tuned choice for one attention shape (ms per forward + backward). */
export type AttentionTuneEntry = Measurement;

/** The tuned attention entries of one adapter. */
export interface AttentionAdapterTuning {
  /** What the key was built from, for people reading the cache. */
  adapter: string;
  /** Tuned shapes by `attentionShapeKey`. */
  entries: Record<string, AttentionTuneEntry>;
}

/** Options of `tuneAttention`. */
export type AttentionTuneOptions = TunerOptions<AttentionVariant>;

/** What `tuneAttention` did. */
export type AttentionTuneResult = TunerResult<AttentionTuneEntry>;

/** `$XDG_CACHE_HOME` or `~/.cache`, then autoresearch/webgpu-attention-tune.json. */
export function attentionTuneCachePath(): string {
  return join(userCacheDir(), "webgpu-attention-tune.json");
}

/** The cache key of a shape: batch, heads, seq, head dim, window. */
export function attentionShapeKey(shape: AttentionShape): string {
  return `b${shape.batch}h${shape.heads}s${shape.seq}d${shape.headDim}w${shape.window}`;
}

/** Parse a shape key back (null for a key of another format). */
function parseShapeKey(key: string): AttentionShape | null {
  const match = key.match(/^b(\d+)h(\d+)s(\d+)d(\d+)w(\d+)$/);
  if (!match) return null;
  const [batch, heads, seq, headDim, window] = match.slice(1).map(Number);
  return { batch, heads, seq, headDim, window };
}

/** The kernels' sources: a change to the template or its generator that keeps ids re-measures. */
const ATTENTION_CODE_HASH = sourceHash(attentionVariantsTs + attentionTiledTs + attentionWgsl);

/** The key attention choices are cached under: the adapter's, the variant ids and the code hash. */
export function attentionAdapterKeyOf(
  info: AdapterIdentity,
  variants: readonly AttentionVariant[] = ATTENTION_VARIANTS,
): string {
  return `${adapterBaseKey(info)} | attention variants ${
    variants.map((v) => v.id).join(",")
  } code ${ATTENTION_CODE_HASH}`;
}

/** `attentionAdapterKeyOf` for a backend's adapter. */
export function attentionAdapterKey(
  backend: WebGpuBackend,
  variants: readonly AttentionVariant[] = ATTENTION_VARIANTS,
): string {
  return attentionAdapterKeyOf(backend.gpu.adapter.info, variants);
}

/** The cached attention tuning of an adapter without creating a device (`autoresearch platform`). */
export function readAttentionAdapterTuning(
  info: AdapterIdentity,
  cachePath: string = attentionTuneCachePath(),
  log: (message: string) => void = () => {},
): AttentionAdapterTuning | null {
  return readTuneCache<AttentionAdapterTuning>(cachePath, log)?.adapters[
    attentionAdapterKeyOf(info)
  ] ?? null;
}

/** The cached attention tuning of this backend's adapter, or null (none, or corrupt). */
export function cachedAttentionTuning(
  backend: WebGpuBackend,
  cachePath: string = attentionTuneCachePath(),
  log: (message: string) => void = () => {},
  variants: readonly AttentionVariant[] = ATTENTION_VARIANTS,
): AttentionAdapterTuning | null {
  return readTuneCache<AttentionAdapterTuning>(cachePath, log)?.adapters[
    attentionAdapterKey(backend, variants)
  ] ?? null;
}

/** Tolerance of the check against the default variant, relative to each tensor's max. */
const TOLERANCE = 1e-4;

/** Seeded q, k, v and dO of one shape, and a forward + backward with a forced variant. */
function attentionTrial(backend: WebGpuBackend, shape: AttentionShape): Trial<AttentionVariant> {
  const n = shape.batch * shape.seq * shape.heads * shape.headDim;
  const rows = shape.batch * shape.heads * shape.seq;
  const random = seededRandom(shape.seq * 31 + shape.headDim * 17 + shape.window);
  const upload = (length: number) => {
    const buffer = backend.alloc("f32", length);
    backend.write(buffer, Float32Array.from({ length }, () => random() * 2 - 1));
    return buffer;
  };
  const inputs = { q: upload(n), k: upload(n), v: upload(n), gradOut: upload(n) };
  const outputs = {
    out: backend.alloc("f32", n),
    lse: backend.alloc("f32", rows),
    gradQ: backend.alloc("f32", n),
    gradK: backend.alloc("f32", n),
    gradV: backend.alloc("f32", n),
  };
  const params = { ...inputs, ...outputs, ...shape };
  const previous = backend.forcedAttentionVariant;
  return {
    run(variant) {
      backend.forcedAttentionVariant = variant;
      backend.attention(params);
      backend.attentionBackward(params);
    },
    outputs: Object.values(outputs),
    dispose() {
      backend.forcedAttentionVariant = previous;
      for (const buffer of [...Object.values(inputs), ...Object.values(outputs)]) {
        backend.free(buffer);
      }
    },
  };
}

/** Time one shape with every candidate; the fastest that agrees with the default wins. */
function tuneShape(
  backend: WebGpuBackend,
  shape: AttentionShape,
  variants: readonly AttentionVariant[],
): Promise<AttentionTuneEntry> {
  const caps = backend.matmulCaps;
  const reference = defaultAttentionVariant(shape, caps, variants);
  if (!reference) {
    throw new Error(`webgpu: no attention variant supports ${attentionShapeKey(shape)}`);
  }
  return measureVariants(
    backend,
    attentionTrial(backend, shape),
    reference,
    variants.filter((variant) => variant.supports(shape, caps)),
    () => TOLERANCE,
    `attention ${attentionShapeKey(shape)}`,
  );
}

/**
 * Tune attention `shapes` on this backend's adapter: cached entries are reused, the rest
 * measured (until `maxSeconds`) and cached. Installs the result with `applyAttentionTuning`.
 */
export async function tuneAttention(
  backend: WebGpuBackend,
  shapes: Iterable<AttentionShape>,
  options: AttentionTuneOptions = {},
): Promise<AttentionTuneResult> {
  const log = options.log ?? ((message: string) => console.error(message));
  const variants = options.variants ?? ATTENTION_VARIANTS;
  const key = attentionAdapterKey(backend, variants);
  const path = options.cachePath === undefined ? attentionTuneCachePath() : options.cachePath;
  const cache = path ? readTuneCache<AttentionAdapterTuning>(path, log) : null;
  const known = cache?.adapters[key]?.entries ?? {};
  const tuned = await tuneShapes(shapes, {
    key: attentionShapeKey,
    known,
    usable: (hit) => variants.some((v) => v.id === hit.variant),
    refresh: options.refresh,
    maxSeconds: options.maxSeconds,
    tune: (shape) => tuneShape(backend, shape, variants),
    report: (id, entry) => {
      const speedup = entry.defaultMs
        ? ` (${(entry.defaultMs / entry.ms).toFixed(2)}x default)`
        : "";
      log(`tuned attention ${id}: ${entry.variant} ${entry.ms.toFixed(3)} ms${speedup}`);
    },
  });
  if (path && cache && Object.keys(tuned.fresh).length > 0) {
    updateTuneCache<AttentionAdapterTuning>(path, key, (current) => ({
      adapter: key,
      entries: { ...current?.entries, ...tuned.fresh },
    }), log);
  }
  applyAttentionTuning(
    backend,
    { adapter: key, entries: { ...known, ...tuned.entries } },
    variants,
  );
  return {
    key,
    entries: tuned.entries,
    measured: Object.keys(tuned.fresh).length,
    cached: tuned.cached,
    skipped: tuned.skipped,
  };
}

/**
 * Make the backend use a tuning: a tuned shape gets its variant; an untuned shape gets the
 * variant of the nearest tuned shape of the same head dim (distance in log batch*heads, seq
 * and window + 1, at most 2), when that variant supports it; else the default.
 */
export function applyAttentionTuning(
  backend: WebGpuBackend,
  tuning: AttentionAdapterTuning,
  variants: readonly AttentionVariant[] = ATTENTION_VARIANTS,
): void {
  const tuned = Object.entries(tuning.entries).flatMap(([key, entry]) => {
    const shape = parseShapeKey(key);
    const variant = variants.find((v) => v.id === entry.variant);
    return shape && variant ? [{ key, shape, variant }] : [];
  });
  const caps = backend.matmulCaps;
  backend.attentionChoice = nearestChoice(tuned, {
    key: attentionShapeKey,
    compatible: (t, shape) => t.headDim === shape.headDim,
    supports: (variant, shape) => variant.supports(shape, caps),
    distance: (t, shape) =>
      log2Distance(t.batch * t.heads, shape.batch * shape.heads) + log2Distance(t.seq, shape.seq) +
      log2Distance(t.window + 1, shape.window + 1),
  });
}

/** Options of `tuneAttentionAtFirstUse`. */
export interface AttentionFirstUseOptions extends TunerOptions<AttentionVariant> {
  /** Tune at all (default: `tuningWanted`, i.e. AUTORESEARCH_WEBGPU_TUNE, else real adapters). */
  wanted?: boolean;
}

/**
 * Start attention tuning at first use: cached choices apply at once; the shapes launched are
 * collected, and each `finish()` (outside the counted time) tunes the new ones not cached; every
 * choice so far stays applied. Without tuning only `kernels()` works.
 */
export function tuneAttentionAtFirstUse(
  backend: WebGpuBackend,
  options: AttentionFirstUseOptions = {},
): FirstUseTuning<AttentionTuneResult> {
  const wanted = options.wanted ?? tuningWanted(backend.info.isFallback ?? false);
  const applied: Record<string, AttentionTuneEntry> = {};
  if (wanted && options.cachePath !== null) {
    const cached = cachedAttentionTuning(backend, options.cachePath, options.log, options.variants);
    Object.assign(applied, cached?.entries);
    if (cached) applyAttentionTuning(backend, cached, options.variants);
  }
  return firstUse({
    wanted,
    watch: (collect) => backend.onAttentionShape = collect,
    key: attentionShapeKey,
    tune: async (shapes) => {
      const result = await tuneAttention(backend, shapes, options);
      Object.assign(applied, result.entries);
      applyAttentionTuning(backend, { adapter: result.key, entries: applied }, options.variants);
      return result;
    },
    variantOf: (shape) => backend.attentionVariantFor(shape).id,
    label: "webgpu-attention",
  });
}
