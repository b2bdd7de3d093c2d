/**
 * The attention autotuner, the same way as the matmul one (tune.ts): each attention shape a run
 * uses (batch, heads, seq, head dim, window) is timed with every variant that supports it
 * (attention_variants.ts), forward and backward together as one training step runs them, with
 * GPU timestamps (timing.ts); each candidate's five results (out, lse, dQ, dK, dV) are checked
 * against the default variant's before it may win. The choice is cached per adapter, driver,
 * Deno version and attention catalogue in `~/.cache/autoresearch/webgpu-attention-tune.json`.
 * A corrupt cache is reported and left alone.
 */
import { dirname, join } from "node:path";
import attentionWgsl from "../../../kernels/attention.wgsl" with { type: "text" };
import attentionVariantsTs from "./attention_variants.ts" with { type: "text" };
import { atomicWriteSync } from "../../util/atomic.ts";
import { userCacheDir } from "../../util/cache_dir.ts";
import { seededRandom } from "../../util/random.ts";
import type { WebGpuBackend, WebGpuBuffer } from "./backend.ts";
import {
  ATTENTION_VARIANTS,
  type AttentionShape,
  type AttentionVariant,
  defaultAttentionVariant,
} from "./attention_variants.ts";
import { hasTimestamps, timeOnDevice } from "./timing.ts";
import { type AdapterIdentity, adapterKeyOf, type TunedCandidate, tuningWanted } from "./tune.ts";

/** The tuned choice for one attention shape. */
export interface AttentionTuneEntry {
  /** The winning variant's id. */
  variant: string;
  /** Its ms per forward + backward. */
  ms: number;
  /** The untuned default's id and ms (for the speed-up). */
  defaultVariant: string;
  defaultMs: number | null;
  /** "timestamp" (GPU clock) or "wall". */
  timing: "timestamp" | "wall";
  /** Every candidate measured. */
  candidates: TunedCandidate[];
}

/** The tuned attention entries of one adapter. */
export interface AttentionAdapterTuning {
  /** What the key was built from, for people reading the cache. */
  adapter: string;
  /** Tuned shapes by `attentionShapeKey`. */
  entries: Record<string, AttentionTuneEntry>;
}

interface CacheFile {
  version: 1;
  adapters: Record<string, AttentionAdapterTuning>;
}

/** Options of `tuneAttention`. */
export interface AttentionTuneOptions {
  /** Cache file (default `attentionTuneCachePath()`); null = no cache. */
  cachePath?: string | null;
  /** Measure again even when cached. */
  refresh?: boolean;
  /** Stop measuring new shapes after this many seconds (default 120); the rest stay untuned. */
  maxSeconds?: number;
  /** Progress and warnings (default: stderr). */
  log?: (message: string) => void;
  /** Variants to choose from (default ATTENTION_VARIANTS; the first is the reference). */
  variants?: readonly AttentionVariant[];
}

/** What `tuneAttention` did. */
export interface AttentionTuneResult {
  /** The adapter key the entries are cached under. */
  key: string;
  /** Entries for the requested shapes (cached or measured). */
  entries: Record<string, AttentionTuneEntry>;
  /** Shapes measured now. */
  measured: number;
  /** Shapes found in the cache. */
  cached: number;
  /** Shapes left untuned (time limit). */
  skipped: number;
}

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

/**
 * The kernels' sources: a change to the template or its generator that keeps the variant ids
 * still measures again.
 */
const ATTENTION_CODE_HASH = fnv1a(attentionVariantsTs + attentionWgsl);

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/**
 * The key attention choices are cached under: the matmul tuner's adapter key (adapter, driver,
 * Deno) with the attention catalogue and a hash of its sources in place of the matmul ones.
 */
export function attentionAdapterKeyOf(
  info: AdapterIdentity,
  variants: readonly AttentionVariant[] = ATTENTION_VARIANTS,
): string {
  const full = adapterKeyOf(info, []);
  const cut = full.lastIndexOf(" | variants ");
  const adapter = cut >= 0 ? full.slice(0, cut) : full;
  return `${adapter} | attention variants ${variants.map((v) => v.id).join(",")} ` +
    `code ${ATTENTION_CODE_HASH}`;
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
  return readCache(cachePath, log)?.adapters[attentionAdapterKeyOf(info)] ?? null;
}

function readCache(path: string, log: (message: string) => void): CacheFile | null {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
    if (parsed?.version !== 1 || typeof parsed.adapters !== "object" || parsed.adapters === null) {
      throw new Error("not a version-1 webgpu attention tuning cache");
    }
    return parsed as CacheFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, adapters: {} };
    log(`warning: ${path}: ${error instanceof Error ? error.message : error}; tuning uncached`);
    return null; // corrupt: reported and left alone, never overwritten
  }
}

/** The cached attention tuning of this backend's adapter, or null (none, or corrupt). */
export function cachedAttentionTuning(
  backend: WebGpuBackend,
  cachePath: string = attentionTuneCachePath(),
  log: (message: string) => void = () => {},
  variants: readonly AttentionVariant[] = ATTENTION_VARIANTS,
): AttentionAdapterTuning | null {
  return readCache(cachePath, log)?.adapters[attentionAdapterKey(backend, variants)] ?? null;
}

function writeCache(
  path: string,
  key: string,
  entries: Record<string, AttentionTuneEntry>,
  log: (message: string) => void,
) {
  // Re-read right before writing: another run may have added shapes meanwhile.
  const cache = readCache(path, log);
  if (!cache) return;
  cache.adapters[key] = { adapter: key, entries: { ...cache.adapters[key]?.entries, ...entries } };
  try {
    Deno.mkdirSync(dirname(path), { recursive: true });
    atomicWriteSync(path, JSON.stringify(cache, null, 2) + "\n");
  } catch (error) {
    log(`warning: ${path}: cannot write cache (${error instanceof Error ? error.message : error})`);
  }
}

/** Elements compared per tensor: all up to 2^20, else its head and tail. */
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

/** Tolerance of the check against the default variant, relative to each tensor's max. */
const TOLERANCE = 1e-4;

/** Variants re-timed in the second round. */
const FINALISTS = 3;

/** Repetitions for a measured time near `ms`: about 20 ms of work, 1 to 20 runs. */
function repsFor(ms: number): number {
  return Math.max(1, Math.min(20, Math.round(20 / Math.max(ms, 1e-3))));
}

/** Time one shape with every candidate; the fastest that agrees with the default wins. */
async function tuneShape(
  backend: WebGpuBackend,
  shape: AttentionShape,
  variants: readonly AttentionVariant[],
): Promise<AttentionTuneEntry> {
  const caps = backend.matmulCaps;
  const reference = defaultAttentionVariant(shape, caps, variants);
  if (!reference) {
    throw new Error(`webgpu: no attention variant supports ${attentionShapeKey(shape)}`);
  }
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
  const results = Object.values(outputs);
  const params = { ...inputs, ...outputs, ...shape };
  const step = () => {
    backend.attention(params);
    backend.attentionBackward(params);
  };
  const previous = backend.forcedAttentionVariant;
  const candidates: TunedCandidate[] = [];
  let timing: "timestamp" | "wall" = hasTimestamps(backend) ? "timestamp" : "wall";
  try {
    backend.forcedAttentionVariant = reference;
    step();
    const want = await Promise.all(results.map((buffer) => readCheck(backend, buffer)));
    for (const variant of variants) {
      if (!variant.supports(shape, caps)) continue;
      backend.forcedAttentionVariant = variant;
      try {
        // A variant that leaves any result unwritten fails the check.
        for (const out of results) backend.fill({ out, value: Number.NaN });
        step(); // compiles the pipelines outside the measurement
        let error = 0;
        for (const [index, buffer] of results.entries()) {
          error = Math.max(error, relativeError(await readCheck(backend, buffer), want[index]));
        }
        if (!(error <= TOLERANCE)) {
          candidates.push({
            id: variant.id,
            ms: null,
            error: `differs by ${error.toExponential(1)}`,
          });
          continue;
        }
        const first = await timeOnDevice(backend, step);
        const timed = await timeOnDevice(backend, step, repsFor(first.ms));
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
    // The leaders timed twice more, best of three (noise decides only among them).
    const leaders = candidates.filter((x) => x.ms !== null).sort((x, y) => x.ms! - y.ms!)
      .slice(0, FINALISTS);
    for (const leader of leaders) {
      backend.forcedAttentionVariant = variants.find((v) => v.id === leader.id)!;
      const reps = repsFor(leader.ms!);
      for (let round = 0; round < 2; round++) {
        leader.ms = Math.min(leader.ms!, (await timeOnDevice(backend, step, reps)).ms);
      }
    }
  } finally {
    backend.forcedAttentionVariant = previous;
    for (const buffer of [...Object.values(inputs), ...results]) backend.free(buffer);
  }
  const valid = candidates.filter((x) => x.ms !== null) as { id: string; ms: number }[];
  if (valid.length === 0) {
    throw new Error(`webgpu: no attention variant ran ${attentionShapeKey(shape)} correctly`);
  }
  const best = valid.reduce((x, y) => (y.ms < x.ms ? y : x));
  return {
    variant: best.id,
    ms: best.ms,
    defaultVariant: reference.id,
    defaultMs: candidates.find((x) => x.id === reference.id)?.ms ?? null,
    timing,
    candidates,
  };
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
  const cache = path ? readCache(path, log) : null;
  const known = cache?.adapters[key]?.entries ?? {};
  const entries: Record<string, AttentionTuneEntry> = {};
  const fresh: Record<string, AttentionTuneEntry> = {};
  const started = performance.now();
  const limitMs = (options.maxSeconds ?? 120) * 1000;
  let cached = 0;
  let skipped = 0;
  const unique = new Map<string, AttentionShape>();
  for (const shape of shapes) unique.set(attentionShapeKey(shape), shape);
  for (const [id, shape] of unique) {
    const hit = known[id];
    if (hit && variants.some((v) => v.id === hit.variant) && !options.refresh) {
      entries[id] = hit;
      cached++;
      continue;
    }
    if (performance.now() - started > limitMs) {
      skipped++;
      continue;
    }
    const entry = await tuneShape(backend, shape, variants);
    entries[id] = fresh[id] = entry;
    const speedup = entry.defaultMs ? ` (${(entry.defaultMs / entry.ms).toFixed(2)}x default)` : "";
    log(`tuned attention ${id}: ${entry.variant} ${entry.ms.toFixed(3)} ms${speedup}`);
  }
  if (path && cache && Object.keys(fresh).length > 0) writeCache(path, key, fresh, log);
  applyAttentionTuning(backend, { adapter: key, entries: { ...known, ...entries } }, variants);
  return { key, entries, measured: Object.keys(fresh).length, cached, skipped };
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
  const exact = new Map(tuned.map((t) => [t.key, t.variant]));
  const caps = backend.matmulCaps;
  backend.attentionChoice = (shape) => {
    const hit = exact.get(attentionShapeKey(shape));
    if (hit) return hit;
    let best: AttentionVariant | undefined;
    let bestDistance = Infinity;
    for (const t of tuned) {
      if (t.shape.headDim !== shape.headDim || !t.variant.supports(shape, caps)) continue;
      const distance =
        Math.abs(Math.log2((t.shape.batch * t.shape.heads) / (shape.batch * shape.heads))) +
        Math.abs(Math.log2(t.shape.seq / shape.seq)) +
        Math.abs(Math.log2((t.shape.window + 1) / (shape.window + 1)));
      if (distance < bestDistance) [best, bestDistance] = [t.variant, distance];
    }
    return bestDistance <= 2 ? best : undefined;
  };
}

/** Options of `tuneAttentionAtFirstUse`. */
export interface AttentionFirstUseOptions extends AttentionTuneOptions {
  /** Tune at all (default: `tuningWanted`, i.e. AUTORESEARCH_WEBGPU_TUNE, else real adapters). */
  wanted?: boolean;
}

/** The trainer's side of attention tuning (the same shape as tune.ts's `FirstUseTuning`). */
export interface AttentionFirstUseTuning {
  /** Tune the shapes seen so far (cached ones cost nothing) and use the result. */
  finish(): Promise<AttentionTuneResult | null>;
  /** The attention variants the run's shapes use now: "webgpu-attention:<ids>". */
  kernels(): string;
}

/**
 * Start attention tuning at first use: cached choices apply at once; the shapes of the first
 * step are collected, and `finish()` (called after that step, outside the counted time) tunes
 * the ones not cached. Without tuning only `kernels()` works.
 */
export function tuneAttentionAtFirstUse(
  backend: WebGpuBackend,
  options: AttentionFirstUseOptions = {},
): AttentionFirstUseTuning {
  const seen = new Map<string, AttentionShape>();
  const wanted = options.wanted ?? tuningWanted(backend.info.isFallback ?? false);
  backend.onAttentionShape = (shape) => seen.set(attentionShapeKey(shape), shape);
  if (wanted && options.cachePath !== null) {
    const cached = cachedAttentionTuning(backend, options.cachePath, options.log, options.variants);
    if (cached) applyAttentionTuning(backend, cached, options.variants);
  }
  let finished = false;
  return {
    async finish() {
      if (finished || !wanted) return null;
      finished = true;
      return await tuneAttention(backend, [...seen.values()], options);
    },
    kernels() {
      const ids = new Set([...seen.values()].map((shape) => backend.attentionVariantFor(shape).id));
      return ids.size ? `webgpu-attention:${[...ids].sort().join(",")}` : "";
    },
  };
}
