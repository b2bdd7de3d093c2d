/**
 * The plain TypeScript sgemm: portable, single-threaded, the fallback where WebAssembly is
 * unavailable and the readable reference the faster implementations are tested against.
 *
 * @module
 */
import type { Gemm, ResolvedSgemm, SgemmParams } from "./types.ts";
import { resolveSgemm } from "./types.ts";

/** Scales `C` by beta in place; beta 0 writes zeros so NaN/garbage in C never leaks through. */
export function scaleC(c: Float32Array, off: number, len: number, beta: number): void {
  if (beta === 1) return;
  if (beta === 0) c.fill(0, off, off + len);
  else for (let i = off; i < off + len; i++) c[i] *= beta;
}

/** One product (one batch item) of a resolved call, all in plain loops. */
function gemmOne(r: ResolvedSgemm, oa: number, ob: number, oc: number, rowA: Float64Array): void {
  const { a, b, c, m, n, k, transA, transB, alpha } = r;
  scaleC(c, oc, m * n, r.beta);
  if (alpha === 0 || k === 0) return;
  for (let i = 0; i < m; i++) {
    // Gather row i of op(A) once, pre-scaled by alpha: rowA[p] = alpha * op(A)[i,p].
    for (let p = 0; p < k; p++) rowA[p] = alpha * (transA ? a[oa + p * m + i] : a[oa + i * k + p]);
    const ci = oc + i * n;
    if (transB) {
      // B stored [n,k]: C[i,j] += dot(rowA, B[j,:]) with contiguous B rows.
      for (let j = 0; j < n; j++) {
        const bj = ob + j * k;
        let s = 0;
        for (let p = 0; p < k; p++) s += rowA[p] * b[bj + p];
        c[ci + j] += s;
      }
    } else {
      // B stored [k,n]: C[i,:] += rowA[p] * B[p,:] streams contiguous rows of B and C.
      for (let p = 0; p < k; p++) {
        const s = rowA[p];
        if (s === 0) continue;
        const bp = ob + p * n;
        for (let j = 0; j < n; j++) c[ci + j] += s * b[bp + j];
      }
    }
  }
}

/** Runs a resolved sgemm with the plain loops (used by other implementations for tiny calls). */
export function sgemmJs(r: ResolvedSgemm): void {
  const rowA = new Float64Array(r.k);
  for (let t = 0; t < r.batch; t++) {
    gemmOne(
      r,
      r.offsetA + t * r.strideA,
      r.offsetB + t * r.strideB,
      r.offsetC + t * r.strideC,
      rowA,
    );
  }
}

/** Creates the single-threaded TypeScript implementation. */
export function createJsGemm(): Gemm {
  return {
    kind: "js",
    threads: 1,
    sgemm(p: SgemmParams): void {
      sgemmJs(resolveSgemm(p));
    },
    close(): void {},
  };
}
