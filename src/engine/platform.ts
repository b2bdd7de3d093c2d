/**
 * The platform as the engine sees it: src/platform's detection plus the engine's CPU sgemm
 * selection (every candidate timed on the training shapes, the fastest in use), so
 * `autoresearch platform` shows what each candidate sustains and MFU on the CPU is against the
 * hardware's peak (see platform/cpu_features.ts). Shared by `autoresearch platform` and the
 * trainer.
 */
import { sgemmChoice } from "./cpu/gemm/mod.ts";
import {
  type BackendChoice,
  detectPlatform,
  type GpuInfo,
  type PlatformInfo,
  type TunedFamilySummary,
  type WebGpuTuningSummary,
} from "../platform/mod.ts";

/** Detect the platform for `backend`; `refresh` times the sgemm candidates again. */
export async function detectPlatformWithGemm(
  backend: BackendChoice,
  refresh = false,
): Promise<PlatformInfo> {
  const threads = navigator.hardwareConcurrency ?? 1;
  const choice = await sgemmChoice(threads, refresh);
  const info = await detectPlatform({
    backend,
    refresh,
    sgemm: {
      chosen: choice.chosen,
      source: choice.source,
      candidates: choice.candidates.map(({ id, why, gflops, core, error }) => ({
        id,
        why,
        gflops,
        core,
        ...(error ? { error } : {}),
      })),
    },
  });
  if (info.gpu) info.webgpuTuning = await webgpuTuning(info.gpu);
  return info;
}

/** The adapter's cached matmul and attention tuning, read without creating a device. */
async function webgpuTuning(gpu: GpuInfo): Promise<WebGpuTuningSummary> {
  const { readAdapterTuning, webgpuTuneCachePath } = await import("./webgpu/tune.ts");
  const { MATMUL_VARIANTS } = await import("./webgpu/matmul_variants.ts");
  const { readAttentionAdapterTuning, attentionTuneCachePath } = await import(
    "./webgpu/attention_tune.ts"
  );
  const { ATTENTION_VARIANTS } = await import("./webgpu/attention_variants.ts");
  const warn = (message: string) => console.error(message);
  const matmulPath = webgpuTuneCachePath();
  const attentionPath = attentionTuneCachePath();
  return {
    ...family(matmulPath, MATMUL_VARIANTS, readAdapterTuning(gpu, matmulPath, warn)),
    attention: family(
      attentionPath,
      ATTENTION_VARIANTS.map((v) => ({ ...v, precision: "f32" })),
      readAttentionAdapterTuning(gpu, attentionPath, warn),
    ),
  };
}

/** One family's summary: its variants and the tuned shapes of its cache. */
function family(
  cachePath: string,
  variants: readonly { id: string; description: string; precision: string }[],
  tuning: {
    entries: Record<string, { variant: string; ms: number; defaultMs: number | null }>;
  } | null,
): TunedFamilySummary {
  return {
    cachePath,
    variants: variants.map(({ id, description, precision }) => ({ id, description, precision })),
    shapes: Object.entries(tuning?.entries ?? {}).map(([shape, entry]) => ({
      shape,
      variant: entry.variant,
      ms: entry.ms,
      gflops: "gflops" in entry && typeof entry.gflops === "number" ? entry.gflops : null,
      speedup: entry.defaultMs === null ? null : entry.defaultMs / entry.ms,
    })),
  };
}
