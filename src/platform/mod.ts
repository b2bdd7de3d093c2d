/**
 * Public API of the platform layer (re-exported by the top-level mod.ts): what hardware the
 * engine runs on, which backend `auto` picks, and the peak FLOP/s MFU is measured against.
 */
export {
  type CpuCardPlatform,
  cpuCardPlatform,
  type CpuInfo,
  cpuVendor,
  detectCpu,
} from "./cpu.ts";
export {
  type CpuFeatures,
  detectCpuFeatures,
  flopsPerCycle,
  type HardwarePeak,
  hardwarePeak,
  parseCpuFeatures,
} from "./cpu_features.ts";
export {
  describeAdapter,
  detectGpu,
  type GpuInfo,
  type GpuLimits,
  prepareGpuEnvironment,
  requestAdapter,
} from "./gpu.ts";
export {
  cpuPeakFlops,
  type CpuPeakOptions,
  gpuPeakFlops,
  KNOWN_GPUS,
  type KnownGpu,
  lookupGpu,
  type MatmulFn,
  measureMatmulFlops,
  type PeakFlops,
  platformCachePath,
} from "./peak.ts";
export {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendKind,
  cpuPeak,
  type DetectOptions,
  detectPlatform,
  parseBackendChoice,
  type PlatformInfo,
  resolveBackend,
  type SgemmCandidateSummary,
  type SgemmSummary,
  type TunedFamilySummary,
  type TunedShapeSummary,
  type WebGpuTuningSummary,
} from "./detect.ts";
