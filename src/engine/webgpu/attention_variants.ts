/**
 * The attention variants the autotuner chooses from. Every variant is kernels/attention.wgsl
 * (flash-style causal sliding-window attention, forward and backward) generated with its own
 * tile parameters: query rows per workgroup and invocations per query row, key rows and
 * invocations per key row (the dK/dV pass), rows per staged K/V (or Q/dO) tile, and scalar or
 * vec4 head-dimension loads. Which is fastest depends on the GPU (registers, workgroup memory,
 * barrier cost) and on the shape, so the tuner times them per adapter (attention_tune.ts). The
 * catalogue's first variant is today's kernel and the untuned default.
 */
import attentionWgsl from "../../../kernels/attention.wgsl" with { type: "text" };
import type { BufferBinding, KernelSpec } from "./dispatch.ts";
import {
  type AttentionTiledBackwardParams,
  attentionTiledBackwardWgsl,
  type AttentionTiledParams,
  attentionTiledWgsl,
  tiledBackwardCapacity,
  tiledBackwardInvocations,
  tiledBackwardProblem,
  tiledBackwardSharedBytes,
  tiledCapacity,
  tiledInvocations,
  tiledParamsProblem,
  tiledSharedBytes,
} from "./attention_tiled.ts";

export type { AttentionTiledBackwardParams, AttentionTiledParams } from "./attention_tiled.ts";

/** One attention problem, as the tuner classifies it. */
export interface AttentionShape {
  /** Batch size. */
  batch: number;
  /** Heads (rows of one head are heads * headDim floats apart). */
  heads: number;
  /** Sequence length. */
  seq: number;
  /** Head dimension. */
  headDim: number;
  /** Key j visible to query i iff j <= i && i - j <= window (at most seq: `attentionShape`). */
  window: number;
}

/** What a variant may need of the device (a subset of the backend's `matmulCaps`). */
export interface AttentionDeviceCaps {
  /** Workgroup memory per workgroup, bytes. */
  maxComputeWorkgroupStorageSize: number;
  /** Invocations per workgroup. */
  maxComputeInvocationsPerWorkgroup: number;
  /** Workgroups per grid dimension. */
  maxComputeWorkgroupsPerDimension: number;
}

/** The generator parameters of a variant. */
export interface AttentionTileParams {
  /** Query rows per workgroup (forward and dQ). */
  queryRows: number;
  /** Invocations per query row (each holds 1/queryInvocations of the head dimension). */
  queryInvocations: number;
  /** Query rows per invocation, sharing each staged K/V load (default 1). */
  queryRowsPerInvocation?: number;
  /** Key rows per workgroup (dK/dV). */
  keyRows: number;
  /** Invocations per key row. */
  keyInvocations: number;
  /** Key rows per invocation, sharing each staged Q/dO load (default 1). */
  keyRowsPerInvocation?: number;
  /** Rows per staged tile of K/V (forward, dQ) or Q/dO (dK/dV). */
  tileRows: number;
  /** Floats per load: 4 (vec4, needs headDim % 4 == 0) or 1. */
  pack: 1 | 4;
}

/** A forward launch: the shape, the score scale and the bound tensors. */
export interface AttentionLaunch {
  /** The problem. */
  shape: AttentionShape;
  /** Score scale (1/sqrt(headDim) by default). */
  scale: number;
  /** Queries, keys, values (batch, seq, heads, headDim). */
  q: BufferBinding;
  k: BufferBinding;
  v: BufferBinding;
  /** Output (batch, seq, heads, headDim). */
  out: BufferBinding;
  /** Saved logsumexp (batch, heads, seq). */
  lse: BufferBinding;
}

/** A backward launch: the forward's tensors, the output gradient and the three gradients. */
export interface AttentionBackwardLaunch extends AttentionLaunch {
  /** Gradient of the output. */
  gradOut: BufferBinding;
  /** Gradients of q, k, v. */
  gradQ: BufferBinding;
  gradK: BufferBinding;
  gradV: BufferBinding;
  /** Add into the gradients instead of overwriting them. */
  accumulate: boolean;
}

/** What a variant may use to record its work (the same shape as the matmul recorder). */
export interface AttentionRecorder {
  /** Record one dispatch (uniforms at binding 0, buffers fill the spec's storage bindings). */
  dispatch(
    spec: KernelSpec,
    uniforms: ArrayBufferView,
    buffers: readonly BufferBinding[],
    grid: readonly [number, number, number],
  ): void;
  /** A scratch f32 buffer of at least `elements`; released after the launch is recorded. */
  scratch(elements: number): BufferBinding;
  /** The device's capabilities. */
  caps: AttentionDeviceCaps;
}

/** A way to compute attention, forward and backward. */
export interface AttentionVariant {
  /** Stable id naming the parameters (cache key part). */
  id: string;
  /** One line for reports. */
  description: string;
  /** The generator parameters (of the backward only, when `tiled` is set). */
  params: AttentionTileParams;
  /** The tiled forward's parameters (attention_tiled.ts), when the forward is tiled. */
  tiled?: AttentionTiledParams;
  /** The tiled dK/dV and dQ's parameters, when those are tiled too (delta stays the template's). */
  tiledBackward?: AttentionTiledBackwardParams;
  /** Whether this variant can run `shape` on a device with `caps`. */
  supports(shape: AttentionShape, caps: AttentionDeviceCaps): boolean;
  /** Record the forward (out and lse). */
  recordForward(launch: AttentionLaunch, recorder: AttentionRecorder): void;
  /** Record the backward (delta into scratch, then dK/dV, then dQ). */
  recordBackward(launch: AttentionBackwardLaunch, recorder: AttentionRecorder): void;
}

/** The shape of a launch, its window clamped to seq (larger windows see the same keys). */
export function attentionShape(
  p: { batch: number; heads: number; seq: number; headDim: number; window: number },
): AttentionShape {
  const window = Math.max(0, Math.min(p.window, p.seq));
  return { batch: p.batch, heads: p.heads, seq: p.seq, headDim: p.headDim, window };
}

/** Invocations per workgroup of the delta kernel. */
const DELTA_WORKGROUP = 128;

/**
 * Head-dimension capacity compiled into a variant for `headDim`: the next multiple of what one
 * row's invocations load together (pack * invocations per row), at least 16 floats. Padding
 * floats are zero in the staged tiles, so they add nothing.
 */
export function attentionCapacity(params: AttentionTileParams, headDim: number): number {
  const step = params.pack * Math.max(params.queryInvocations, params.keyInvocations);
  return Math.max(16, Math.ceil(headDim / step) * step);
}

/** Invocations per workgroup of the query kernels and of dK/dV. */
export function attentionWorkgroups(params: AttentionTileParams): { query: number; key: number } {
  return {
    query: params.queryRows / (params.queryRowsPerInvocation ?? 1) * params.queryInvocations,
    key: params.keyRows / (params.keyRowsPerInvocation ?? 1) * params.keyInvocations,
  };
}

/** Floats in each partial-dot buffer: tile rows * rows * invocations per row (the larger). */
function partFloats(params: AttentionTileParams): number {
  const { queryRows, queryInvocations, keyRows, keyInvocations, tileRows } = params;
  return tileRows * Math.max(queryRows * queryInvocations, keyRows * keyInvocations);
}

/** Workgroup bytes the backward entry points use (the forward uses one partial buffer less). */
export function attentionSharedBytes(params: AttentionTileParams, headDim: number): number {
  const tiles = 2 * params.tileRows * attentionCapacity(params, headDim);
  return 4 * (tiles + 2 * partFloats(params));
}

const PRELUDE_START = "// ---- pack prelude (generated) ----";
const PRELUDE_END = "// ---- end pack prelude ----";
const VEC4_PRELUDE = `alias V = vec4<f32>;
const PACK: u32 = 4u;
fn dotp(a: V, b: V) -> f32 { return dot(a, b); }`;
const SCALAR_PRELUDE = `alias V = f32;
const PACK: u32 = 1u;
fn dotp(a: V, b: V) -> f32 { return a * b; }`;

/** Replace `const NAME: u32 = ...;` in the template, failing loudly if the line is gone. */
function setConstant(code: string, name: string, value: number): string {
  const pattern = new RegExp(`^const ${name}: u32 = \\d+u;`, "m");
  if (!pattern.test(code)) throw new Error(`kernels/attention.wgsl lost its ${name} constant`);
  return code.replace(pattern, `const ${name}: u32 = ${value}u;`);
}

/** The WGSL of a variant at a head-dimension capacity. */
export function attentionWgslFor(params: AttentionTileParams, capacity: number): string {
  const start = attentionWgsl.indexOf(PRELUDE_START);
  const end = attentionWgsl.indexOf(PRELUDE_END);
  if (start < 0 || end < start) throw new Error("kernels/attention.wgsl lost its pack prelude");
  let code = attentionWgsl.slice(0, start + PRELUDE_START.length) + "\n" +
    (params.pack === 4 ? VEC4_PRELUDE : SCALAR_PRELUDE) + "\n" + attentionWgsl.slice(end);
  const constants: [string, number][] = [
    ["D_MAX", capacity],
    ["BC", params.tileRows],
    ["S", params.queryInvocations],
    ["RQ", params.queryRows],
    ["SK", params.keyInvocations],
    ["RK", params.keyRows],
    ["RI", params.queryRowsPerInvocation ?? 1],
    ["RIK", params.keyRowsPerInvocation ?? 1],
    ["PART", partFloats(params)],
    ["WG_DELTA", DELTA_WORKGROUP],
  ];
  for (const [name, value] of constants) code = setConstant(code, name, value);
  return code;
}

/** The kernels of one variant at one capacity (bindings: q, k, v, o, d_o, lse, delta, out, out2). */
export interface AttentionKernels {
  forward: KernelSpec;
  delta: KernelSpec;
  dkdv: KernelSpec;
  dq: KernelSpec;
}

const kernelCache = new Map<string, AttentionKernels>();

/** The kernel specs of a variant at a capacity (generated once, then cached). */
export function attentionKernelsFor(
  id: string,
  params: AttentionTileParams,
  capacity: number,
): AttentionKernels {
  const module = `${id}-d${capacity}`;
  const hit = kernelCache.get(module);
  if (hit) return hit;
  const code = attentionWgslFor(params, capacity);
  const U = "uniform", R = "read", W = "rw", _ = null;
  const spec = (entry: string, bindings: KernelSpec["bindings"]): KernelSpec => ({
    module,
    code,
    entry,
    bindings,
  });
  const kernels: AttentionKernels = {
    forward: spec("attention", [U, R, R, R, _, _, W, _, W]),
    delta: spec("attention_delta", [U, _, _, _, R, R, _, W]),
    dkdv: spec("attention_dkdv", [U, R, R, R, _, R, W, W, W, W]),
    dq: spec("attention_dq", [U, R, R, R, _, R, W, W, W]),
  };
  kernelCache.set(module, kernels);
  return kernels;
}

/** The uniform block (12 words): batch, seq, heads, head_dim, window, accumulate, -, -, scale. */
function attentionUniforms(shape: AttentionShape, scale: number, accumulate: boolean): Uint32Array {
  const words = new Uint32Array(12);
  words.set([shape.batch, shape.seq, shape.heads, shape.headDim, shape.window, accumulate ? 1 : 0]);
  new Float32Array(words.buffer)[8] = scale;
  return words;
}

/** A 1-D grid of `workgroups`, folded into 2-D past the per-dimension limit. */
function foldedGrid(workgroups: number, max: number): [number, number, number] {
  if (workgroups <= max) return [workgroups, 1, 1];
  const y = Math.ceil(workgroups / max);
  return [Math.ceil(workgroups / y), y, 1];
}

/**
 * The id of a parameter set: attn-q<rows>x<inv>[r<rows per inv>]-k<rows>x<inv>[r<...>]-t<tile>
 * [-v4], e.g. attn-q64x4r2-k32x8r2-t8-v4.
 */
export function attentionVariantId(params: AttentionTileParams): string {
  const { queryRows, queryInvocations, keyRows, keyInvocations, tileRows, pack } = params;
  const per = (n = 1) => (n > 1 ? `r${n}` : "");
  return `attn-q${queryRows}x${queryInvocations}${per(params.queryRowsPerInvocation)}` +
    `-k${keyRows}x${keyInvocations}${per(params.keyRowsPerInvocation)}-t${tileRows}` +
    (pack === 4 ? "-v4" : "");
}

/** Why a parameter set cannot generate a kernel, or null. */
function paramsProblem(params: AttentionTileParams): string | null {
  const { queryRows, queryInvocations, keyRows, keyInvocations, tileRows } = params;
  const ri = params.queryRowsPerInvocation ?? 1;
  const rik = params.keyRowsPerInvocation ?? 1;
  const positive = [queryRows, queryInvocations, keyRows, keyInvocations, tileRows, ri, rik];
  if (!positive.every((n) => Number.isInteger(n) && n > 0)) return "parameters must be positive";
  if (queryRows % ri !== 0 || keyRows % rik !== 0) return "rows must divide by rows/invocation";
  const pow2 = (n: number) => (n & (n - 1)) === 0;
  if (!pow2(queryInvocations) || !pow2(keyInvocations)) return "invocations/row: a power of 2";
  return null;
}

/** A variant generated from `params`. */
export function generatedAttentionVariant(
  params: AttentionTileParams,
  description: string,
): AttentionVariant {
  const id = attentionVariantId(params);
  const problem = paramsProblem(params);
  if (problem) throw new Error(`attention variant ${id}: ${problem}`);
  const workgroups = attentionWorkgroups(params);
  const kernelsFor = (shape: AttentionShape) =>
    attentionKernelsFor(id, params, attentionCapacity(params, shape.headDim));
  return {
    id,
    description,
    params,
    supports(shape, caps) {
      const invocations = Math.max(workgroups.query, workgroups.key);
      const rows = shape.batch * shape.seq * shape.heads;
      return (params.pack === 1 || shape.headDim % params.pack === 0) &&
        invocations <= caps.maxComputeInvocationsPerWorkgroup &&
        attentionSharedBytes(params, shape.headDim) <= caps.maxComputeWorkgroupStorageSize &&
        shape.batch * shape.heads <= caps.maxComputeWorkgroupsPerDimension &&
        Math.ceil(shape.seq / Math.min(params.queryRows, params.keyRows)) <=
          caps.maxComputeWorkgroupsPerDimension &&
        Math.ceil(rows / DELTA_WORKGROUP) <= caps.maxComputeWorkgroupsPerDimension ** 2;
    },
    recordForward(launch, recorder) {
      const { shape } = launch;
      const kernels = kernelsFor(shape);
      const u = attentionUniforms(shape, launch.scale, false);
      const { q, k, v, lse, out } = launch;
      recorder.dispatch(kernels.forward, u, [q, k, v, lse, out], [
        Math.ceil(shape.seq / params.queryRows),
        shape.batch * shape.heads,
        1,
      ]);
    },
    recordBackward(launch, recorder) {
      const { shape } = launch;
      const kernels = kernelsFor(shape);
      const u = attentionUniforms(shape, launch.scale, launch.accumulate);
      const { q, k, v, out, lse, gradOut, gradQ, gradK, gradV } = launch;
      const rows = shape.batch * shape.heads * shape.seq;
      const delta = recorder.scratch(rows);
      const maxGrid = recorder.caps.maxComputeWorkgroupsPerDimension;
      const bh = shape.batch * shape.heads;
      recorder.dispatch(
        kernels.delta,
        u,
        [out, gradOut, delta],
        foldedGrid(Math.ceil(rows / DELTA_WORKGROUP), maxGrid),
      );
      recorder.dispatch(kernels.dkdv, u, [q, k, v, gradOut, lse, delta, gradK, gradV], [
        Math.ceil(shape.seq / params.keyRows),
        bh,
        1,
      ]);
      recorder.dispatch(kernels.dq, u, [q, k, v, gradOut, lse, delta, gradQ], [
        Math.ceil(shape.seq / params.queryRows),
        bh,
        1,
      ]);
    },
  };
}

/**
 * The id of a tiled variant: attn-tiled-q<BR>-k<BC>-r<TR>x<TC>[-kv][-b<own>x<tile>-r<TR>x<TC>]-v4
 * (-kv: K and V share a tile; -b...: the tiled backward's own rows, tile rows and block).
 */
export function tiledAttentionVariantId(
  tiled: AttentionTiledParams,
  backward?: AttentionTiledBackwardParams,
): string {
  return `attn-tiled-q${tiled.queryRows}-k${tiled.keyTile}-r${tiled.blockRows}x${tiled.blockKeys}` +
    (tiled.sharedKv ? "-kv" : "") +
    (backward
      ? `-b${backward.ownRows}x${backward.tileRows}-r${backward.blockRows}x${backward.blockCols}`
      : "") +
    "-v4";
}

const tiledForwardCache = new Map<string, KernelSpec>();

/** The tiled forward's kernel spec at a capacity (generated once, then cached). */
export function tiledForwardKernel(tiled: AttentionTiledParams, capacity: number): KernelSpec {
  const module = `${tiledAttentionVariantId(tiled)}-fwd-d${capacity}`;
  const hit = tiledForwardCache.get(module);
  if (hit) return hit;
  const U = "uniform", R = "read", W = "rw", _ = null;
  const spec: KernelSpec = {
    module,
    code: attentionTiledWgsl(tiled, capacity),
    entry: "attention",
    bindings: [U, R, R, R, _, _, W, _, W],
  };
  tiledForwardCache.set(module, spec);
  return spec;
}

const tiledBackwardCache = new Map<string, { dkdv: KernelSpec; dq: KernelSpec }>();

/** The tiled dK/dV and dQ kernel specs at a capacity (generated once, then cached). */
export function tiledBackwardKernels(
  backward: AttentionTiledBackwardParams,
  capacity: number,
): { dkdv: KernelSpec; dq: KernelSpec } {
  const { ownRows, tileRows, blockRows, blockCols } = backward;
  const name = `attn-tiled-b${ownRows}x${tileRows}-r${blockRows}x${blockCols}-d${capacity}`;
  const hit = tiledBackwardCache.get(name);
  if (hit) return hit;
  const U = "uniform", R = "read", W = "rw", _ = null;
  const kernels: { dkdv: KernelSpec; dq: KernelSpec } = {
    dkdv: {
      module: `${name}-dkdv`,
      code: attentionTiledBackwardWgsl(backward, capacity, "dkdv"),
      entry: "attention_dkdv",
      bindings: [U, R, R, R, _, R, W, W, W, W],
    },
    dq: {
      module: `${name}-dq`,
      code: attentionTiledBackwardWgsl(backward, capacity, "dq"),
      entry: "attention_dq",
      bindings: [U, R, R, R, _, R, W, W, W],
    },
  };
  tiledBackwardCache.set(name, kernels);
  return kernels;
}

/**
 * A tiled variant: the register-tiled forward of attention_tiled.ts (vec4 loads, headDim % 4 ==
 * 0) paired with the backward kernels (delta, dK/dV, dQ) of the template generated at `backward`.
 */
export function tiledAttentionVariant(
  tiled: AttentionTiledParams,
  backward: AttentionTileParams,
  description: string,
  tiledBackward?: AttentionTiledBackwardParams,
): AttentionVariant {
  const id = tiledAttentionVariantId(tiled, tiledBackward);
  const problem = tiledParamsProblem(tiled) ??
    (tiledBackward ? tiledBackwardProblem(tiledBackward) : null);
  if (problem) throw new Error(`attention variant ${id}: ${problem}`);
  if (backward.pack !== 4) throw new Error(`attention variant ${id}: the backward must be vec4`);
  const base = generatedAttentionVariant(backward, description);
  const backwardFits = (shape: AttentionShape, caps: AttentionDeviceCaps) =>
    !tiledBackward ||
    (tiledBackwardInvocations(tiledBackward) <= caps.maxComputeInvocationsPerWorkgroup &&
      tiledBackwardSharedBytes(tiledBackward, shape.headDim) <=
        caps.maxComputeWorkgroupStorageSize &&
      Math.ceil(shape.seq / tiledBackward.ownRows) <= caps.maxComputeWorkgroupsPerDimension);
  return {
    ...base,
    id,
    tiled,
    ...(tiledBackward ? { tiledBackward } : {}),
    supports(shape, caps) {
      return base.supports(shape, caps) && shape.headDim % 4 === 0 &&
        tiledInvocations(tiled) <= caps.maxComputeInvocationsPerWorkgroup &&
        tiledSharedBytes(tiled, shape.headDim) <= caps.maxComputeWorkgroupStorageSize &&
        Math.ceil(shape.seq / tiled.queryRows) <= caps.maxComputeWorkgroupsPerDimension &&
        backwardFits(shape, caps);
    },
    recordForward(launch, recorder) {
      const { shape } = launch;
      const kernel = tiledForwardKernel(tiled, tiledCapacity(tiled, shape.headDim));
      const u = attentionUniforms(shape, launch.scale, false);
      const { q, k, v, lse, out } = launch;
      recorder.dispatch(kernel, u, [q, k, v, lse, out], [
        Math.ceil(shape.seq / tiled.queryRows),
        shape.batch * shape.heads,
        1,
      ]);
    },
    recordBackward(launch, recorder) {
      if (!tiledBackward) return base.recordBackward(launch, recorder);
      const { shape } = launch;
      const template = attentionKernelsFor(
        attentionVariantId(backward),
        backward,
        attentionCapacity(backward, shape.headDim),
      );
      const kernels = tiledBackwardKernels(
        tiledBackward,
        tiledBackwardCapacity(tiledBackward, shape.headDim),
      );
      const u = attentionUniforms(shape, launch.scale, launch.accumulate);
      const { q, k, v, out, lse, gradOut, gradQ, gradK, gradV } = launch;
      const rows = shape.batch * shape.heads * shape.seq;
      const delta = recorder.scratch(rows);
      const bh = shape.batch * shape.heads;
      const blocks = Math.ceil(shape.seq / tiledBackward.ownRows);
      recorder.dispatch(
        template.delta,
        u,
        [out, gradOut, delta],
        foldedGrid(
          Math.ceil(rows / DELTA_WORKGROUP),
          recorder.caps.maxComputeWorkgroupsPerDimension,
        ),
      );
      recorder.dispatch(kernels.dkdv, u, [q, k, v, gradOut, lse, delta, gradK, gradV], [
        blocks,
        bh,
        1,
      ]);
      recorder.dispatch(kernels.dq, u, [q, k, v, gradOut, lse, delta, gradQ], [blocks, bh, 1]);
    },
  };
}

/** Workgroup bytes the largest of a variant's kernels declares at `headDim`. */
export function attentionVariantSharedBytes(variant: AttentionVariant, headDim: number): number {
  return Math.max(
    attentionSharedBytes(variant.params, headDim),
    variant.tiled ? tiledSharedBytes(variant.tiled, headDim) : 0,
    variant.tiledBackward ? tiledBackwardSharedBytes(variant.tiledBackward, headDim) : 0,
  );
}

/** The WGSL modules a variant runs at `headDim` (the template's, then the tiled forward's). */
export function attentionVariantWgsl(variant: AttentionVariant, headDim: number): string[] {
  const codes = [attentionWgslFor(variant.params, attentionCapacity(variant.params, headDim))];
  if (variant.tiled) {
    codes.push(attentionTiledWgsl(variant.tiled, tiledCapacity(variant.tiled, headDim)));
  }
  return codes;
}

/** The backward the tiled variants pair with: the default's tiles with vec4 loads. */
const TILED_BACKWARD: AttentionTileParams = {
  queryRows: 32,
  queryInvocations: 4,
  keyRows: 16,
  keyInvocations: 8,
  tileRows: 8,
  pack: 4,
};

/**
 * The catalogue, the untuned default first. What the others try, and for which GPUs:
 * - vec4: 128-bit global and workgroup loads (every GPU: a quarter of the load instructions).
 * - t16: 16-row tiles halve the barriers per key (NVIDIA and AMD, where barriers are dear) at
 *   twice the tile memory (32 KiB at D = 128: Apple's and lavapipe's limit).
 * - q64/k32 (256 invocations): twice the query rows share each staged K/V tile, halving its
 *   reads from memory per query (large GPUs with many resident warps).
 * - x2/x4: fewer invocations per row, fewer partial sums through workgroup memory, more
 *   registers per invocation (NVIDIA's 255 registers; spills on smaller register files).
 * - q16x8: more workgroups for short sequences or few heads (fills wide GPUs).
 * - t4: a quarter of the default's workgroup memory, so more workgroups fit a core (Apple, and
 *   devices near the 16 KiB minimum).
 * - r2: each invocation owns two rows, so every K/V (Q/dO) value it loads from the tile feeds two
 *   dot products: twice the arithmetic per workgroup-memory load, the limit of the others on
 *   GPUs whose FMA rate is several times their shared-memory load rate (NVIDIA, AMD).
 */
export const ATTENTION_VARIANTS: readonly AttentionVariant[] = [
  generatedAttentionVariant(
    { queryRows: 32, queryInvocations: 4, keyRows: 16, keyInvocations: 8, tileRows: 8, pack: 1 },
    "default: 32 query rows x 4, 16 key rows x 8, 8-row tiles, scalar loads",
  ),
  generatedAttentionVariant(
    { queryRows: 32, queryInvocations: 4, keyRows: 16, keyInvocations: 8, tileRows: 8, pack: 4 },
    "the default's tiles with vec4 loads",
  ),
  generatedAttentionVariant(
    { queryRows: 32, queryInvocations: 4, keyRows: 16, keyInvocations: 8, tileRows: 16, pack: 4 },
    "16-row tiles (half the barriers), vec4 loads",
  ),
  generatedAttentionVariant(
    { queryRows: 64, queryInvocations: 4, keyRows: 32, keyInvocations: 8, tileRows: 8, pack: 4 },
    "256 invocations: 64 query / 32 key rows share each tile, vec4 loads",
  ),
  generatedAttentionVariant(
    { queryRows: 64, queryInvocations: 2, keyRows: 32, keyInvocations: 4, tileRows: 8, pack: 4 },
    "half the invocations per row (more registers, fewer partial sums), vec4 loads",
  ),
  generatedAttentionVariant(
    { queryRows: 16, queryInvocations: 8, keyRows: 16, keyInvocations: 8, tileRows: 8, pack: 4 },
    "16 query rows x 8 (twice the workgroups), vec4 loads",
  ),
  generatedAttentionVariant(
    { queryRows: 32, queryInvocations: 4, keyRows: 16, keyInvocations: 8, tileRows: 4, pack: 4 },
    "4-row tiles (a quarter of the workgroup memory), vec4 loads",
  ),
  generatedAttentionVariant(
    {
      queryRows: 64,
      queryInvocations: 4,
      queryRowsPerInvocation: 2,
      keyRows: 32,
      keyInvocations: 8,
      keyRowsPerInvocation: 2,
      tileRows: 8,
      pack: 4,
    },
    "two rows per invocation (each tile load feeds two rows), 128 invocations, vec4 loads",
  ),
  generatedAttentionVariant(
    {
      queryRows: 32,
      queryInvocations: 8,
      queryRowsPerInvocation: 2,
      keyRows: 32,
      keyInvocations: 8,
      keyRowsPerInvocation: 2,
      tileRows: 8,
      pack: 4,
    },
    "two rows per invocation, 8 invocations per row (fewer registers), vec4 loads",
  ),
  tiledAttentionVariant(
    { queryRows: 32, keyTile: 32, blockRows: 4, blockKeys: 4, sharedKv: true },
    TILED_BACKWARD,
    "tiled forward: 32 rows x 32-key tiles, 4x4 score blocks, 64 invocations, K/V share a tile",
  ),
  tiledAttentionVariant(
    { queryRows: 32, keyTile: 32, blockRows: 2, blockKeys: 4, sharedKv: true },
    TILED_BACKWARD,
    "tiled forward: 32 rows x 32-key tiles, 2x4 score blocks, 128 invocations, K/V share a tile",
  ),
  tiledAttentionVariant(
    { queryRows: 32, keyTile: 16, blockRows: 2, blockKeys: 2, sharedKv: true },
    TILED_BACKWARD,
    "tiled forward: 32 rows x 16-key tiles, 2x2 blocks, 128 invocations, 28 KiB at d128",
  ),
  tiledAttentionVariant(
    { queryRows: 64, keyTile: 16, blockRows: 4, blockKeys: 4, sharedKv: true },
    TILED_BACKWARD,
    "tiled forward: 64 rows x 16-key tiles, 4x4 blocks, 64 invocations (K/V reads halved)",
  ),
  tiledAttentionVariant(
    { queryRows: 32, keyTile: 16, blockRows: 4, blockKeys: 2, sharedKv: false },
    TILED_BACKWARD,
    "tiled forward: 32 rows x 16-key tiles, 4x2 blocks, separate K/V tiles (3 barriers/tile)",
  ),
  tiledAttentionVariant(
    { queryRows: 32, keyTile: 32, blockRows: 4, blockKeys: 4, sharedKv: true },
    TILED_BACKWARD,
    "tiled forward (32 x 32, 4x4) and tiled dK/dV, dQ: 16 own rows x 16-row tiles, 2x2 blocks",
    { ownRows: 16, tileRows: 16, blockRows: 2, blockCols: 2 },
  ),
  tiledAttentionVariant(
    { queryRows: 32, keyTile: 16, blockRows: 2, blockKeys: 2, sharedKv: true },
    TILED_BACKWARD,
    "tiled forward (32 x 16, 2x2) and backward (16 own x 8-row tiles, 2x2): 28 / 26 KiB at d128",
    { ownRows: 16, tileRows: 8, blockRows: 2, blockCols: 2 },
  ),
  tiledAttentionVariant(
    { queryRows: 64, keyTile: 16, blockRows: 4, blockKeys: 4, sharedKv: true },
    TILED_BACKWARD,
    "tiled forward (64 x 16, 4x4) and backward (24 own x 16-row tiles, 2x2): 47 / 45 KiB at d128",
    { ownRows: 24, tileRows: 16, blockRows: 2, blockCols: 2 },
  ),
];

/** The variant with this id (throws for an unknown id). */
export function attentionVariant(id: string): AttentionVariant {
  const variant = ATTENTION_VARIANTS.find((v) => v.id === id);
  if (!variant) throw new Error(`unknown attention variant ${id}`);
  return variant;
}

/** The untuned choice: the catalogue's first variant that supports the shape, or undefined. */
export function defaultAttentionVariant(
  shape: AttentionShape,
  caps: AttentionDeviceCaps,
  variants: readonly AttentionVariant[] = ATTENTION_VARIANTS,
): AttentionVariant | undefined {
  return variants.find((v) => v.supports(shape, caps));
}
