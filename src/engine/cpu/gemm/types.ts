/**
 * The single-precision GEMM contract shared by every CPU matmul implementation (JS, WASM SIMD on
 * workers, OpenBLAS through FFI), plus the argument checks they all run first, so a wrong shape
 * fails the same way whichever implementation was picked.
 *
 * @module
 */
import type { MatmulShape } from "../../backend.ts";

/**
 * Arguments of one (optionally batched) row-major single-precision matrix multiply:
 * `C[m,n] = alpha * op(A)[m,k] @ op(B)[k,n] + beta * C[m,n]` for every batch item.
 *
 * `op(A)` is `A` stored `[m,k]`, or `A^T` when `transA` (then `A` is stored `[k,m]`); likewise
 * `op(B)` is `B` stored `[k,n]`, or `B^T` stored `[n,k]` when `transB`. Matrices are dense
 * (leading dimension = row length). Batch item `i` reads `A` at `offsetA + i * strideA` (element
 * offsets, not bytes), same for `B` and `C`. A stride of 0 broadcasts one matrix to every item.
 */
export interface SgemmParams extends MatmulShape {
  /** Left operand, `[m,k]` (or `[k,m]` when `transA`) per batch item. */
  a: Float32Array;
  /** Right operand, `[k,n]` (or `[n,k]` when `transB`) per batch item. */
  b: Float32Array;
  /** Output `[m,n]` per batch item; read first when `beta != 0`. */
  c: Float32Array;
}

/**
 * What the loaded library says of itself: the kernel family OpenBLAS picked for this CPU
 * ("Cooperlake", "Haswell", ...; chosen once, when the library loads, from the CPU or from
 * `OPENBLAS_CORETYPE`) and its build configuration (version, threading).
 */
export interface BlasIdentity {
  /** Library file name as opened. */
  library: string;
  /** OpenBLAS core name, or "" for a BLAS without `openblas_get_corename`. */
  core: string;
  /** OpenBLAS build configuration, or "". */
  config: string;
}

/** A matrix-multiply engine. `sgemm` is synchronous; `close` releases workers and libraries. */
export interface Gemm {
  /** Which implementation runs: "blas", "wasm" or "js" (with detail after a colon, if any). */
  readonly kind: string;
  /** Threads the implementation uses (1 for "js"). */
  readonly threads: number;
  /** More about the implementation (the BLAS kernel family), or "". */
  readonly detail?: string;
  /** For "blas": what the loaded library says of itself. */
  readonly blas?: BlasIdentity;
  /** Computes `C = alpha * op(A) @ op(B) + beta * C`; blocks until done. */
  sgemm(p: SgemmParams): void;
  /** Releases resources (workers, shared memory, the dynamic library). Idempotent. */
  close(): void;
}

/** Options of {@linkcode createGemm}. */
export interface GemmOptions {
  /** Worker/BLAS threads. Default `navigator.hardwareConcurrency`. */
  threads?: number;
  /** Implementation to use: "auto" (fastest that loads, the default), or force one. */
  prefer?: "auto" | "blas" | "wasm" | "js";
}

/** SgemmParams with every default filled in and every bound checked. */
export interface ResolvedSgemm {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  offsetA: number;
  offsetB: number;
  offsetC: number;
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`sgemm: ${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** Element span touched by `batch` matrices of `size` elements spaced `stride` apart. */
function span(batch: number, stride: number, size: number): number {
  return size === 0 || batch === 0 ? 0 : (batch - 1) * stride + size;
}

/** Fills defaults and checks that every matrix of every batch item lies inside its array. */
export function resolveSgemm(p: SgemmParams): ResolvedSgemm {
  const m = nonNegativeInt("m", p.m);
  const n = nonNegativeInt("n", p.n);
  const k = nonNegativeInt("k", p.k);
  const batch = nonNegativeInt("batch", p.batch ?? 1);
  const r: ResolvedSgemm = {
    a: p.a,
    b: p.b,
    c: p.c,
    m,
    n,
    k,
    transA: p.transA ?? false,
    transB: p.transB ?? false,
    alpha: p.alpha ?? 1,
    beta: p.beta ?? 0,
    batch,
    strideA: nonNegativeInt("strideA", p.strideA ?? m * k),
    strideB: nonNegativeInt("strideB", p.strideB ?? k * n),
    strideC: nonNegativeInt("strideC", p.strideC ?? m * n),
    offsetA: nonNegativeInt("offsetA", p.offsetA ?? 0),
    offsetB: nonNegativeInt("offsetB", p.offsetB ?? 0),
    offsetC: nonNegativeInt("offsetC", p.offsetC ?? 0),
  };
  const need = (name: string, arr: Float32Array, off: number, stride: number, size: number) => {
    const end = off + span(batch, stride, size);
    if (end > arr.length) {
      throw new RangeError(`sgemm: ${name} needs ${end} elements, has ${arr.length}`);
    }
  };
  need("a", r.a, r.offsetA, r.strideA, m * k);
  need("b", r.b, r.offsetB, r.strideB, k * n);
  need("c", r.c, r.offsetC, r.strideC, m * n);
  if (batch > 1 && r.strideC < m * n && m * n > 0) {
    throw new RangeError(`sgemm: strideC ${r.strideC} < m*n ${m * n} makes outputs overlap`);
  }
  return r;
}
