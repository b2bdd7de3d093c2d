/**
 * The WebGPU backend of the engine: WGSL kernels (kernels/*.wgsl) behind the raw `Backend`
 * contract, with pooled buffers, batched submits and the adapter's real limits.
 *
 * @module
 */
export {
  createWebGpuBackend,
  WebGpuBackend,
  type WebGpuBackendOptions,
  WebGpuBuffer,
} from "./backend.ts";
export { createGpuDevice, type GpuDevice, type GpuDeviceOptions } from "./device.ts";
export { bucketBytes, BufferPool, type PoolStats } from "./pool.ts";
export {
  type BindingKind,
  type BufferBinding,
  type CachedPipeline,
  Dispatcher,
  type KernelSpec,
  type PassTimer,
} from "./dispatch.ts";
export {
  DispatchProfiler,
  type GpuTiming,
  hasTimestamps,
  type KernelTime,
  timeOnDevice,
} from "./timing.ts";
export * from "./matmul_variants.ts";
