/**
 * Fast CPU single-precision matrix multiply for the engine's CPU backend. `createGemm` picks the
 * fastest implementation that loads: the system OpenBLAS through FFI ("blas"), WebAssembly SIMD
 * kernels on worker threads ("wasm"), or plain TypeScript ("js").
 *
 * @module
 */
import { createBlasGemm } from "./blas.ts";
import { createJsGemm } from "./js.ts";
import type { Gemm, GemmOptions } from "./types.ts";
import { createWasmGemm, wasmGemmSupported } from "./wasm.ts";

export type { Gemm, GemmOptions, SgemmParams } from "./types.ts";

/**
 * Creates a GEMM engine. With `prefer: "auto"` (the default) the fastest implementation that
 * loads is used: "blas" (needs the ffi permission and a system OpenBLAS/Accelerate), else "wasm",
 * else "js". Forcing one that cannot load rejects. `close()` stops the worker threads and closes
 * the library (a process that never calls it still exits: the workers do not hold it open).
 */
export async function createGemm(options: GemmOptions = {}): Promise<Gemm> {
  const prefer = options.prefer ?? "auto";
  const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`gemm: threads must be an integer in 1..256, got ${threads}`);
  }
  if (prefer === "blas" || prefer === "auto") {
    const blas = createBlasGemm(threads);
    if (blas) return blas;
    if (prefer === "blas") {
      throw new Error("gemm: no system BLAS loaded (needs --allow-ffi and libopenblas)");
    }
  }
  if (prefer === "wasm" || prefer === "auto") {
    if (wasmGemmSupported()) {
      try {
        return await createWasmGemm(threads);
      } catch (err) {
        // Workers may be unavailable (a sandbox): one thread of SIMD still beats the loops.
        if (threads === 1) throw err;
        return await createWasmGemm(1);
      }
    }
    if (prefer === "wasm") {
      throw new Error("gemm: WebAssembly SIMD with shared memory is unavailable");
    }
  }
  if (prefer !== "js" && prefer !== "auto") {
    throw new RangeError(`gemm: prefer must be auto, blas, wasm or js, got ${prefer}`);
  }
  return createJsGemm();
}
