/**
 * The WebGPU matmul tables as rows of text cells: the product table (per product the untuned
 * default and the tuned pick, device GFLOP/s, percent of the f32 peak, the f16 variant's GFLOP/s,
 * ours beside jax-js timed alike) and the tuner's table (every variant the tuner timed on a product, fastest first).
 */
import type { TuneEntry } from "../../src/engine/webgpu/tune.ts";
import type { MatmulRow } from "./matmul.ts";
import { describeShape, matmulFlops } from "./shapes.ts";
import { fixed, percentOfPeak } from "./table.ts";

/** Headers of `productRows`. */
export const PRODUCT_HEADERS: readonly string[] = [
  "product",
  "m x n x k",
  "per ubatch",
  "untuned variant",
  "GFLOP/s",
  "tuned variant",
  "device ms",
  "GFLOP/s",
  "% f32 peak",
  "speed-up",
  "f16 GFLOP/s",
  "ours wall",
  "jax-js wall",
  "ours/jax-js",
];

/**
 * One row per product: `untuned[i]`, `tuned[i]` and `f16[i]` (null: not measured) measure the
 * same product.
 */
export function productRows(
  untuned: readonly MatmulRow[],
  tuned: readonly MatmulRow[],
  f16: readonly (MatmulRow | null)[],
  peak: number | null,
): string[][] {
  return tuned.map((row, i) => {
    const before = untuned[i];
    const ratio = row.wallGflops !== null && row.jaxGflops !== null
      ? row.wallGflops / row.jaxGflops
      : null;
    return [
      row.item.label + (row.timing.source === "wall" ? " (wall)" : ""),
      describeShape(row.item.shape),
      row.item.perMicroBatch > 0 ? String(row.item.perMicroBatch) : "-",
      before.variant,
      fixed(before.gflops, 1),
      row.variant === before.variant ? "(same)" : row.variant,
      fixed(row.timing.ms, 3),
      fixed(row.gflops, 1),
      percentOfPeak(row.gflops * 1e9, peak),
      `${fixed(row.gflops / before.gflops, 2)}x`,
      fixed(f16[i]?.gflops, 1),
      fixed(row.wallGflops, 1),
      fixed(row.jaxGflops, 1),
      fixed(ratio, 2),
    ];
  });
}

/** Headers of `tunerRows`. */
export const TUNER_HEADERS: readonly string[] = [
  "product",
  "timed",
  "fastest",
  "GFLOP/s",
  "2nd",
  "GFLOP/s",
  "3rd",
  "GFLOP/s",
  "default GFLOP/s",
  "rejected",
];

/** A tuner entry's candidates that ran, fastest first, as [id, GFLOP/s]. */
export function rankedCandidates(entry: TuneEntry, flops: number): [string, number][] {
  return entry.candidates
    .filter((c) => c.ms !== null)
    .map((c) => [c.id, flops / c.ms! / 1e6] as [string, number])
    .sort((a, b) => b[1] - a[1]);
}

/**
 * One row per tuned product: how many variants were timed, the three fastest with their
 * GFLOP/s, the default's GFLOP/s, and how many were rejected (wrong result or failed).
 */
export function tunerRows(
  rows: readonly MatmulRow[],
  entryOf: (row: MatmulRow) => TuneEntry | undefined,
): string[][] {
  return rows.flatMap((row) => {
    const entry = entryOf(row);
    if (!entry) return [];
    const flops = matmulFlops(row.item.shape);
    const ranked = rankedCandidates(entry, flops);
    const place = (i: number) => ranked[i] ? [ranked[i][0], fixed(ranked[i][1], 1)] : ["-", "-"];
    return [[
      row.item.label,
      String(ranked.length),
      ...place(0),
      ...place(1),
      ...place(2),
      fixed(entry.defaultMs === null ? null : flops / entry.defaultMs / 1e6, 1),
      String(entry.candidates.length - ranked.length),
    ]];
  });
}

/** Every candidate of every tuned product, one line each (for `AUTORESEARCH_BENCH_VARIANTS=1`). */
export function candidateRows(
  rows: readonly MatmulRow[],
  entryOf: (row: MatmulRow) => TuneEntry | undefined,
): string[][] {
  return rows.flatMap((row) => {
    const entry = entryOf(row);
    if (!entry) return [];
    const flops = matmulFlops(row.item.shape);
    return entry.candidates.map((c) => [
      row.item.label,
      c.id,
      c.ms === null ? "-" : fixed(flops / c.ms / 1e6, 1),
      c.error ?? "",
    ]);
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
