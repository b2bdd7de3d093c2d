/**
 * WebGPU matmul benchmark. On the adapter at hand it prints:
 * - square products (1024 to 8192; 256 to 2048 on a software adapter) and every product of one
 *   training micro-batch of the GPU recipe (src/train/default_recipe.ts GPU_RECIPE at vocab 8192;
 *   on a software adapter 1 row of 256 tokens instead of 16 x 2048), each with the variant the
 *   backend picks, its device time from GPU timestamps, GFLOP/s and percent of the adapter's
 *   published f32 peak (src/platform/peak.ts; "peak unknown" when not in the table);
 * - beside it jax-js on its own WebGPU backend in the same run, both timed alike on the wall
 *   clock (products enqueued, one wait), and their ratio;
 * - untuned against tuned: the autotuner (src/engine/webgpu/tune.ts) runs first, then each
 *   product is timed with the backend's default variant and with the tuned choice; the tuner's
 *   table (every variant timed per product, the fastest three shown; `AUTORESEARCH_BENCH_VARIANTS=1`
 *   lists them all) is printed last; and, where the device has `shader-f16`, each product with the
 *   f16 variant (f16 operands in workgroup memory, f32 sums; the precision `auto` may allow).
 * How to read the columns: docs/webgpu.md, "The bench".
 */
import { benchAttention } from "./webgpu/attention.ts";
import {
  createWebGpuBackend,
  hasTimestamps,
  type WebGpuBackend,
} from "../src/engine/webgpu/mod.ts";
import { f16Choice, shapeKey, tuneMatmul, type TuneResult } from "../src/engine/webgpu/tune.ts";
import { type JaxPeer, loadJax } from "./webgpu/jax.ts";
import { type MatmulRow, measureMatmul } from "./webgpu/matmul.ts";
import {
  candidateRows,
  microBatchMatmulTime,
  PRODUCT_HEADERS,
  productRows,
  TUNER_HEADERS,
  tunerRows,
} from "./webgpu/matmul_tables.ts";
import {
  type BenchMatmul,
  benchStepDims,
  matmulFlops,
  squareMatmuls,
  squareSizes,
  trainingMatmuls,
} from "./webgpu/shapes.ts";
import { adapterPeaks, describePeaks, printTable } from "./webgpu/table.ts";

/**
 * Seconds the tuner may start new shapes in: a software adapter gets 15 (CI time), a GPU 75 so
 * the whole bench fits a 200 s step of scripts/gpu_check.sh (the shape under way when time runs
 * out still finishes, then about a minute of measuring follows); `AUTORESEARCH_BENCH_TUNE_S`
 * overrides. Shapes left stay untuned (the tuner says how many).
 */
export function tuneSeconds(software: boolean): number {
  const override = Number(Deno.env.get("AUTORESEARCH_BENCH_TUNE_S") ?? "");
  if (override > 0) return override;
  return software ? 15 : 75;
}

/** A software adapter times the f16 variant only on products up to this many FLOPs. */
const SOFTWARE_F16_FLOPS = 2 ** 31;

/** The figures of every product, in the order given. */
interface ProductFigures {
  untuned: MatmulRow[];
  tuned: MatmulRow[];
  /** The f16 variant's, where the device has `shader-f16` and one supports the product. */
  f16: (MatmulRow | null)[];
}

/** `measure` with the backend's matmul choice set to `choose`, restored afterwards. */
async function withChoice<T>(
  backend: WebGpuBackend,
  choose: WebGpuBackend["matmulChoice"],
  measure: () => Promise<T>,
): Promise<T> {
  const saved = backend.matmulChoice;
  backend.matmulChoice = choose;
  try {
    return await measure();
  } finally {
    backend.matmulChoice = saved;
  }
}

/**
 * Each product untuned (the backend's default variant), tuned (the tuner's choice, with the
 * peer) and with the f16 variant (`f16Choice`: f16 operands in workgroup memory, f32 sums), back
 * to back so load drift hits all alike.
 */
async function measureProducts(
  backend: WebGpuBackend,
  items: readonly BenchMatmul[],
  software: boolean,
  jax: JaxPeer,
): Promise<ProductFigures> {
  const figures: ProductFigures = { untuned: [], tuned: [], f16: [] };
  const f16 = backend.matmulCaps.shaderF16 ? f16Choice(backend) : null;
  for (const item of items) {
    const options = { software, jax: null };
    try {
      const untuned = await withChoice(backend, null, () => measureMatmul(backend, item, options));
      const tuned = await measureMatmul(backend, item, { software, jax });
      const wanted = f16?.(item.shape) &&
        (!software || matmulFlops(item.shape) <= SOFTWARE_F16_FLOPS);
      const half = wanted
        ? await withChoice(backend, f16, () => measureMatmul(backend, item, options))
        : null;
      figures.untuned.push(untuned);
      figures.tuned.push(tuned);
      figures.f16.push(half);
    } catch (error) {
      // One failing product must not cost a scarce GPU run the rest of the tables.
      console.log(`  ${item.label}: failed (${error instanceof Error ? error.message : error})`);
    }
  }
  return figures;
}

/**
 * Run the autotuner over the products (it installs its choice on the backend). A real GPU uses
 * and extends the tuning cache, as the trainer does; a software adapter tunes without the cache,
 * for a limited time. `AUTORESEARCH_BENCH_RETUNE=1` measures cached shapes again.
 */
async function tune(
  backend: WebGpuBackend,
  items: readonly BenchMatmul[],
  software: boolean,
): Promise<TuneResult | null> {
  // The step's products matter most on a GPU; a software adapter does the cheap ones first.
  const ordered = software
    ? [...items].sort((a, b) => matmulFlops(a.shape) - matmulFlops(b.shape))
    : [...items].sort((a, b) => b.perMicroBatch - a.perMicroBatch);
  const seconds = tuneSeconds(software);
  let result: TuneResult;
  try {
    result = await tuneMatmul(backend, ordered.map((item) => item.shape), {
      cachePath: software ? null : undefined,
      maxSeconds: seconds,
      refresh: Deno.env.get("AUTORESEARCH_BENCH_RETUNE") === "1",
      log: (message) => console.log(`  tuner: ${message}`),
    });
  } catch (error) {
    // The tables still show the untuned figures; "tuned" then repeats them.
    console.log(`  tuner: failed (${error instanceof Error ? error.message : error})`);
    backend.matmulChoice = null;
    return null;
  }
  console.log(
    `  tuner: ${result.measured} products measured now, ${result.cached} from the cache` +
      `${software ? " (not used on a software adapter)" : ""}, ${result.skipped} left untuned ` +
      `(time limit ${seconds} s)`,
  );
  return result;
}

/** The product table, then why jax-js failed where it did. */
function printProducts(figures: ProductFigures, peak: number | null): void {
  printTable(PRODUCT_HEADERS, productRows(figures.untuned, figures.tuned, figures.f16, peak));
  const failures = new Map<string, string[]>();
  for (const row of figures.tuned) {
    if (row.jaxError) {
      failures.set(row.jaxError, [...failures.get(row.jaxError) ?? [], row.item.label]);
    }
  }
  for (const [error, labels] of failures) {
    console.log(`  jax-js failed on ${labels.join(", ")}: ${error}`);
  }
}

/** Print the matmul tables on this machine's adapter. */
export async function run(): Promise<void> {
  let backend: WebGpuBackend;
  try {
    backend = await createWebGpuBackend() as WebGpuBackend;
  } catch (error) {
    console.log(`webgpu: skipped (${error instanceof Error ? error.message : error})`);
    return;
  }
  try {
    const software = backend.info.isFallback;
    const peaks = adapterPeaks(backend.info.device, software);
    console.log(`webgpu matmul on ${backend.info.device}${software ? " (software adapter)" : ""}`);
    console.log(
      `  timing: ${
        hasTimestamps(backend)
          ? "GPU timestamps around the products (timestamp-query)"
          : "wall clock (no timestamp-query; rows marked (wall))"
      }; ${describePeaks(peaks)}`,
    );
    const jax = await loadJax();
    if ("error" in jax) console.log(`  jax-js webgpu: not measured: ${jax.error}`);
    const dims = benchStepDims(software);
    const squares = squareMatmuls(squareSizes(software));
    const step = trainingMatmuls(dims);

    const tuning = await tune(backend, [...squares, ...step], software);
    console.log(
      `square products${software ? " (software adapter: 256-2048 instead of 1024-8192)" : ""}:`,
    );
    const squareFigures = await measureProducts(backend, squares, software, jax);
    printProducts(squareFigures, peaks.fp32);
    console.log(
      `one training micro-batch's products (GPU recipe d${dims.depth} w${dims.width} ` +
        `h${dims.headDim}, vocab ${dims.vocabSize}, ${dims.rows} x ${dims.seqLen} tokens` +
        `${software ? "; software adapter: 1 x 256 instead of 16 x 2048" : ""}):`,
    );
    const stepFigures = await measureProducts(backend, step, software, jax);
    printProducts(stepFigures, peaks.fp32);
    const before = microBatchMatmulTime(stepFigures.untuned);
    const after = microBatchMatmulTime(stepFigures.tuned);
    console.log(
      `  matmul device time per micro-batch at these speeds: untuned ${before.ms.toFixed(1)} ms ` +
        `(${before.gflops.toFixed(1)} GFLOP/s), tuned ${after.ms.toFixed(1)} ms ` +
        `(${after.gflops.toFixed(1)} GFLOP/s); attention's own kernel not included`,
    );

    await benchAttention(backend, dims, software, peaks.fp32, tuneSeconds(software));

    const tuned = [...squareFigures.tuned, ...stepFigures.tuned];
    const entryOf = (row: MatmulRow) => tuning?.entries[shapeKey(row.item.shape)];
    console.log("the tuner's table: variants timed per product, the three fastest:");
    printTable(TUNER_HEADERS, tunerRows(tuned, entryOf));
    if (Deno.env.get("AUTORESEARCH_BENCH_VARIANTS") === "1") {
      console.log("every variant the tuner timed:");
      printTable(
        ["product", "variant", "GFLOP/s", "rejected because"],
        candidateRows(tuned, entryOf),
      );
    }
  } finally {
    backend.destroy();
  }
}

if (import.meta.main) await run();
