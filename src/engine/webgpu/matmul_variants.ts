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

/** Every variant, the untuned default first. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [TILE64, TILE128];

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
