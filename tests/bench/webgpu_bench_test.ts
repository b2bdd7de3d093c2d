/**
 * The WebGPU bench's table builders on a tiny run: the training-step products follow from the
 * model (their FLOPs add up to the recipe's 6N estimate), percent-of-peak cells never invent a
 * peak, and on the adapter at hand the matmul, op and step tables get one well-formed row per
 * product, op and kernel. No timed assertions: the figures only have to be positive.
 */
import { attentionFlops, benchAttentionShapes } from "../../bench/webgpu/attention.ts";
import assert from "node:assert/strict";
import { hasTimestamps, MATMUL_VARIANTS, matmulVariant } from "../../src/engine/webgpu/mod.ts";
import { GPT, GPU_RECIPE, modelFlopsPerToken } from "../../src/train/default_recipe.ts";
import { ModelRunner } from "../../src/train/model.ts";
import { CPU_RECIPE } from "../train/reference_recipe.ts";
import { gpuTest } from "../engine/webgpu_helpers.ts";
import { f16Choice, shapeKey, tuneMatmul } from "../../src/engine/webgpu/tune.ts";
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
import {
  benchStepDims,
  matmulFlops,
  squareMatmuls,
  trainingMatmuls,
} from "../../bench/webgpu/shapes.ts";
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

gpuTest("training products: the ones a real micro-batch of the GPT runs, as often", async (be) => {
  // Width 64 in 4 heads of 16: the value-embedding gate's products (the only ones with a
  // dimension of 4) are the ones the bench leaves out.
  const dims = { depth: 2, width: 64, headDim: 16, seqLen: 16, vocabSize: 96, rows: 2 };
  const heads = dims.width / dims.headDim;
  const model = new ModelRunner(
    new GPT(be, { ...GPU_RECIPE.model, ...dims, windowPattern: "SL" }, 1),
  );
  const seen = new Map<string, number>();
  try {
    const n = dims.rows * dims.seqLen;
    const ids = Int32Array.from({ length: n }, (_, i) => (i * 7) % dims.vocabSize);
    be.onMatmulShape = (shape) => {
      if ([shape.m, shape.n, shape.k].includes(heads)) return;
      seen.set(shapeKey(shape), (seen.get(shapeKey(shape)) ?? 0) + 1);
    };
    model.forward(ids, ids, dims.rows);
    model.backward(1);
    await be.sync();
  } finally {
    be.onMatmulShape = null;
    model.dispose();
  }
  const expected = new Map<string, number>();
  for (const p of trainingMatmuls(dims)) {
    const key = shapeKey(p.shape);
    if (p.perMicroBatch > 0) expected.set(key, (expected.get(key) ?? 0) + p.perMicroBatch);
  }
  assert.deepEqual(new Map([...seen].sort()), new Map([...expected].sort()));
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
  // The f16 variant on the first product, where the device offers shader-f16.
  const f16: (MatmulRow | null)[] = tuned.map(() => null);
  if (be.matmulCaps.shaderF16) {
    const saved = be.matmulChoice;
    be.matmulChoice = f16Choice(be);
    f16[0] = await measureMatmul(be, items[0], { software: true, jax: null });
    be.matmulChoice = saved;
    assert.equal(matmulVariant(f16[0].variant)?.precision, "f16");
  }
  const table = productRows(untuned, tuned, f16, null);
  assert.equal(table.length, items.length);
  for (const [i, cells] of table.entries()) {
    assert.equal(cells.length, PRODUCT_HEADERS.length);
    assert.equal(cells[3], untuned[i].variant);
    assert.equal(cells[8], "peak unknown");
    assert.equal(cells[10] === "-", f16[i] === null);
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

gpuTest("step table: per-kernel counts add up to the step's dispatches", async (be) => {
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
  const counted = figures.kernels.reduce((sum, k) => sum + k.dispatches, 0);
  assert.equal(counted, perStep, "per-kernel counts add up to the step's dispatches");
  if (hasTimestamps(be)) assert.ok(figures.kernels.every((k) => k.ms !== null && k.ms >= 0));
  assert.ok(figures.kernels.length > 3, "a step runs more than 3 kernels");
  const table = kernelRows(figures.kernels, 3);
  assert.equal(table.length, 4);
  for (const cells of table) assert.equal(cells.length, KERNEL_HEADERS.length);
  assert.equal(
    table.at(-1)![1],
    String(counted - figures.kernels.slice(0, 3).reduce((n, k) => n + k.dispatches, 0)),
  );
});

Deno.test("bench attention: one shape per window of the GPU recipe, FLOPs over visible pairs", () => {
  const dims = benchStepDims(false);
  const shapes = benchAttentionShapes(dims);
  const layers = shapes.reduce((n, s) => n + s.layers, 0);
  assert.equal(layers, dims.depth, "every layer counted once");
  for (const { shape } of shapes) {
    assert.equal(shape.batch, dims.rows);
    assert.equal(shape.heads * shape.headDim, dims.width);
    assert.equal(shape.seq, dims.seqLen);
  }
  assert.ok(shapes.some((s) => s.shape.window === dims.seqLen), "the last layer is full");
  // FLOPs against a direct count of the pairs j <= i, i - j <= window.
  const shape = { batch: 2, heads: 3, seq: 9, headDim: 4, window: 3 };
  let pairs = 0;
  for (let i = 0; i < shape.seq; i++) {
    for (let j = 0; j <= i; j++) if (i - j <= shape.window) pairs++;
  }
  assert.equal(attentionFlops(shape), 3.5 * 4 * shape.headDim * pairs * shape.batch * shape.heads);
});
