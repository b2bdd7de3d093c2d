/**
 * Time on the device, not on the host. A wall-clock timer around `sync()` measures the submit,
 * the driver's queue and the wait for completion as well as the kernels: on a real GPU that
 * latency (about a millisecond through Deno's WebGPU) buries a kernel of a few microseconds.
 * With `timestamp-query` the GPU writes its own clock at the start and end of a compute pass, so:
 * - `timeOnDevice` measures the dispatches one function records, repeated in one timed pass;
 * - `DispatchProfiler` gives every dispatch its own timed pass and sums device time per kernel
 *   (the per-op breakdown of a training step).
 * Without the feature both fall back to wall time and say so.
 */
import type { PassTimer } from "./dispatch.ts";
import type { WebGpuBackend } from "./backend.ts";

/** A measured time and where it came from. */
export interface GpuTiming {
  /** Milliseconds per repetition. */
  ms: number;
  /** "timestamp": GPU clock around the pass; "wall": host clock around submit and wait. */
  source: "timestamp" | "wall";
}

/** Whether the backend's device was created with `timestamp-query`. */
export function hasTimestamps(backend: WebGpuBackend): boolean {
  return backend.gpu.device.features.has("timestamp-query");
}

/** Read `count` u64 timestamps from a resolved query buffer, in nanoseconds. */
async function readTimestamps(
  device: GPUDevice,
  encoder: GPUCommandEncoder,
  querySet: GPUQuerySet,
  count: number,
): Promise<bigint[]> {
  const bytes = count * 8;
  const resolved = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const staging = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    encoder.resolveQuerySet(querySet, 0, count, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return [...new BigUint64Array(staging.getMappedRange().slice(0))];
  } finally {
    resolved.destroy();
    staging.destroy();
  }
}

/**
 * Device milliseconds per repetition of the dispatches `record` makes. Pending work is submitted
 * first; the `reps` repetitions go into one timed pass. When the device has no timestamps, or
 * `record` ends the pass (a copy, a host write, a full uniform area), the wall time of the
 * repetitions between two syncs is returned instead, marked "wall".
 */
export async function timeOnDevice(
  backend: WebGpuBackend,
  record: () => void,
  reps = 1,
): Promise<GpuTiming> {
  const dispatcher = backend.dispatcher;
  const device = backend.gpu.device;
  if (hasTimestamps(backend) && !dispatcher.profiler) {
    const querySet = device.createQuerySet({ type: "timestamp", count: 2 });
    try {
      const pass = dispatcher.timePass({
        querySet,
        beginningOfPassWriteIndex: 0,
        endOfPassWriteIndex: 1,
      });
      for (let i = 0; i < reps; i++) record();
      if (dispatcher.passCount === pass) {
        // Submit the pass (flush uploads its uniforms), then resolve in a submit of our own:
        // the queue runs in order, so the timestamps are written by then.
        dispatcher.flush();
        const [begin, end] = await readTimestamps(
          device,
          device.createCommandEncoder(),
          querySet,
          2,
        );
        if (end > begin) return { ms: Number(end - begin) / 1e6 / reps, source: "timestamp" };
      }
    } finally {
      querySet.destroy();
    }
  }
  await backend.sync();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) record();
  await backend.sync();
  return { ms: (performance.now() - t0) / reps, source: "wall" };
}

/** Device time of one kernel over a profiled span. */
export interface KernelTime {
  /** "module.entry". */
  kernel: string;
  /** Dispatches of it. */
  dispatches: number;
  /** Device milliseconds, summed. */
  ms: number;
}

/** Queries per set: the WebGPU maximum is 4096 (2 per dispatch). */
const QUERIES = 4096;

/**
 * Per-kernel device time: install with `dispatcher.profiler = new DispatchProfiler(device)`,
 * run the work, then `await collect()`. Every dispatch becomes its own pass, which removes the
 * overlap between neighbouring kernels: the sum is an upper bound of the batched step's time.
 */
export class DispatchProfiler implements PassTimer {
  readonly #device: GPUDevice;
  readonly #querySet: GPUQuerySet;
  #labels: string[] = [];
  #pending: Promise<void>[] = [];
  readonly #totals = new Map<string, KernelTime>();

  /** A profiler on a device that has `timestamp-query` (throws otherwise). */
  constructor(device: GPUDevice) {
    if (!device.features.has("timestamp-query")) {
      throw new Error("webgpu: profiling needs the timestamp-query feature");
    }
    this.#device = device;
    this.#querySet = device.createQuerySet({ type: "timestamp", count: QUERIES });
  }

  /** Timestamp writes for the next dispatch's pass. */
  begin(label: string): GPUComputePassTimestampWrites | undefined {
    const index = this.#labels.length * 2;
    if (index + 2 > QUERIES) return undefined;
    this.#labels.push(label);
    return {
      querySet: this.#querySet,
      beginningOfPassWriteIndex: index,
      endOfPassWriteIndex: index + 1,
    };
  }

  #resolved: { staging: GPUBuffer; resolved: GPUBuffer; labels: string[] } | null = null;

  /** Resolve this submit's queries into a buffer the host maps after the submit. */
  resolve(encoder: GPUCommandEncoder): void {
    const count = this.#labels.length * 2;
    if (count === 0) return;
    const bytes = count * 8;
    const resolved = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.resolveQuerySet(this.#querySet, 0, count, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    this.#resolved = { staging, resolved, labels: this.#labels };
    this.#labels = [];
  }

  /** Start reading what the last submit resolved; the query set is free again. */
  submitted(): void {
    const batch = this.#resolved;
    this.#resolved = null;
    if (!batch) return;
    // The query set is reused: later passes write it only after this resolve (queue order).
    this.#pending.push(
      batch.staging.mapAsync(GPUMapMode.READ).then(() => {
        const stamps = new BigUint64Array(batch.staging.getMappedRange().slice(0));
        batch.labels.forEach((kernel, i) => {
          const ns = stamps[2 * i + 1] > stamps[2 * i] ? stamps[2 * i + 1] - stamps[2 * i] : 0n;
          const total = this.#totals.get(kernel) ?? { kernel, dispatches: 0, ms: 0 };
          total.dispatches++;
          total.ms += Number(ns) / 1e6;
          this.#totals.set(kernel, total);
        });
      }).finally(() => {
        batch.staging.destroy();
        batch.resolved.destroy();
      }),
    );
  }

  /** Per-kernel totals of everything submitted so far, slowest first. */
  async collect(): Promise<KernelTime[]> {
    await Promise.all(this.#pending.splice(0));
    return [...this.#totals.values()].sort((a, b) => b.ms - a.ms);
  }

  /** Forget the totals. */
  reset(): void {
    this.#totals.clear();
  }

  /** Release the query set (after the last `collect`). */
  destroy(): void {
    this.#querySet.destroy();
  }
}
