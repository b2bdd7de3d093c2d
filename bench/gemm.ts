/**
 * CPU matmul benchmark: GFLOP/s of each sgemm implementation (WebAssembly SIMD on workers, the
 * system OpenBLAS through FFI, plain TypeScript) at 256..2048, beside NumPy (python3 subprocess)
 * and jax-js (its WebAssembly backend) measured in the same run, as ratios. Figures are the best
 * of a few repetitions within a short time budget; the machine may be shared, so compare only the
 * columns of one run.
 */
import { createGemm, type Gemm, type SgemmParams } from "../src/engine/cpu/gemm/mod.ts";

const SIZES = [256, 512, 1024, 2048];
/** The plain loops are ~1-2 GFLOP/s: larger sizes would take seconds each. */
const JS_MAX_SIZE = 512;
const BUDGET_MS = 250;
/** Rounds over all sizes; each cell keeps its best round, which filters out transient load. */
const ROUNDS = 2;

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

/** Times one n x n x n sgemm of one of our implementations. */
async function ours(gemm: Gemm, size: number): Promise<number> {
  const { a, b, c } = operands(size);
  return gflops(size, await best(() => gemm.sgemm({ a, b, c, m: size, n: size, k: size })));
}

/**
 * NumPy's float32 matmul, timed by a python3 process that stays up for the whole run (so each
 * size is measured right beside ours, under the same machine load): one size per stdin line.
 */
class NumPy {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  constructor() {
    const script = `
import json, sys, time, numpy as np
for line in sys.stdin:
    s = int(line)
    a = np.random.rand(s, s).astype(np.float32) - 0.5
    b = np.random.rand(s, s).astype(np.float32) - 0.5
    a @ b
    best, end, reps = float("inf"), time.perf_counter() + ${BUDGET_MS / 1000}, 0
    while reps < 2 or (time.perf_counter() < end and reps < 50):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t); reps += 1
    print(json.dumps(2 * s**3 / best / 1e9), flush=True)
`;
    this.#child = new Deno.Command("python3", {
      args: ["-c", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, string>(
        {
          buffer: "",
          transform(chunk, ctl) {
            const parts = (this.buffer + chunk).split("\n");
            this.buffer = parts.pop() ?? "";
            for (const line of parts) ctl.enqueue(line);
          },
        } as Transformer<string, string> & { buffer: string },
      ),
    )[Symbol.asyncIterator]();
  }

  /** GFLOP/s at `size`, or the reason it failed. */
  async measure(size: number): Promise<number | string> {
    try {
      await this.#writer.write(new TextEncoder().encode(`${size}\n`));
      const next = await this.#lines.next();
      if (next.done) {
        const err = new TextDecoder().decode((await this.#child.output()).stderr).trim();
        return `python3/numpy failed: ${err.split("\n").pop()}`;
      }
      return Number(next.value);
    } catch (err) {
      return `python3/numpy unavailable: ${(err as Error).message}`;
    }
  }

  /** Ends the python process. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status.catch(() => {});
    await this.#child.stderr.cancel().catch(() => {});
  }
}

/** jax-js (npm @jax-js/jax) on its "wasm" device, in this process: GFLOP/s at `size`. */
async function jaxJsHere(size: number): Promise<number> {
  const jax = await import("@jax-js/jax");
  const devices = await jax.init("wasm");
  if (!devices.includes("wasm")) throw new Error("jax-js: wasm device unavailable");
  jax.defaultDevice("wasm");
  const np = jax.numpy;
  const { a: av, b: bv } = operands(size);
  const a = np.array(av).reshape([size, size]);
  const b = np.array(bv).reshape([size, size]);
  const ms = await best(async () => {
    const c = np.matmul(a.ref, b.ref); // .ref: jax-js ops consume their arguments
    await jax.blockUntilReady(c);
    c.dispose();
  });
  a.dispose();
  b.dispose();
  return gflops(size, ms);
}

/**
 * jax-js at `size`, measured in a child Deno process: once initialised in this process, jax-js
 * slowed every other contender measured after it (NumPy at 256 fell from ~200 to ~4 GFLOP/s).
 */
async function jaxJs(size: number): Promise<number | string> {
  try {
    const config = new URL("../deno.json", import.meta.url).pathname;
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        config,
        new URL(import.meta.url).pathname,
        "--jax",
        `${size}`,
      ],
      env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(res.stdout).trim().split("\n").pop() ?? "";
    if (!res.success || !out) {
      return `jax-js failed: ${new TextDecoder().decode(res.stderr).trim().split("\n").pop()}`;
    }
    return Number(out);
  } catch (err) {
    return `jax-js failed: ${(err as Error).message}`;
  }
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const ratio = (x: number, y: number) => (Number.isFinite(x) && y > 0 ? (x / y).toFixed(2) : "-");

/** Prints the GFLOP/s table and the ratios to NumPy and jax-js. */
export async function run(): Promise<void> {
  const threads = navigator.hardwareConcurrency;
  const impls: { name: string; gemm: Gemm; maxSize: number }[] = [];
  for (
    const [name, prefer, t, maxSize] of [
      [`wasm x${threads}`, "wasm", threads, Infinity],
      ["wasm x1", "wasm", 1, Infinity],
      [`blas x${threads}`, "blas", threads, Infinity],
      ["js", "js", 1, JS_MAX_SIZE],
    ] as const
  ) {
    try {
      const gemm = await createGemm({ prefer, threads: t });
      impls.push({ name: `${name} (${gemm.kind})`, gemm, maxSize });
    } catch (err) {
      console.log(`${name}: not available (${(err as Error).message})`);
    }
  }
  const numpy = new NumPy();
  let jaxError = "";
  const header = ["n", ...impls.map((i) => i.name), "numpy", "jax-js wasm"];
  header.push("wasm/numpy", "wasm/jax-js", "blas/numpy");
  let numpyError = "";
  // figures[size][contender]: ours..., numpy, jax-js; the best over the rounds.
  const figures = SIZES.map(() => new Array<number>(impls.length + 2).fill(NaN));
  const keep = (cell: number[], i: number, v: number) => {
    if (!(cell[i] >= v)) cell[i] = v;
  };
  for (let round = 0; round < ROUNDS; round++) {
    // Size by size, every contender back to back, so they share the machine's momentary load.
    for (const [s, size] of SIZES.entries()) {
      for (const [i, { gemm, maxSize }] of impls.entries()) {
        if (size <= maxSize) {
          keep(figures[s], i, await ours(gemm, size));
        }
      }
      const np = await numpy.measure(size);
      if (typeof np === "string") numpyError = np;
      else keep(figures[s], impls.length, np);
      const jx = await jaxJs(size);
      if (typeof jx === "string") jaxError = jx;
      else keep(figures[s], impls.length + 1, jx);
    }
  }
  const rows: string[][] = [];
  for (const [s, size] of SIZES.entries()) {
    const ourFigures = figures[s].slice(0, impls.length);
    const npv = figures[s][impls.length], jxv = figures[s][impls.length + 1];
    const wasm = ourFigures[0], blas = impls.findIndex((i) => i.gemm.kind.startsWith("blas"));
    rows.push([
      String(size),
      ...ourFigures.map(fmt),
      fmt(npv),
      fmt(jxv),
      ratio(wasm, npv),
      ratio(wasm, jxv),
      ratio(blas < 0 ? NaN : ourFigures[blas], npv),
    ]);
  }
  await numpy.close();
  const fast = impls.filter((i) => !i.gemm.kind.startsWith("js"));
  if (numpyError) console.log(numpyError);
  if (jaxError) console.log(jaxError);
  console.log(
    `sgemm GFLOP/s, n x n x n, best of ${ROUNDS} rounds of repeats, ${threads} hardware threads`,
  );
  console.log(header.join(" | "));
  for (const row of rows) console.log(row.join(" | "));
  await stepShapes(fast);
  for (const { gemm } of impls) gemm.close();
}

/** Shapes of a CPU training step (reference config, 4096 of its 16384 tokens): m, n, k, options. */
const STEP_SHAPES: [string, number, number, number, Partial<SgemmParams>][] = [
  ["x @ W (4096x256 @ 256x1024)", 4096, 1024, 256, {}],
  ["dY @ W^T (4096x1024 @ 1024x256)", 4096, 256, 1024, { transB: true }],
  ["x^T @ dY (256x4096 @ 4096x1024)", 256, 1024, 4096, { transA: true }],
  ["logits (4096x256 @ 256x4096)", 4096, 4096, 256, {}],
  ["Q K^T, 16 heads (256x64 @ 64x256)", 256, 256, 64, { transB: true, batch: 16 }],
  ["P V, 16 heads (256x256 @ 256x64)", 256, 64, 256, { batch: 16 }],
];

/** GFLOP/s of our implementations on the shapes a training step uses. */
async function stepShapes(impls: { name: string; gemm: Gemm }[]): Promise<void> {
  console.log(`\nsgemm GFLOP/s on training-step shapes`);
  console.log(["shape", ...impls.map((i) => i.name)].join(" | "));
  for (const [name, m, n, k, extra] of STEP_SHAPES) {
    const batch = extra.batch ?? 1;
    const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() - 0.5);
    const p = {
      a: rand(m * k * batch),
      b: rand(k * n * batch),
      c: new Float32Array(m * n * batch),
    };
    const row = [name];
    for (const { gemm } of impls) {
      const ms = await best(() => gemm.sgemm({ ...p, m, n, k, ...extra }));
      row.push(fmt((2 * m * n * k * batch) / (ms * 1e6)));
    }
    console.log(row.join(" | "));
  }
}

if (import.meta.main) {
  // `--jax N`: the child-process side of jaxJs (prints one figure).
  if (Deno.args[0] === "--jax") {
    console.log(await jaxJsHere(Number(Deno.args[1])));
    Deno.exit(0); // jax-js's worker threads would keep the process alive
  } else await run();
}
