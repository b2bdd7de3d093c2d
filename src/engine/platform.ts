/**
 * The platform as the engine sees it: src/platform's detection, with the CPU peak FLOP/s measured
 * by the engine's own fastest sgemm (cached per machine), so MFU on the CPU backend is against
 * what this machine really sustains, not a portable loop's figure. Shared by `autoresearch
 * platform` and the trainer.
 */
import { createGemm } from "./cpu/gemm/mod.ts";
import { type BackendChoice, detectPlatform, type PlatformInfo } from "../platform/mod.ts";

/** Detect the platform for `backend`; `refresh` measures the CPU peak again instead of the cache. */
export async function detectPlatformWithGemm(
  backend: BackendChoice,
  refresh = false,
): Promise<PlatformInfo> {
  const gemm = await createGemm();
  try {
    return await detectPlatform({
      backend,
      refresh,
      method: `gemm:${gemm.kind}:${gemm.threads}`,
      matmul: (a, b, c, n) => gemm.sgemm({ a, b, c, m: n, n, k: n }),
    });
  } finally {
    gemm.close();
  }
}
