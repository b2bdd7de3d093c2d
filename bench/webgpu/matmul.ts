/**
 * Timing our matmul on the device: per shape, the variant the backend picks now
 * (`backend.matmulVariantFor`: untuned default or the tuner's choice) timed with GPU timestamps
 * (timing.ts `timeOnDevice`), and the wall time of `iters` enqueued products, measured exactly as
 * the jax-js peer is, for a like-for-like ratio.
 */
import type { DeviceBuffer } from "../../src/engine/backend.ts";
import type { GpuTiming, MatmulShape, WebGpuBackend } from "../../src/engine/webgpu/mod.ts";
import { timeDevice, timeWall } from "./measure.ts";
import type { BenchMatmul } from "./shapes.ts";
import { matmulFlops } from "./shapes.ts";
import { jaxMatmulMs, type JaxPeer } from "./jax.ts";

/** How hard to measure. */
export interface MatmulBenchOptions {
  /** A software adapter: one repetition, no repeats. */
  software: boolean;
  /** The peer to compare with, or null to skip it. */
  jax: JaxPeer | null;
}

/** The measured figures of one product. */
export interface MatmulRow {
  /** The product. */
  item: BenchMatmul;
  /** The variant the backend picks for it. */
  variant: string;
  /** Device time of the picked variant. */
  timing: GpuTiming;
  /** Device GFLOP/s of the picked variant. */
  gflops: number;
  /** Ours, wall time of enqueued products (as jax-js is timed), GFLOP/s; null when no peer. */
  wallGflops: number | null;
  /** jax-js, wall time of enqueued products, GFLOP/s; null when not measured. */
  jaxGflops: number | null;
  /** Why jax-js could not run the product, when it failed. */
  jaxError?: string;
}

/** The three operands of a product, filled on the device (no host upload of large arrays). */
function allocOperands(backend: WebGpuBackend, shape: MatmulShape) {
  const { m, n, k, batch } = shape;
  const a = backend.alloc("f32", batch * m * k);
  const b = backend.alloc("f32", batch * k * n);
  const c = backend.alloc("f32", batch * m * n);
  backend.fill({ out: a, value: 0.01 });
  backend.fill({ out: b, value: -0.02 });
  return {
    record: () =>
      backend.matmul({ a, b, c, ...shape, strideA: m * k, strideB: k * n, strideC: m * n }),
    free: () => [a, b, c].forEach((buffer: DeviceBuffer) => backend.free(buffer)),
  };
}

/** Measure one product: the variant the backend picks now, and the peer when given. */
export async function measureMatmul(
  backend: WebGpuBackend,
  item: BenchMatmul,
  options: MatmulBenchOptions,
): Promise<MatmulRow> {
  const { shape } = item;
  const flops = matmulFlops(shape);
  const operands = allocOperands(backend, shape);
  try {
    const variant = backend.matmulVariantFor(shape).id;
    const timing = await timeDevice(backend, operands.record, options.software);
    const iters = options.software ? 1 : Math.max(1, Math.min(20, Math.ceil(50 / timing.ms)));
    const repeats = options.software ? 1 : 2;
    const row: MatmulRow = {
      item,
      variant,
      timing,
      gflops: flops / timing.ms / 1e6,
      wallGflops: null,
      jaxGflops: null,
    };
    if (options.jax && "jax" in options.jax) {
      let wallMs = Infinity;
      for (let rep = 0; rep < repeats; rep++) {
        wallMs = Math.min(wallMs, await timeWall(backend, operands.record, iters));
      }
      row.wallGflops = flops / wallMs / 1e6;
      try {
        row.jaxGflops = flops / await jaxMatmulMs(options.jax.jax, shape, iters, repeats) / 1e6;
      } catch (error) {
        // The peer's limits are its own (e.g. its default buffer size): say so, keep going.
        row.jaxError = error instanceof Error ? error.message : String(error);
      }
    }
    return row;
  } finally {
    operands.free();
  }
}
