/**
 * CPU matmul benchmark: GFLOP/s of each sgemm implementation (WebAssembly SIMD on workers, the
 * system OpenBLAS through FFI, plain TypeScript) at 256..2048, beside NumPy (python3 subprocess)
 * and jax-js (its WebAssembly backend) measured in the same run, as ratios. Figures are the best
 * of a few repetitions within a short time budget; the machine may be shared, so compare only the
 * columns of one run.
 */
import { createGemm, type Gemm } from "../src/engine/cpu/gemm/mod.ts";

const SIZES = [256, 512, 1024, 2048];
/** The plain loops are ~1-2 GFLOP/s: larger sizes would take seconds each. */
const JS_MAX_SIZE = 512;
const BUDGET_MS = 400;

/** Best wall time in ms of `fn` over repetitions within `budgetMs` (at least 2, after warm-up). */
async function best(fn: () => unknown, budgetMs = BUDGET_MS): Promise<number> {
  await fn();
  let min = Infinity;
  const end = performance.now() + budgetMs;
  for (let reps = 0; reps < 2 || (performance.now() < end && reps < 50); reps++) {
    const t0 = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

const gflops = (size: number, ms: number) => (2 * size ** 3) / (ms * 1e6);

function operands(size: number): Record<"a" | "b" | "c", Float32Array<ArrayBuffer>> {
  const a = new Float32Array(size * size), b = new Float32Array(size * size);
  for (let i = 0; i < a.length; i++) {
    a[i] = Math.random() - 0.5;
    b[i] = Math.random() - 0.5;
  }
  return { a, b, c: new Float32Array(size * size) };
}

/** GFLOP/s per size of one of our implementations (NaN where skipped). */
async function ours(gemm: Gemm, maxSize = Infinity): Promise<number[]> {
  const out: number[] = [];
  for (const size of SIZES) {
    if (size > maxSize) {
      out.push(NaN);
      continue;
    }
    const { a, b, c } = operands(size);
    out.push(gflops(size, await best(() => gemm.sgemm({ a, b, c, m: size, n: size, k: size }))));
  }
  return out;
}

/** NumPy's float32 matmul in a python3 subprocess; null (with the reason) when unavailable. */
async function numpy(): Promise<number[] | string> {
  const script = `
import json, time, numpy as np
out = []
for s in ${JSON.stringify(SIZES)}:
    a = np.random.rand(s, s).astype(np.float32) - 0.5
    b = np.random.rand(s, s).astype(np.float32) - 0.5
    a @ b
    best, end, reps = float("inf"), time.perf_counter() + ${BUDGET_MS / 1000}, 0
    while reps < 2 or (time.perf_counter() < end and reps < 50):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t); reps += 1
    out.append(2 * s**3 / best / 1e9)
print(json.dumps(out))
`;
  try {
    const res = await new Deno.Command("python3", { args: ["-c", script], stderr: "piped" })
      .output();
    if (!res.success) return `python3 failed: ${new TextDecoder().decode(res.stderr).trim()}`;
    return JSON.parse(new TextDecoder().decode(res.stdout));
  } catch (err) {
    return `python3 unavailable: ${(err as Error).message}`;
  }
}

/** jax-js (npm @jax-js/jax) on its "wasm" device; a string with the reason when it cannot run. */
async function jaxJs(): Promise<number[] | string> {
  try {
    const jax = await import("@jax-js/jax");
    const devices = await jax.init("wasm");
    if (!devices.includes("wasm")) return "jax-js: wasm device unavailable";
    jax.defaultDevice("wasm");
    const np = jax.numpy;
    const out: number[] = [];
    for (const size of SIZES) {
      const { a: av, b: bv } = operands(size);
      const a = np.array(av).reshape([size, size]);
      const b = np.array(bv).reshape([size, size]);
      const ms = await best(async () => {
        const c = np.matmul(a.ref, b.ref); // .ref: jax-js arrays are consumed by ops
        await jax.blockUntilReady(c);
        c.dispose();
      });
      a.dispose();
      b.dispose();
      out.push(gflops(size, ms));
    }
    return out;
  } catch (err) {
    return `jax-js failed: ${(err as Error).message}`;
  }
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const ratio = (x: number, y: number) => (Number.isFinite(x) && y > 0 ? (x / y).toFixed(2) : "-");

/** Prints the GFLOP/s table and the ratios to NumPy and jax-js. */
export async function run(): Promise<void> {
  const threads = navigator.hardwareConcurrency;
  const columns: { name: string; figures: number[] }[] = [];
  for (
    const [name, prefer, t, maxSize] of [
      [`wasm x${threads}`, "wasm", threads, Infinity],
      ["wasm x1", "wasm", 1, Infinity],
      [`blas x${threads}`, "blas", threads, Infinity],
      ["js", "js", 1, JS_MAX_SIZE],
    ] as const
  ) {
    let gemm: Gemm;
    try {
      gemm = await createGemm({ prefer, threads: t });
    } catch (err) {
      console.log(`${name}: not available (${(err as Error).message})`);
      continue;
    }
    try {
      columns.push({ name: `${name} (${gemm.kind})`, figures: await ours(gemm, maxSize) });
    } finally {
      gemm.close();
    }
  }
  const np = await numpy();
  const jx = await jaxJs();
  if (typeof np === "string") console.log(np);
  if (typeof jx === "string") console.log(jx);
  const wasm = columns[0]?.figures ?? [];
  console.log(`sgemm GFLOP/s, square n x n, best of repeats (${threads} hardware threads)`);
  const header = ["n", ...columns.map((c) => c.name), "numpy", "jax-js wasm", "wasm/numpy"];
  header.push("wasm/jax-js");
  console.log(header.join(" | "));
  SIZES.forEach((size, i) => {
    const npv = typeof np === "string" ? NaN : np[i];
    const jxv = typeof jx === "string" ? NaN : jx[i];
    const row = [String(size), ...columns.map((c) => fmt(c.figures[i])), fmt(npv), fmt(jxv)];
    row.push(ratio(wasm[i], npv), ratio(wasm[i], jxv));
    console.log(row.join(" | "));
  });
}

if (import.meta.main) await run();
