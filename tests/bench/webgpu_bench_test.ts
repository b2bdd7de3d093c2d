/**
 * The WebGPU bench's table builders on a tiny run: the training-step products follow from the
 * model (their FLOPs add up to the recipe's 6N estimate), percent-of-peak cells never invent a
 * peak, and on the adapter at hand the matmul, op and step tables get one well-formed row per
 * product, op and kernel. No timed assertions: the figures only have to be positive.
 */
import assert from "node:assert/strict";
import { MATMUL_VARIANTS } from "../../src/engine/webgpu/mod.ts";
import { modelFlopsPerToken } from "../../src/train/default_recipe.ts";
import { CPU_RECIPE } from "../train/reference_recipe.ts";
import { gpuTest } from "../engine/webgpu_helpers.ts";
import { shapeKey, tuneMatmul } from "../../src/engine/webgpu/tune.ts";
import { type MatmulRow, measureMatmul } from "../../bench/webgpu/matmul.ts";
import {
  candidateRows,
  microBatchMatmulTime,
  PRODUCT_HEADERS,
  productRows,
  TUNER_HEADERS,
  tunerRows,
} from "../../bench/webgpu/matmul_tables.ts";
import { measureOps, OP_HEADERS, opCases, opRows } from "../../bench/webgpu/op_bounds.ts";
import { matmulFlops, squareMatmuls, trainingMatmuls } from "../../bench/webgpu/shapes.ts";
import { KERNEL_HEADERS, kernelRows, measureStep, stepSummary } from "../../bench/webgpu/step.ts";
import { adapterPeaks, formatTable, percentOfPeak } from "../../bench/webgpu/table.ts";

const TINY = { depth: 1, width: 32, headDim: 16, seqLen: 16, vocabSize: 64, rows: 2 };

Deno.test("training products: FLOPs of a micro-batch match the recipe's 6N estimate", () => {
  const dims = { depth: 8, width: 512, headDim: 128, seqLen: 2048, vocabSize: 8192, rows: 16 };
  const products = trainingMatmuls(dims);
  assert.equal(products.length, 14);
  const tokens = dims.rows * dims.seqLen;
  const counted = products.reduce((sum, p) => sum + p.perMicroBatch * matmulFlops(p.shape), 0);
  // modelFlopsPerToken = 6 x matmul weights + attention scores; the products are the first part.
  const cfg = { ...CPU_RECIPE.model, ...dims, windowPattern: "L" };
  const attention = dims.depth * 12 * dims.width * dims.seqLen;
  assert.equal(counted, tokens * (modelFlopsPerToken(cfg) - attention));
  const head = products.find((p) => p.label === "lm head dW = dY^T x")!;
  assert.deepEqual(head.shape, {
    m: 8192,
    n: 512,
    k: tokens,
    batch: 1,
    transA: true,
    transB: false,
  });
  const scores = products.find((p) => p.label.startsWith("attn Q K^T"))!;
  assert.equal(scores.shape.batch, 16 * 4);
  assert.equal(scores.perMicroBatch, 0, "attention's kernel does these, not matmul");
});

Deno.test("peaks: a software or unknown adapter says 'peak unknown', a known GPU its figure", () => {
  assert.equal(adapterPeaks("llvmpipe (LLVM 15.0.6, 256 bits)", true).fp32, null);
  assert.equal(adapterPeaks("NVIDIA H100 80GB HBM3", true).fp32, null);
  assert.equal(adapterPeaks("Some Future GPU", false).fp32, null);
  const h100 = adapterPeaks("NVIDIA H100 80GB HBM3", false);
  assert.equal(h100.known, "NVIDIA H100 SXM");
  assert.equal(percentOfPeak(33.5e12, h100.fp32), "50.0%");
  assert.equal(percentOfPeak(33.5e12, null), "peak unknown");
});

Deno.test("formatTable: aligned columns, one line per row plus the header", () => {
  const lines = formatTable(["name", "value"], [["a", "1.0"], ["longer", "12.5"]]);
  assert.deepEqual(lines, ["name    value", "a         1.0", "longer   12.5"]);
});

gpuTest("matmul tables: untuned and tuned per product, the tuner's ranking", async (be) => {
  const items = [...squareMatmuls([64]), ...trainingMatmuls(TINY).slice(0, 3)];
  const measure = async () => {
    const rows = [];
    for (const item of items) {
      rows.push(await measureMatmul(be, item, { software: true, jax: null }));
    }
    return rows;
  };
  const untuned = await measure();
  const variants = MATMUL_VARIANTS.slice(0, 3);
  const tuning = await tuneMatmul(be, items.map((item) => item.shape), {
    cachePath: null,
    variants,
    log: () => {},
  });
  const tuned = await measure();
  for (const row of tuned) {
    assert.equal(row.variant, be.matmulVariantFor(row.item.shape).id);
    assert.ok(row.gflops > 0 && row.timing.ms > 0);
    assert.equal(row.jaxGflops, null);
  }
  const table = productRows(untuned, tuned, null);
  assert.equal(table.length, items.length);
  for (const [i, cells] of table.entries()) {
    assert.equal(cells.length, PRODUCT_HEADERS.length);
    assert.equal(cells[3], untuned[i].variant);
    assert.equal(cells[8], "peak unknown");
  }
  assert.equal(table[0][2], "-", "a square product is not part of the step");
  const entryOf = (row: MatmulRow) => tuning.entries[shapeKey(row.item.shape)];
  const ranking = tunerRows(tuned, entryOf);
  assert.equal(ranking.length, items.length);
  for (const [i, cells] of ranking.entries()) {
    assert.equal(cells.length, TUNER_HEADERS.length);
    assert.equal(cells[2], entryOf(tuned[i])!.variant, "the fastest is the tuner's choice");
    assert.equal(Number(cells[1]) + Number(cells[9]), entryOf(tuned[i])!.candidates.length);
  }
  assert.equal(
    candidateRows(tuned, entryOf).length,
    ranking.reduce((n, c) => n + Number(c[1]) + Number(c[9]), 0),
  );
  assert.ok(microBatchMatmulTime(tuned).ms > 0);
});

gpuTest("op table: every op timed, bound = bytes / bandwidth", async (be) => {
  const { cases, free } = opCases(be, TINY);
  try {
    const rows = await measureOps(be, cases, true);
    assert.equal(rows.length, cases.length);
    const table = opRows(rows, 1e9, null, null);
    for (const [i, cells] of table.entries()) {
      assert.equal(cells.length, OP_HEADERS.length);
      assert.equal(Number(cells[4]), Number((1000 * rows[i].op.bytes / 1e9).toFixed(3)));
      assert.equal(cells[6], "-", "no published bandwidth given");
    }
    const attention = table.find((cells) => cells[0].startsWith("attention fwd"))!;
    assert.equal(attention[8], "peak unknown");
  } finally {
    free();
  }
});

gpuTest("step table: counted dispatches match the profiled kernels", async (be) => {
  const recipe = {
    ...CPU_RECIPE,
    model: { ...CPU_RECIPE.model, depth: 1, width: 32, headDim: 16, seqLen: 16 },
    totalBatchTokens: 64,
    deviceBatchRows: 2,
  };
  const figures = await measureStep(be, recipe, 64);
  assert.equal(figures.microSteps, 2);
  assert.ok(figures.micro.dispatches > 0 && figures.update.dispatches > 0);
  assert.ok(figures.micro.submits >= 1);
  const summary = stepSummary(figures, null);
  assert.match(summary[1], /MFU: peak unknown/);
  const perStep = 2 * figures.micro.dispatches + figures.update.dispatches;
  assert.match(summary[2], new RegExp(`dispatches per step ${perStep} `));
  if (figures.kernels.length > 0) {
    const profiled = figures.kernels.reduce((sum, k) => sum + k.dispatches, 0);
    assert.equal(profiled, perStep);
    const table = kernelRows(figures.kernels, 3);
    assert.equal(table.length, Math.min(4, figures.kernels.length));
    for (const cells of table) assert.equal(cells.length, KERNEL_HEADERS.length);
  }
});
