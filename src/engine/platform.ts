/**
 * The platform as the engine sees it: src/platform's detection plus the engine's CPU sgemm
 * selection (every candidate timed on the training shapes, the fastest in use), so
 * `autoresearch platform` shows what each candidate sustains and MFU on the CPU is against the
 * hardware's peak (see platform/cpu_features.ts). Shared by `autoresearch platform` and the
 * trainer.
 */
import { sgemmChoice } from "./cpu/gemm/mod.ts";
import { type BackendChoice, detectPlatform, type PlatformInfo } from "../platform/mod.ts";

/** Detect the platform for `backend`; `refresh` times the sgemm candidates again. */
export async function detectPlatformWithGemm(
  backend: BackendChoice,
  refresh = false,
): Promise<PlatformInfo> {
  const threads = navigator.hardwareConcurrency ?? 1;
  const choice = await sgemmChoice(threads, refresh);
  return await detectPlatform({
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
}
