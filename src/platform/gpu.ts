/**
 * WebGPU adapter detection: what `navigator.gpu` offers on this machine (adapter identity,
 * optional features, the limits the engine sizes its buffers and dispatches by). Everything is
 * read from the adapter without creating a device, so detection is cheap and side-effect free.
 */

/** The limits the engine cares about, as the adapter reports them. */
export interface GpuLimits {
  /** Largest range one storage binding may cover, in bytes. */
  maxStorageBufferBindingSize: number;
  /** Largest buffer, in bytes. */
  maxBufferSize: number;
  /** Most workgroups in one dispatch dimension (65535 on most adapters). */
  maxComputeWorkgroupsPerDimension: number;
  /** Most invocations in one workgroup. */
  maxComputeInvocationsPerWorkgroup: number;
  /** Workgroup (shared) memory per workgroup, in bytes. */
  maxComputeWorkgroupStorageSize: number;
  /** Largest workgroup size along x. */
  maxComputeWorkgroupSizeX: number;
  /** Storage buffers one shader stage may bind. */
  maxStorageBuffersPerShaderStage: number;
}

/** What one WebGPU adapter is and can do. */
export interface GpuInfo {
  /** Vendor as the adapter reports it (a name or a PCI id, driver-dependent). */
  vendor: string;
  /** Architecture name, often empty. */
  architecture: string;
  /** Device id or name, often a number. */
  device: string;
  /** Human-readable adapter name, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15...)". */
  description: string;
  /** True for software adapters (lavapipe, SwiftShader, WARP): correct but slow. */
  isFallbackAdapter: boolean;
  /** The optional features the engine may use, each true when offered. */
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  /** Every feature name the adapter offers. */
  allFeatures: string[];
  /** Subgroup size range when the adapter reports it. */
  subgroupMinSize: number | null;
  /** Subgroup size range when the adapter reports it. */
  subgroupMaxSize: number | null;
  /** Limits the engine sizes its work by. */
  limits: GpuLimits;
}

const LIMIT_NAMES: (keyof GpuLimits)[] = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupsPerDimension",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupSizeX",
  "maxStorageBuffersPerShaderStage",
];

/** Read the engine-relevant limits off an adapter or device. */
export function readLimits(limits: GPUSupportedLimits): GpuLimits {
  const source = limits as unknown as Record<string, number>;
  const out = {} as GpuLimits;
  for (const name of LIMIT_NAMES) out[name] = Number(source[name] ?? 0);
  return out;
}

/**
 * On Linux without XDG_RUNTIME_DIR (a plain ssh or CI shell), the Vulkan loader prints
 * "XDG_RUNTIME_DIR is invalid" several times on stderr, into every agent's run.log. Point it at a
 * private per-user directory first; an explicit setting is left alone.
 */
export function prepareGpuEnvironment(): void {
  if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return;
  try {
    const dir = `${Deno.env.get("TMPDIR") || "/tmp"}/autoresearch-runtime-${Deno.uid() ?? 0}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // Without the directory the loader only warns; WebGPU still works.
  }
}

/** Request the default high-performance adapter, or null when WebGPU is absent. */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return null;
  prepareGpuEnvironment();
  try {
    return await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/** Describe an adapter: identity, features and limits. */
export function describeAdapter(adapter: GPUAdapter): GpuInfo {
  const info = adapter.info as GPUAdapterInfo & {
    isFallbackAdapter?: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  // The spec moved isFallbackAdapter from the adapter onto its info; read either.
  const fallback = info.isFallbackAdapter ??
    (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  const allFeatures = [...adapter.features].map(String).sort();
  return {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    isFallbackAdapter: Boolean(fallback),
    features: {
      shaderF16: adapter.features.has("shader-f16"),
      subgroups: adapter.features.has("subgroups"),
      timestampQuery: adapter.features.has("timestamp-query"),
    },
    allFeatures,
    subgroupMinSize: typeof info.subgroupMinSize === "number" ? info.subgroupMinSize : null,
    subgroupMaxSize: typeof info.subgroupMaxSize === "number" ? info.subgroupMaxSize : null,
    limits: readLimits(adapter.limits),
  };
}

/** Detect the WebGPU adapter of this machine, or null when there is none. */
export async function detectGpu(): Promise<GpuInfo | null> {
  const adapter = await requestAdapter();
  return adapter ? describeAdapter(adapter) : null;
}
