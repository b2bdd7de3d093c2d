/**
 * Fast CPU single-precision matrix multiply for the engine's CPU backend. `createGemm` uses the
 * implementation that measured fastest on this machine (select.ts: the system OpenBLAS through
 * FFI with the best core type, or WebAssembly SIMD kernels on worker threads), falling back to
 * the first that loads ("blas", "wasm", then plain TypeScript "js") where nothing could be timed.
 *
 * @module
 */
import { blasLoaded, createBlasGemm } from "./blas.ts";
import { createJsGemm } from "./js.ts";
import { applyCoretype, chooseSgemm, type SgemmChoice } from "./select.ts";
import type { Gemm, GemmOptions } from "./types.ts";
import { createWasmGemm, wasmGemmSupported } from "./wasm.ts";

export type { BlasIdentity, Gemm, GemmOptions, SgemmParams } from "./types.ts";
export type { MeasuredCandidate, SgemmCandidate, SgemmChoice } from "./select.ts";

/** The selection behind the last `createGemm` with `prefer: "auto"`, per thread count. */
const choices = new Map<number, SgemmChoice>();

/**
 * The measured sgemm choice for `threads` (cached per machine; measured at first use). `refresh`
 * measures again.
 */
export async function sgemmChoice(threads: number, refresh = false): Promise<SgemmChoice> {
  const known = choices.get(threads);
  if (known && !refresh) return known;
  const choice = await chooseSgemm({ threads, refresh });
  choices.set(threads, choice);
  return choice;
}

async function createWasmOrFewer(threads: number): Promise<Gemm> {
  try {
    return await createWasmGemm(threads);
  } catch (err) {
    // Workers may be unavailable (a sandbox): one thread of SIMD still beats the loops.
    if (threads === 1) throw err;
    return await createWasmGemm(1);
  }
}

/**
 * Creates a GEMM engine. With `prefer: "auto"` (the default) the implementation measured fastest
 * on this machine is used (see select.ts; the first use on a machine times each candidate for a
 * second or two); forcing "blas", "wasm" or "js" skips the measurement, and forcing one that
 * cannot load rejects. `close()` stops the worker threads and closes the library (a process that
 * never calls it still exits: the workers do not hold it open).
 */
export async function createGemm(options: GemmOptions = {}): Promise<Gemm> {
  const prefer = options.prefer ?? "auto";
  const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`gemm: threads must be an integer in 1..256, got ${threads}`);
  }
  if (prefer === "auto") {
    const choice = await sgemmChoice(threads);
    const chosen = choice.candidates.find((candidate) => candidate.id === choice.chosen);
    if (choice.chosen === "js") return createJsGemm();
    if (chosen?.kind === "wasm" && wasmGemmSupported()) return await createWasmOrFewer(threads);
    if (chosen?.kind === "blas") applyCoretype(chosen, blasLoaded());
  }
  if (prefer === "blas" || prefer === "auto") {
    const blas = createBlasGemm(threads);
    if (blas) return blas;
    if (prefer === "blas") {
      throw new Error("gemm: no system BLAS loaded (needs --allow-ffi and libopenblas)");
    }
  }
  if (prefer === "wasm" || prefer === "auto") {
    if (wasmGemmSupported()) return await createWasmOrFewer(threads);
    if (prefer === "wasm") {
      throw new Error("gemm: WebAssembly SIMD with shared memory is unavailable");
    }
  }
  if (prefer !== "js" && prefer !== "auto") {
    throw new RangeError(`gemm: prefer must be auto, blas, wasm or js, got ${prefer}`);
  }
  return createJsGemm();
}
