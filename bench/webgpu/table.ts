/**
 * Shared pieces of the WebGPU bench's tables: the adapter's published figures (f32 peak and,
 * when the table has one, memory bandwidth; src/platform/peak.ts), percent-of-peak cells that say
 * "peak unknown" rather than invent a number, and a plain-text table with aligned columns.
 */
import { lookupGpu } from "../../src/platform/peak.ts";

/** What the bench knows about an adapter's limits. */
export interface AdapterPeaks {
  /** The adapter's description. */
  device: string;
  /** A software adapter (lavapipe, SwiftShader, WARP). */
  software: boolean;
  /** The matching table entry's name, or null. */
  known: string | null;
  /** Published dense f32 peak, FLOP/s, or null when unknown. */
  fp32: number | null;
  /** Published memory bandwidth, bytes/s, or null when the table has none. */
  bandwidth: number | null;
}

/** The published figures of an adapter; a software adapter never matches the table. */
export function adapterPeaks(device: string, software: boolean): AdapterPeaks {
  const gpu = software ? null : lookupGpu(device);
  return {
    device,
    software,
    known: gpu?.name ?? null,
    fp32: gpu?.fp32 ?? null,
    bandwidth: gpu ? gpu.bandwidth : null,
  };
}

/** One line naming the peaks the tables use. */
export function describePeaks(peaks: AdapterPeaks): string {
  if (!peaks.known) {
    return `f32 peak: unknown (${
      peaks.software ? "software adapter" : "not in src/platform/peak.ts"
    }); percent-of-peak columns say "peak unknown"`;
  }
  const bandwidth = peaks.bandwidth === null
    ? "no published bandwidth in the table"
    : `published bandwidth ${(peaks.bandwidth / 1e9).toFixed(0)} GB/s`;
  return `f32 peak: ${(peaks.fp32! / 1e12).toFixed(1)} TFLOP/s (${peaks.known}, published); ` +
    bandwidth;
}

/** GFLOP/s of `flops` done in `ms`. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms / 1000) / 1e9;
}

/** "41.2%" of the f32 peak, or "peak unknown". */
export function percentOfPeak(flopsPerSecond: number, peak: number | null): string {
  if (peak === null) return "peak unknown";
  return `${(100 * flopsPerSecond / peak).toFixed(1)}%`;
}

/** A number with `digits` decimals, or "-" when it is not finite. */
export function fixed(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? "-"
    : value.toFixed(digits);
}

/** Lines of a table: the first column left-aligned, the others right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly string[][]): string[] {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))
      .join("  ").trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** Print a table, indented. */
export function printTable(
  headers: readonly string[],
  rows: readonly string[][],
  indent = "  ",
): void {
  for (const text of formatTable(headers, rows)) console.log(indent + text);
}
