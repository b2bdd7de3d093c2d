/**
 * WebGPU device creation: request the adapter's REAL limits (the defaults cap storage bindings at
 * 128 MiB and workgroup memory at 16 KiB, far below what a data-centre GPU offers) and the
 * optional features the kernels can use. Lost devices are reported, not silently ignored.
 */
import { prepareGpuEnvironment } from "../../platform/gpu.ts";

/** Options for `createGpuDevice`. */
export interface GpuDeviceOptions {
  /** Use this adapter instead of requesting one. */
  adapter?: GPUAdapter;
  /** Power preference for the adapter request (default "high-performance"). */
  powerPreference?: GPUPowerPreference;
}

/** An adapter, its device and the limits actually granted. */
export interface GpuDevice {
  /** The adapter the device came from. */
  adapter: GPUAdapter;
  /** The logical device. */
  device: GPUDevice;
  /** Limits granted to the device (equal to the adapter's for the ones we request). */
  limits: GPUSupportedLimits;
  /** Adapter description for messages and reports. */
  description: string;
  /** True for software adapters. */
  isFallback: boolean;
}

/** The limits worth raising to the adapter's maximum for compute work. */
const COMPUTE_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxBindGroups",
] as const;

/** Optional features requested when offered. */
const WANTED_FEATURES: GPUFeatureName[] = [
  "shader-f16",
  "timestamp-query",
  "subgroups" as GPUFeatureName,
];

/** Request an adapter and a device with the adapter's real compute limits. Throws without one. */
export async function createGpuDevice(options: GpuDeviceOptions = {}): Promise<GpuDevice> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (gpu && !options.adapter) prepareGpuEnvironment();
  const adapter = options.adapter ??
    (gpu
      ? await gpu.requestAdapter({ powerPreference: options.powerPreference ?? "high-performance" })
      : null);
  if (!adapter) {
    throw new Error(
      "webgpu: no WebGPU adapter on this machine (install a GPU driver or Mesa lavapipe, " +
        "or use --backend cpu)",
    );
  }
  const requiredLimits: Record<string, number> = {};
  const offered = adapter.limits as unknown as Record<string, number>;
  for (const name of COMPUTE_LIMITS) {
    if (typeof offered[name] === "number") requiredLimits[name] = offered[name];
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const isFallback = Boolean(
    info.isFallbackAdapter ??
      (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  );
  return {
    adapter,
    device,
    limits: device.limits,
    description: info.description || `${info.vendor} ${info.device}`.trim() || "WebGPU adapter",
    isFallback,
  };
}
