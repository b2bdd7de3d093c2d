/**
 * Checks every sgemm implementation that loads here against a float64 reference: all transpose
 * combinations, alpha/beta, batches with strides, offsets and broadcast, and odd sizes.
 */
import assert from "node:assert/strict";
import { createGemm, type Gemm, type SgemmParams } from "../../src/engine/cpu/gemm/mod.ts";
import { createWasmGemm } from "../../src/engine/cpu/gemm/wasm.ts";

/** Deterministic pseudo-random floats in [-1, 1) (xorshift32) so failures are reproducible. */
export function randomArray(len: number, seed: number): Float32Array {
  const out = new Float32Array(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Float64 reference of the same contract, written independently of the implementations. */
export function referenceSgemm(p: SgemmParams): Float64Array {
  const { m, n, k } = p;
  const batch = p.batch ?? 1;
  const alpha = p.alpha ?? 1, beta = p.beta ?? 0;
  const sA = p.strideA ?? m * k, sB = p.strideB ?? k * n, sC = p.strideC ?? m * n;
  const out = Float64Array.from(p.c);
  for (let t = 0; t < batch; t++) {
    const oa = (p.offsetA ?? 0) + t * sA;
    const ob = (p.offsetB ?? 0) + t * sB;
    const oc = (p.offsetC ?? 0) + t * sC;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = p.transA ? p.a[oa + q * m + i] : p.a[oa + i * k + q];
          const bv = p.transB ? p.b[ob + j * k + q] : p.b[ob + q * n + j];
          s += av * bv;
        }
        const old = beta === 0 ? 0 : beta * p.c[oc + i * n + j];
        out[oc + i * n + j] = alpha * s + old;
      }
    }
  }
  return out;
}

/** Asserts |got - want| <= tol * (sqrt(k) + |want|) elementwise (float32 accumulation error). */
export function assertClose(got: Float32Array, want: Float64Array, k: number, what: string): void {
  assert.equal(got.length, want.length);
  const tol = 1e-5 * Math.sqrt(Math.max(k, 1)) * 4;
  for (let i = 0; i < got.length; i++) {
    if (Object.is(got[i], want[i])) continue; // also untouched NaN padding
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * (1 + Math.abs(want[i])))) {
      assert.fail(`${what}: element ${i}: got ${got[i]}, want ${want[i]} (err ${err})`);
    }
  }
}

/** Runs one case through `gemm` and the reference. */
export function checkCase(gemm: Gemm, p: SgemmParams, what: string): void {
  const want = referenceSgemm(p);
  gemm.sgemm(p);
  assertClose(p.c, want, p.k, `${gemm.kind} ${what}`);
}

/** Operands sized for a (possibly batched, offset, strided) case. */
export function makeCase(
  m: number,
  n: number,
  k: number,
  extra: Partial<SgemmParams> = {},
  seed = 1,
): SgemmParams {
  const batch = extra.batch ?? 1;
  const sA = extra.strideA ?? m * k, sB = extra.strideB ?? k * n, sC = extra.strideC ?? m * n;
  const len = (off: number, stride: number, size: number) => off + (batch - 1) * stride + size + 3; // +3: trailing elements that must stay untouched
  return {
    m,
    n,
    k,
    ...extra,
    a: randomArray(len(extra.offsetA ?? 0, sA, m * k), seed),
    b: randomArray(len(extra.offsetB ?? 0, sB, k * n), seed + 7),
    c: randomArray(len(extra.offsetC ?? 0, sC, m * n), seed + 13),
  };
}

/** Whether an implementation loads here; BLAS is optional (needs libopenblas and --allow-ffi). */
async function loads(prefer: "blas"): Promise<boolean> {
  try {
    (await createGemm({ prefer })).close();
    return true;
  } catch (err) {
    console.warn(`gemm ${prefer} skipped: ${(err as Error).message}`);
    return false;
  }
}

/**
 * Implementations under test: what createGemm picks, plus WebAssembly with every size forced
 * through the kernels and the threads (the default thresholds send tiny calls to plain loops),
 * and WebAssembly where the calling thread only waits, so the workers alone compute every call.
 */
const IMPLEMENTATIONS = ["js", "wasm", "wasm-forced", "wasm-workers-only", "blas"] as const;

/** Creates the implementation named in IMPLEMENTATIONS. */
function open(which: typeof IMPLEMENTATIONS[number]): Promise<Gemm> {
  const forced = { jsMaxFlops: 0, singleThreadMaxFlops: 0 };
  if (which === "wasm-forced") return createWasmGemm(2, forced);
  if (which === "wasm-workers-only") return createWasmGemm(3, { ...forced, callerWorks: false });
  return createGemm({ prefer: which });
}

for (const prefer of IMPLEMENTATIONS) {
  // Only BLAS is optional; "js" and "wasm" must load everywhere Deno runs, so they never skip.
  const ignore = prefer === "blas" && !(await loads("blas"));
  Deno.test({ name: `gemm ${prefer}: all transpose combinations, odd sizes`, ignore }, async () => {
    const gemm = await open(prefer);
    try {
      const sizes: [number, number, number][] = [
        [1, 1, 1],
        [3, 1, 5],
        [1, 17, 3],
        [17, 3, 65],
        [65, 17, 33],
        [33, 65, 17],
        [257, 3, 17],
        [66, 129, 300], // several k blocks, ragged tiles, split across workers
        [257, 257, 65],
      ];
      for (const [m, n, k] of sizes) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            checkCase(
              gemm,
              makeCase(m, n, k, { transA, transB }),
              `${m}x${n}x${k} tA=${transA} tB=${transB}`,
            );
          }
        }
      }
    } finally {
      gemm.close();
    }
  });

  Deno.test({ name: `gemm ${prefer}: alpha, beta, batch, strides, offsets`, ignore }, async () => {
    const gemm = await open(prefer);
    try {
      checkCase(gemm, makeCase(7, 9, 11, { alpha: 0.5, beta: 2 }), "alpha/beta");
      checkCase(gemm, makeCase(7, 9, 11, { beta: 1, transB: true }), "beta=1");
      const nan = makeCase(5, 6, 7);
      nan.c.fill(NaN, 0, 30);
      checkCase(gemm, nan, "beta=0 ignores NaN in C");
      checkCase(
        gemm,
        makeCase(5, 6, 7, { batch: 3, offsetA: 2, offsetB: 5, offsetC: 1 }),
        "batch+offsets",
      );
      checkCase(
        gemm,
        makeCase(5, 6, 7, { batch: 4, strideA: 40, strideB: 0, strideC: 31, transA: true }),
        "strides+broadcast B",
      );
      checkCase(gemm, makeCase(4, 4, 0, { beta: 0.5 }), "k=0 only scales C");
      // Big enough for the threaded path: batched, broadcast A, beta, transposes, odd sizes.
      checkCase(
        gemm,
        makeCase(65, 130, 257, { batch: 3, strideA: 0, beta: -1, alpha: 2, transB: true }),
        "threaded batch broadcast A",
      );
      checkCase(
        gemm,
        makeCase(127, 33, 513, { batch: 5, transA: true, offsetC: 3, strideC: 127 * 33 + 5 }),
        "threaded batch transA",
      );
    } finally {
      gemm.close();
    }
  });
}

Deno.test("gemm: out-of-bounds operands are rejected before anything is written", async () => {
  const gemm = await createGemm({ prefer: "js" });
  const c = new Float32Array(4).fill(9);
  assert.throws(
    () => gemm.sgemm({ a: new Float32Array(4), b: new Float32Array(3), c, m: 2, n: 2, k: 2 }),
    RangeError,
  );
  assert.deepEqual(Array.from(c), [9, 9, 9, 9]);
  assert.throws(() => gemm.sgemm({ a: c, b: c, c, m: 1.5, n: 1, k: 1 }), RangeError);
  gemm.close();
});

Deno.test("gemm wasm: thread counts 1 and 3 agree with the reference", async () => {
  for (const threads of [1, 3]) {
    const gemm = await createGemm({ prefer: "wasm", threads });
    try {
      assert.equal(gemm.threads, threads);
      checkCase(
        gemm,
        makeCase(190, 200, 150, { transA: true, transB: true }),
        `threads=${threads}`,
      );
      // Repeated calls reuse the workers (generation counter) and grow memory for a bigger call.
      checkCase(gemm, makeCase(300, 17, 400, { beta: 1 }), `threads=${threads} again`);
    } finally {
      gemm.close();
    }
  }
});

Deno.test("gemm wasm: a small memory cap splits batches into chunks and falls back for huge items", async () => {
  // 2 threads of scratch (~2.3 MB) + ~0.3 MB for operands: ~5 items of the batch below per chunk.
  const gemm = await createWasmGemm(2, { maxPages: 40, jsMaxFlops: 0 });
  try {
    checkCase(gemm, makeCase(60, 70, 80, { batch: 11, beta: 0.5 }), "chunked batch");
    checkCase(gemm, makeCase(60, 70, 80, { batch: 9, strideB: 0, transA: true }), "chunked bcast");
    checkCase(gemm, makeCase(200, 190, 210, { transB: true }), "single item over the cap");
  } finally {
    gemm.close();
  }
});

Deno.test("gemm wasm: hundreds of back-to-back threaded calls of changing shapes stay exact", async () => {
  // Every call goes through the workers: exercises job hand-over (late workers, counters).
  const gemm = await createWasmGemm(3, { jsMaxFlops: 0, singleThreadMaxFlops: 0 });
  try {
    for (let i = 0; i < 300; i++) {
      const m = 1 + (i * 7) % 41, n = 1 + (i * 13) % 37, k = 1 + (i * 5) % 29;
      checkCase(
        gemm,
        makeCase(m, n, k, { batch: 1 + (i % 3), transA: i % 2 === 0 }, i),
        `call ${i}`,
      );
    }
  } finally {
    gemm.close();
  }
});

Deno.test("gemm: operands that are views into larger buffers (nonzero byteOffset)", async () => {
  for (const which of IMPLEMENTATIONS) {
    if (which === "blas" && !(await loads("blas"))) continue;
    const gemm = await open(which);
    try {
      const big = randomArray(4000, 99);
      const c = new Float32Array(900).subarray(17, 17 + 21 * 19);
      const p = {
        a: big.subarray(5, 5 + 21 * 23),
        b: big.subarray(1001, 1001 + 23 * 19),
        c,
        m: 21,
        n: 19,
        k: 23,
      };
      checkCase(gemm, p, "views");
    } finally {
      gemm.close();
    }
  }
});
