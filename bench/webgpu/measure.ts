/**
 * How the WebGPU bench times recorded work on the device: GPU timestamps around a pass of
 * repetitions (src/engine/webgpu/timing.ts), sized so a real GPU's pass is long enough to time,
 * and the wall clock for comparison with peers that can only be timed from outside.
 */
import { type GpuTiming, timeOnDevice, type WebGpuBackend } from "../../src/engine/webgpu/mod.ts";

/** Device work per timed pass on a real GPU: enough to dwarf the timestamps' resolution. */
const TARGET_MS = 50;
/** Repetitions per pass at most (each is a dispatch; the dispatcher holds 1024 per submit). */
const MAX_REPS = 64;

/**
 * Device milliseconds per call of `record`. Software adapter: one call, again when that call
 * compiled a pipeline (lavapipe compiles at first use, inside the timed pass). Real GPU: a
 * warm-up, one call to size the pass, then the best of two passes of about TARGET_MS.
 */
export async function timeDevice(
  backend: WebGpuBackend,
  record: () => void,
  software: boolean,
): Promise<GpuTiming> {
  if (software) {
    const pipelines = backend.dispatcher.pipelineCount;
    const once = await timeOnDevice(backend, record, 1);
    const compiled = backend.dispatcher.pipelineCount !== pipelines;
    return compiled ? await timeOnDevice(backend, record, 1) : once;
  }
  record();
  await backend.sync();
  const probe = await timeOnDevice(backend, record, 1);
  const reps = Math.max(1, Math.min(MAX_REPS, Math.ceil(TARGET_MS / Math.max(probe.ms, 1e-3))));
  const first = await timeOnDevice(backend, record, reps);
  const second = await timeOnDevice(backend, record, reps);
  return first.ms <= second.ms ? first : second;
}

/** Wall milliseconds per call of `iters` enqueued calls and one wait (latency included). */
export async function timeWall(
  backend: WebGpuBackend,
  record: () => void,
  iters: number,
): Promise<number> {
  await backend.sync();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) record();
  await backend.sync();
  return (performance.now() - t0) / iters;
}
