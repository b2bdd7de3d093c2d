/**
 * Times one sgemm candidate on the training step's matrix shapes, in a process of its own.
 * OpenBLAS picks its kernels once, when the library loads (from the CPU, or from
 * `OPENBLAS_CORETYPE`), so comparing core types needs a fresh process per candidate; the
 * selector (select.ts) runs this file as `deno run probe.ts REQUEST`, or the compiled binary
 * with SGEMM_PROBE_ARG, and reads one JSON line back.
 *
 * @module
 */
import type { MatmulShape } from "../../backend.ts";
import { createBlasGemm } from "./blas.ts";
import { createJsGemm } from "./js.ts";
import type { Gemm } from "./types.ts";
import { createWasmGemm } from "./wasm.ts";

/** The first argument that makes the compiled binary run a probe instead of the CLI. */
export const SGEMM_PROBE_ARG = "__sgemm-probe";

/** What to time: an implementation and its thread count (the core type comes from the env). */
export interface ProbeRequest {
  /** Implementation. */
  kind: "blas" | "wasm" | "js";
  /** Threads. */
  threads: number;
  /** Milliseconds spent per shape (default 60). */
  budgetMs?: number;
}

/** What a probe measured. */
export interface ProbeResult {
  /** Sustained GFLOP/s over the training shapes (total FLOPs / total of each shape's best time). */
  gflops: number;
  /** The implementation's kind string (`blas:libopenblas.so.0`, `wasm:simd`, ...). */
  kind: string;
  /** The BLAS core name the library chose, or "". */
  core: string;
  /** The BLAS build configuration, or "". */
  config: string;
}

/**
 * The matmuls of a CPU training step (2,048 tokens, width 256, MLP 1,024, vocab 4,096): the
 * forward projections, the logits, and backward's transposed products.
 */
export const TRAINING_SHAPES: readonly MatmulShape[] = [
  { m: 2048, n: 256, k: 256 },
  { m: 2048, n: 1024, k: 256 },
  { m: 2048, n: 256, k: 1024 },
  { m: 2048, n: 4096, k: 256 },
  { m: 2048, n: 256, k: 4096, transB: true },
  { m: 256, n: 1024, k: 2048, transA: true },
];

/**
 * Sustained GFLOP/s of `gemm` over `shapes`: each shape is run until `budgetMs` has passed and
 * its best time counts (the least disturbed by other processes).
 */
export function timeShapes(
  gemm: Gemm,
  shapes: readonly MatmulShape[] = TRAINING_SHAPES,
  budgetMs = 60,
): number {
  let flops = 0, seconds = 0;
  for (const shape of shapes) {
    const { m, n, k } = shape;
    const a = new Float32Array(m * k).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const b = new Float32Array(k * n).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
    const c = new Float32Array(m * n);
    const run = () => gemm.sgemm({ ...shape, a, b, c });
    run();
    let best = Infinity;
    const start = performance.now();
    do {
      const t0 = performance.now();
      run();
      best = Math.min(best, performance.now() - t0);
    } while (performance.now() - start < budgetMs);
    flops += 2 * m * n * k;
    seconds += Math.max(best, 1e-3) / 1000;
  }
  return flops / seconds / 1e9;
}

/** Create the requested implementation in this process, time it, and close it. */
export async function runProbe(request: ProbeRequest): Promise<ProbeResult> {
  let gemm: Gemm | null;
  if (request.kind === "blas") gemm = createBlasGemm(request.threads);
  else if (request.kind === "wasm") gemm = await createWasmGemm(request.threads);
  else gemm = createJsGemm();
  if (!gemm) throw new Error("no system BLAS loads here");
  try {
    const gflops = timeShapes(gemm, TRAINING_SHAPES, request.budgetMs ?? 60);
    return {
      gflops,
      kind: gemm.kind,
      core: gemm.blas?.core ?? "",
      config: gemm.blas?.config ?? "",
    };
  } finally {
    gemm.close();
  }
}

/** Entry point: parse the JSON request, print one JSON line (a result or `{error}`). */
export async function probeMain(args: readonly string[]): Promise<void> {
  try {
    const request = JSON.parse(args[0] ?? "") as ProbeRequest;
    console.log(JSON.stringify(await runProbe(request)));
  } catch (error) {
    console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
  }
}

if (import.meta.main) {
  await probeMain(Deno.args);
  Deno.exit(0); // the BLAS thread pool must not keep the probe alive
}
