/**
 * The matmul variants the autotuner chooses from. Each variant is one way to compute
 * C = alpha * op(A) @ op(B) + beta * C (batched, row-major, f32 in memory) on a WebGPU device:
 * its tile sizes, workgroup shape, load width, buffering or split of K. A variant says which
 * shapes and devices it supports and records its own dispatches, so the backend and the tuner
 * treat every variant alike. The catalogue's first variant that supports a shape is the default
 * when nothing has been tuned.
 */
import matmulWgsl from "../../../kernels/matmul.wgsl" with { type: "text" };
import type { BufferBinding, KernelSpec } from "./dispatch.ts";
import {
  matmulKernelWgsl,
  matmulReduceWgsl,
  type MatmulTileParams,
  REDUCE_WORKGROUP,
  tileParamsValid,
  tileSharedBytes,
  tileWorkgroup,
} from "./matmul_wgsl.ts";

/** One matmul problem, as the tuner classifies it. */
export interface MatmulShape {
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Batch items (1 = not batched). */
  batch: number;
  /** A is stored (k, m). */
  transA: boolean;
  /** B is stored (n, k). */
  transB: boolean;
  /**
   * Every element offset and batch stride of A, B and C is a multiple of 4 (what vec4 variants
   * need beside the contiguous dimensions). Default true: offsets 0 and packed strides, the
   * shapes the tuner times; the backend sets it from each launch (`matmulLaunchAligned`).
   */
  aligned?: boolean;
}

/** What a variant may need of the device. */
export interface MatmulDeviceCaps {
  /** Workgroup memory per workgroup, bytes. */
  maxComputeWorkgroupStorageSize: number;
  /** Invocations per workgroup. */
  maxComputeInvocationsPerWorkgroup: number;
  /** Workgroups per grid dimension. */
  maxComputeWorkgroupsPerDimension: number;
  /** Storage-buffer offset alignment, bytes. */
  minStorageBufferOffsetAlignment: number;
  /** The device was created with `shader-f16`. */
  shaderF16: boolean;
}

/** One launch: the shape, its scalars, and where the operands live (element offsets/strides). */
export interface MatmulLaunch {
  /** The problem. */
  shape: MatmulShape;
  /** Scale of the product. */
  alpha: number;
  /** Scale of the old C (0 = C is not read). */
  beta: number;
  /** Bound ranges of A, B, C. */
  a: BufferBinding;
  b: BufferBinding;
  c: BufferBinding;
  /** Element offsets of item 0 inside each binding. */
  offsetA: number;
  offsetB: number;
  offsetC: number;
  /** Element strides between batch items. */
  strideA: number;
  strideB: number;
  strideC: number;
}

/** What a variant may use to record its work. */
export interface MatmulRecorder {
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
  caps: MatmulDeviceCaps;
}

/** A way to compute a matmul. */
export interface MatmulVariant {
  /** Stable id (cache key part): change it when the kernel's behaviour changes. */
  id: string;
  /** One line for `autoresearch platform` and the bench. */
  description: string;
  /** "f16" variants round operands to f16 (f32 accumulate): only chosen when allowed. */
  precision: "f32" | "f16";
  /** Whether this variant can run `shape` on a device with `caps`. */
  supports(shape: MatmulShape, caps: MatmulDeviceCaps): boolean;
  /** Record the launch's dispatches. */
  record(launch: MatmulLaunch, recorder: MatmulRecorder): void;
  /** The generator parameters of a generated variant (absent for the hand-written ones). */
  tile?: MatmulTileParams;
}

/** The uniform block of kernels/matmul.wgsl (16 words). */
export function matmulUniforms(launch: MatmulLaunch, batchCount: number): Uint32Array {
  const words = new Uint32Array(16);
  const floats = new Float32Array(words.buffer);
  const { m, n, k } = launch.shape;
  words.set([m, n, k, batchCount, launch.strideA, launch.strideB, launch.strideC, 0]);
  words.set([launch.offsetA, launch.offsetB, launch.offsetC, 0], 8);
  floats[12] = launch.alpha;
  floats[13] = launch.beta;
  return words;
}

/**
 * Record a kernel of matmul.wgsl's layout over the batch, in chunks of at most the grid's z
 * limit (each chunk shifts the offsets).
 */
export function recordTiled(
  launch: MatmulLaunch,
  recorder: MatmulRecorder,
  spec: KernelSpec,
  tileM: number,
  tileN: number,
): void {
  const { m, n, batch } = launch.shape;
  const maxZ = recorder.caps.maxComputeWorkgroupsPerDimension;
  for (let b0 = 0; b0 < batch; b0 += maxZ) {
    const count = Math.min(maxZ, batch - b0);
    const chunk = {
      ...launch,
      offsetA: launch.offsetA + b0 * launch.strideA,
      offsetB: launch.offsetB + b0 * launch.strideB,
      offsetC: launch.offsetC + b0 * launch.strideC,
    };
    recorder.dispatch(spec, matmulUniforms(chunk, count), [launch.a, launch.b, launch.c], [
      Math.ceil(n / tileN),
      Math.ceil(m / tileM),
      count,
    ]);
  }
}

function baselineSpec(entry: string, shape: MatmulShape): KernelSpec {
  return {
    module: "matmul",
    code: matmulWgsl,
    entry,
    bindings: ["uniform", "read", "read", "rw"],
    constants: { TRANS_A: shape.transA ? 1 : 0, TRANS_B: shape.transB ? 1 : 0 },
  };
}

/** 64x64 tiles, 4x4 outputs per invocation (kernels/matmul.wgsl `matmul`). */
export const TILE64: MatmulVariant = {
  id: "t64-r4x4-k16",
  description: "64x64 tile, 16x16 invocations of 4x4, K step 16",
  precision: "f32",
  supports: () => true,
  record(launch, recorder) {
    recordTiled(launch, recorder, baselineSpec("matmul", launch.shape), 64, 64);
  },
};

/** 128x128 tiles, 8x8 outputs per invocation (kernels/matmul.wgsl `matmul_large`). */
export const TILE128: MatmulVariant = {
  id: "t128-r8x8-k8",
  description: "128x128 tile, 16x16 invocations of 8x8, K step 8",
  precision: "f32",
  supports: () => true,
  record(launch, recorder) {
    recordTiled(launch, recorder, baselineSpec("matmul_large", launch.shape), 128, 128);
  },
};

/** Whether vec4 loads and stores are exact for `shape`: every contiguous dimension, offset and stride a multiple of 4. */
export function matmulVec4Ok(shape: MatmulShape): boolean {
  const { m, n, k, transA, transB } = shape;
  return shape.aligned !== false && (transA ? m : k) % 4 === 0 && (transB ? k : n) % 4 === 0 &&
    n % 4 === 0;
}

/** Whether every element offset and batch stride of a launch is a multiple of 4. */
export function matmulLaunchAligned(launch: MatmulLaunch): boolean {
  return [
    launch.offsetA,
    launch.offsetB,
    launch.offsetC,
    launch.strideA,
    launch.strideB,
    launch.strideC,
  ].every((x) => x % 4 === 0);
}

/** Largest scratch of partial sums a split-K variant asks for (the default binding limit). */
const SPLIT_K_MAX_SCRATCH_BYTES = 128 * 1024 * 1024;
/** Least K per split: below it the reduce pass costs more than the split gains. */
const SPLIT_K_MIN_CHUNK = 256;

/** The uniform block of the generated kernels (see matmul_wgsl.ts `PARAMS`). */
function tiledUniforms(launch: MatmulLaunch, count: number, splits: number, kChunk: number) {
  const words = matmulUniforms(launch, count);
  words[7] = splits;
  words[11] = kChunk;
  return words;
}

/** The parameters in a stable id, e.g. t128x128-r8x8-k8-wg16x16-v4-db. */
export function tileVariantId(t: MatmulTileParams): string {
  const [wgx, wgy] = tileWorkgroup(t);
  return `t${t.bm}x${t.bn}-r${t.tm}x${t.tn}-k${t.bk}-wg${wgx}x${wgy}-${t.vec4 ? "v4" : "s1"}` +
    (t.double ? "-db" : "") + (t.splits > 1 ? `-sk${t.splits}` : "") + (t.f16 ? "-f16" : "");
}

/** A variant running the kernel `matmulKernelWgsl` generates from `t`. */
export function tiledVariant(t: MatmulTileParams): MatmulVariant {
  if (!tileParamsValid(t)) {
    throw new RangeError(`matmul tile parameters invalid: ${JSON.stringify(t)}`);
  }
  const id = tileVariantId(t);
  const [wgx, wgy] = tileWorkgroup(t);
  const specs = new Map<string, KernelSpec>();
  const spec = (transA: boolean, transB: boolean): KernelSpec => {
    const key = `${transA ? "t" : "n"}${transB ? "t" : "n"}`;
    let cached = specs.get(key);
    if (!cached) {
      cached = {
        module: `matmul_${id}_${key}`,
        code: matmulKernelWgsl(t, transA, transB),
        entry: "main",
        bindings: ["uniform", "read", "read", "rw"],
      };
      specs.set(key, cached);
    }
    return cached;
  };
  const parts = [
    `${t.bm}x${t.bn} tile`,
    `${wgx}x${wgy} invocations of ${t.tm}x${t.tn}`,
    `K step ${t.bk}`,
    t.vec4 ? "vec4 loads" : "scalar loads",
  ];
  if (t.double) parts.push("double-buffered");
  if (t.splits > 1) parts.push(`K split ${t.splits} ways + reduce`);
  if (t.f16) parts.push("f16 tiles, f32 sums");
  return {
    id,
    description: parts.join(", "),
    precision: t.f16 ? "f16" : "f32",
    tile: t,
    supports(shape, caps) {
      const { m, n, k, batch } = shape;
      const maxGrid = caps.maxComputeWorkgroupsPerDimension;
      if (tileSharedBytes(t) > caps.maxComputeWorkgroupStorageSize) return false;
      if (wgx * wgy > caps.maxComputeInvocationsPerWorkgroup) return false;
      if (t.f16 && !caps.shaderF16) return false;
      if (t.vec4 && !matmulVec4Ok(shape)) return false;
      if (Math.ceil(n / t.bn) > maxGrid || Math.ceil(m / t.bm) > maxGrid) return false;
      if (t.splits > 1) {
        // Tall-skinny products only: a long K to split, scratch and grid within limits.
        return k >= t.splits * SPLIT_K_MIN_CHUNK && k >= Math.max(m, n) &&
          batch * t.splits <= maxGrid &&
          t.splits * batch * m * n * 4 <= SPLIT_K_MAX_SCRATCH_BYTES;
      }
      return true;
    },
    record(launch, recorder) {
      const { m, n, k, batch, transA, transB } = launch.shape;
      if (t.vec4 && !matmulLaunchAligned(launch)) {
        throw new RangeError(
          `webgpu: matmul variant ${id} needs offsets and strides that are multiples of 4`,
        );
      }
      const kernel = spec(transA, transB);
      if (t.splits === 1) {
        const maxZ = recorder.caps.maxComputeWorkgroupsPerDimension;
        for (let b0 = 0; b0 < batch; b0 += maxZ) {
          const count = Math.min(maxZ, batch - b0);
          const chunk = {
            ...launch,
            offsetA: launch.offsetA + b0 * launch.strideA,
            offsetB: launch.offsetB + b0 * launch.strideB,
            offsetC: launch.offsetC + b0 * launch.strideC,
          };
          recorder.dispatch(kernel, tiledUniforms(chunk, count, 1, k), [
            launch.a,
            launch.b,
            launch.c,
          ], [
            Math.ceil(n / t.bn),
            Math.ceil(m / t.bm),
            count,
          ]);
        }
        return;
      }
      // Split-K: K cut into ranges of whole K steps, partial sums per range, then one reduce.
      const kChunk = Math.ceil(Math.ceil(k / t.splits) / t.bk) * t.bk;
      const splits = Math.ceil(k / kChunk);
      const scratch = recorder.scratch(splits * batch * m * n);
      const uniforms = tiledUniforms(launch, batch, splits, kChunk);
      recorder.dispatch(kernel, uniforms, [launch.a, launch.b, scratch], [
        Math.ceil(n / t.bn),
        Math.ceil(m / t.bm),
        batch * splits,
      ]);
      const groups = Math.ceil((batch * m * n) / (t.vec4 ? 4 : 1) / REDUCE_WORKGROUP);
      const maxGrid = recorder.caps.maxComputeWorkgroupsPerDimension;
      const gx = Math.min(groups, maxGrid);
      recorder.dispatch(reduceSpec(t.vec4), uniforms, [scratch, launch.c], [
        gx,
        Math.ceil(groups / gx),
        1,
      ]);
    },
  };
}

const reduceSpecs = new Map<boolean, KernelSpec>();
function reduceSpec(vec4: boolean): KernelSpec {
  let spec = reduceSpecs.get(vec4);
  if (!spec) {
    spec = {
      module: `matmul_reduce_${vec4 ? "v4" : "s1"}`,
      code: matmulReduceWgsl(vec4),
      entry: "main",
      bindings: ["uniform", "read", "rw"],
    };
    reduceSpecs.set(vec4, spec);
  }
  return spec;
}

/** Tile parameters with the common defaults (vec4, double-buffered, f32, no split). */
function tile(
  bm: number,
  bn: number,
  bk: number,
  tm: number,
  tn: number,
  options: Partial<MatmulTileParams> = {},
): MatmulTileParams {
  return { bm, bn, bk, tm, tn, vec4: true, double: true, f16: false, splits: 1, ...options };
}

const SCALAR = { vec4: false };

/**
 * The generated variants: a spread of block tiles, register tiles, K steps and workgroup shapes
 * (vec4 where the operands are aligned, scalar loads otherwise), split-K for tall-skinny products,
 * and f16 tiles where the device has `shader-f16`.
 */
export const GENERATED_VARIANTS: readonly MatmulVariant[] = [
  // Large products: the most multiply-adds per load.
  tile(128, 128, 8, 8, 8),
  tile(128, 128, 16, 8, 8),
  tile(128, 128, 8, 8, 8, { double: false }),
  tile(128, 64, 16, 8, 4),
  tile(64, 128, 16, 4, 8),
  tile(128, 64, 16, 8, 8),
  tile(64, 128, 16, 8, 8),
  tile(64, 256, 8, 8, 8),
  // Medium and small products: more workgroups to fill the device.
  tile(64, 64, 16, 8, 8),
  tile(64, 64, 16, 4, 4),
  tile(64, 64, 32, 4, 4),
  tile(32, 32, 32, 4, 4),
  // Scalar loads for unaligned operands (odd sizes, offsets or strides).
  tile(128, 128, 8, 8, 8, SCALAR),
  tile(64, 64, 16, 4, 4, SCALAR),
  tile(32, 32, 16, 4, 4, { ...SCALAR, double: false }),
  // Split-K for small m * n with a long K (weight gradients: k = tokens).
  tile(64, 64, 16, 4, 4, { splits: 4 }),
  tile(64, 64, 16, 4, 4, { splits: 16 }),
  tile(128, 128, 8, 8, 8, { splits: 8 }),
  tile(64, 64, 16, 4, 4, { ...SCALAR, splits: 8 }),
  // f16 workgroup tiles, f32 sums (only where shader-f16 exists and f16 is allowed).
  tile(128, 128, 16, 8, 8, { f16: true }),
  tile(64, 64, 32, 4, 4, { f16: true }),
].map(tiledVariant);

/** Every variant, the untuned default first. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [TILE64, TILE128, ...GENERATED_VARIANTS];

/** A variant by id, or undefined. */
export function matmulVariant(id: string): MatmulVariant | undefined {
  return MATMUL_VARIANTS.find((variant) => variant.id === id);
}

/**
 * The untuned choice: 128x128 tiles once a product has at least `largeTileMinTiles` of them
 * (enough workgroups to keep a large device busy), else 64x64.
 */
export function defaultMatmulVariant(shape: MatmulShape, largeTileMinTiles = 64): MatmulVariant {
  const tiles = Math.ceil(shape.m / 128) * Math.ceil(shape.n / 128) * shape.batch;
  return tiles >= largeTileMinTiles ? TILE128 : TILE64;
}
