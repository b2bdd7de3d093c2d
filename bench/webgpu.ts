/**
 * WebGPU matmul benchmark. On the adapter at hand it prints:
 * - square products (1024 to 8192; 256 to 2048 on a software adapter) and every product of one
 *   training micro-batch of the GPU recipe (src/train/default_recipe.ts GPU_RECIPE at vocab 8192;
 *   on a software adapter 1 row of 256 tokens instead of 16 x 2048), each with the variant the
 *   backend picks, its device time from GPU timestamps, GFLOP/s and percent of the adapter's
 *   published f32 peak (src/platform/peak.ts; "peak unknown" when not in the table);
 * - beside it jax-js on its own WebGPU backend in the same run, both timed alike on the wall
 *   clock (products enqueued, one wait), and their ratio;
 * - every matmul variant (MATMUL_VARIANTS, forced one at a time) on each product: the table an
 *   autotuner chooses from. `AUTORESEARCH_BENCH_QUICK=1` skips it.
 * How to read the columns: docs/webgpu.md, "The bench".
 */
import {
  createWebGpuBackend,
  hasTimestamps,
  type WebGpuBackend,
} from "../src/engine/webgpu/mod.ts";
import { loadJax } from "./webgpu/jax.ts";
import { type MatmulBenchOptions, type MatmulRow, measureMatmul } from "./webgpu/matmul.ts";
import {
  microBatchMatmulTime,
  PRODUCT_HEADERS,
  productRows,
  variantHeaders,
  variantRows,
} from "./webgpu/matmul_tables.ts";
import {
  type BenchMatmul,
  benchStepDims,
  squareMatmuls,
  squareSizes,
  trainingMatmuls,
} from "./webgpu/shapes.ts";
import { adapterPeaks, describePeaks, printTable } from "./webgpu/table.ts";

/** Variant sweeps on a software adapter stop at this many FLOP per product (seconds each). */
const SOFTWARE_SWEEP_FLOPS = 2 * 1024 ** 3;

async function measureAll(
  backend: WebGpuBackend,
  items: readonly BenchMatmul[],
  options: MatmulBenchOptions,
): Promise<MatmulRow[]> {
  const rows: MatmulRow[] = [];
  for (const item of items) {
    const { m, n, k, batch } = item.shape;
    const sweep = options.sweep &&
      (!options.software || 2 * m * n * k * batch <= SOFTWARE_SWEEP_FLOPS);
    rows.push(await measureMatmul(backend, item, { ...options, sweep }));
  }
  return rows;
}

function printProducts(title: string, rows: readonly MatmulRow[], peak: number | null): void {
  console.log(title);
  printTable(PRODUCT_HEADERS, productRows(rows, peak));
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
    const quick = Deno.env.get("AUTORESEARCH_BENCH_QUICK") === "1";
    const options = { software, sweep: !quick, jax };

    const squares = await measureAll(backend, squareMatmuls(squareSizes(software)), options);
    printProducts(
      `square products${software ? " (software adapter: 256-2048 instead of 1024-8192)" : ""}:`,
      squares,
      peaks.fp32,
    );

    const dims = benchStepDims(software);
    const step = await measureAll(backend, trainingMatmuls(dims), options);
    printProducts(
      `one training micro-batch's products (GPU recipe d${dims.depth} w${dims.width} ` +
        `h${dims.headDim}, vocab ${dims.vocabSize}, ${dims.rows} x ${dims.seqLen} tokens` +
        `${software ? "; software adapter: 1 x 256 instead of 16 x 2048" : ""}):`,
      step,
      peaks.fp32,
    );
    const total = microBatchMatmulTime(step);
    console.log(
      `  matmul device time per micro-batch at these speeds: ${total.ms.toFixed(1)} ms ` +
        `(${total.gflops.toFixed(1)} GFLOP/s over all products; attention's own kernel excluded)`,
    );

    const swept = [...squares, ...step];
    if (swept.some((row) => row.variants.length > 0)) {
      console.log(
        "every matmul variant, device GFLOP/s (* = the backend's pick, - = unsupported):",
      );
      printTable(variantHeaders(swept), variantRows(swept));
    }
  } finally {
    backend.destroy();
  }
}

if (import.meta.main) await run();
