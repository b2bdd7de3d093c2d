/**
 * The WebGPU matmul tables as rows of text cells, built from measured `MatmulRow`s: the product
 * table (device GFLOP/s of the backend's pick, percent of the f32 peak, ours beside jax-js timed
 * alike) and the variant table (every variant's GFLOP/s per shape, the pick marked).
 */
import type { MatmulRow } from "./matmul.ts";
import { describeShape, matmulFlops } from "./shapes.ts";
import { fixed, percentOfPeak } from "./table.ts";

/** Headers of `productRows`. */
export const PRODUCT_HEADERS: readonly string[] = [
  "product",
  "m x n x k",
  "per ubatch",
  "variant",
  "device ms",
  "GFLOP/s",
  "% f32 peak",
  "ours wall",
  "jax-js wall",
  "ours/jax-js",
];

/** One row per product. */
export function productRows(rows: readonly MatmulRow[], peak: number | null): string[][] {
  return rows.map((row) => {
    const ratio = row.wallGflops !== null && row.jaxGflops !== null
      ? row.wallGflops / row.jaxGflops
      : null;
    return [
      row.item.label + (row.timing.source === "wall" ? " (wall)" : ""),
      describeShape(row.item.shape),
      row.item.perMicroBatch > 0 ? String(row.item.perMicroBatch) : "-",
      row.variant,
      fixed(row.timing.ms, 3),
      fixed(row.gflops, 1),
      percentOfPeak(row.gflops * 1e9, peak),
      fixed(row.wallGflops, 1),
      fixed(row.jaxGflops, 1),
      fixed(ratio, 2),
    ];
  });
}

/** Headers of `variantRows` for the variants the rows were swept over. */
export function variantHeaders(rows: readonly MatmulRow[]): string[] {
  const ids = rows.find((row) => row.variants.length > 0)?.variants ?? [];
  return [
    "product",
    ...ids.map((v) => v.precision === "f32" ? v.id : `${v.id} (${v.precision})`),
    "best",
  ];
}

/** One row per swept product: GFLOP/s per variant ("-" unsupported, "*" the backend's pick). */
export function variantRows(rows: readonly MatmulRow[]): string[][] {
  return rows.filter((row) => row.variants.length > 0).map((row) => {
    const measured = row.variants.filter((v) => v.gflops !== null);
    const best = measured.reduce((a, b) => (b.gflops! > a.gflops! ? b : a), measured[0]);
    return [
      row.item.label,
      ...row.variants.map((v) => `${v.id === row.variant ? "*" : ""}${fixed(v.gflops, 1)}`),
      best ? best.id : "-",
    ];
  });
}

/**
 * Device time of one micro-batch's products at the measured speeds (rows with a per-micro-batch
 * count), and the GFLOP/s that makes.
 */
export function microBatchMatmulTime(rows: readonly MatmulRow[]): { ms: number; gflops: number } {
  let ms = 0;
  let flops = 0;
  for (const row of rows) {
    ms += row.item.perMicroBatch * row.timing.ms;
    flops += row.item.perMicroBatch * matmulFlops(row.item.shape);
  }
  return { ms, gflops: ms > 0 ? flops / ms / 1e6 : 0 };
}
