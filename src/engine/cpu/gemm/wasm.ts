/**
 * The WebAssembly SIMD sgemm: kernels emitted at run time (kernels.ts), operands copied into one
 * shared WebAssembly.Memory, the work split over the calling thread plus `threads - 1` workers
 * that share that memory. `sgemm` stays synchronous: the caller computes its share, then blocks
 * in Atomics.wait until the workers are done (Deno allows that on the main thread).
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import {
  CTL,
  CTL_INTS,
  type Job,
  type KernelExports,
  readJob,
  runJob,
  TRACKED_ITEMS,
  workerMain,
  writeJob,
} from "./driver.ts";
import { scaleC, sgemmJs } from "./js.ts";
import { buildGemmWasm, MR, NR } from "./kernels.ts";
import type { Gemm, ResolvedSgemm, SgemmParams } from "./types.ts";
import { resolveSgemm } from "./types.ts";

const PAGE = 65536;
/** 2 GiB: keeps every byte address a positive i32 in the kernels. */
const MAX_PAGES = 32768;
/** Cache blocking: A block MC x KC stays in L2, a B micro-panel KC x NR in L1. */
const MC = 120, KC = 256, NC = 1024;
/**
 * Below this many flops the plain loops win (no copies); below the next, no worker wake-ups.
 * Measured here: the kernels beat the loops from 16^3 on, two threads beat one from ~160^3.
 */
const JS_MAX_FLOPS = 4096;
const SINGLE_THREAD_MAX_FLOPS = 8 * 1024 * 1024;

const align64 = (x: number) => Math.ceil(x / 64) * 64;

/**
 * Cuts one m x n output into at least `parts` blocks (multiples of the micro-tile), choosing the
 * grid that packs the least: every block packs its rows of A (chunkM x k) and its columns of B
 * (k x chunkN), so an mParts x nParts grid packs A nParts times and B mParts times.
 */
export function splitC(
  m: number,
  n: number,
  k: number,
  parts: number,
): { mParts: number; nParts: number; chunkM: number; chunkN: number } {
  let best = { mParts: 1, nParts: 1, chunkM: m, chunkN: n }, bestCost = Infinity;
  for (let wantM = 1; wantM <= parts; wantM++) {
    const wantN = Math.ceil(parts / wantM);
    const chunkM = Math.max(MR, Math.ceil(m / wantM / MR) * MR);
    const chunkN = Math.max(NR, Math.ceil(n / wantN / NR) * NR);
    const mParts = Math.ceil(m / chunkM), nParts = Math.ceil(n / chunkN);
    // Too few blocks (tiny m or n) only loses parallelism; rank those last.
    const short = mParts * nParts < parts ? 1e18 / (mParts * nParts) : 0;
    const cost = short + m * k * nParts + k * n * mParts;
    if (cost < bestCost) {
      bestCost = cost;
      best = { mParts, nParts, chunkM, chunkN };
    }
  }
  return best;
}

/** Whether this engine validates relaxed-simd (then f32x4.relaxed_madd is used). */
function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(buildGemmWasm(true, MAX_PAGES));
  } catch {
    return false;
  }
}

/**
 * Source of the worker script: the driver and the worker loop as self-contained text, so no file
 * is read at run time (compile-safe) and no module URL must be reachable (JSR-safe).
 */
function workerSource(): string {
  return [
    `const readJob = ${readJob.toString()};`,
    `const runJob = ${runJob.toString()};`,
    `const { parentPort } = require("node:worker_threads");`,
    `(${workerMain.toString()})(readJob, runJob, parentPort);`,
  ].join("\n");
}

/** Whether WebAssembly SIMD, shared memory and workers are all available here. */
export function wasmGemmSupported(): boolean {
  try {
    if (typeof SharedArrayBuffer === "undefined") return false;
    return WebAssembly.validate(buildGemmWasm(false, MAX_PAGES));
  } catch {
    return false;
  }
}

/** Size thresholds of the WebAssembly implementation (tests set them to 0 to force each path). */
export interface WasmGemmTuning {
  /** Calls with at most this many flops run the plain loops (no copies). */
  jsMaxFlops?: number;
  /** Calls with at most this many flops stay on the calling thread (no worker wake-ups). */
  singleThreadMaxFlops?: number;
  /** false: the calling thread only waits, so workers compute everything (tests the workers). */
  callerWorks?: boolean;
  /** Cap of the shared memory in 64 KiB pages (default 32768 = 2 GiB; tests shrink it). */
  maxPages?: number;
}

/** Creates the WebAssembly SIMD implementation with `threads` threads (the caller included). */
export async function createWasmGemm(threads: number, tuning: WasmGemmTuning = {}): Promise<Gemm> {
  const jsMaxFlops = tuning.jsMaxFlops ?? JS_MAX_FLOPS;
  const singleThreadMaxFlops = tuning.singleThreadMaxFlops ?? SINGLE_THREAD_MAX_FLOPS;
  const callerWorks = tuning.callerWorks ?? true;
  const maxPages = Math.min(tuning.maxPages ?? MAX_PAGES, MAX_PAGES);
  const fma = relaxedSimdSupported();
  const module = new WebAssembly.Module(buildGemmWasm(fma, MAX_PAGES));
  const scratchBytes = align64(MC * KC * 4 + KC * NC * 4 + MR * NR * 4);
  const scratchBase = CTL_INTS * 4;
  const operandBase = align64(scratchBase + threads * scratchBytes);
  const memory = new WebAssembly.Memory({
    initial: Math.ceil(operandBase / PAGE) + 1,
    maximum: Math.max(maxPages, Math.ceil(operandBase / PAGE) + 1),
    shared: true,
  });
  const kx = new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as KernelExports;
  const ctl = new Int32Array(memory.buffer, 0, CTL_INTS);
  const ctlF = new Float32Array(memory.buffer, 0, CTL_INTS);

  const workers: Worker[] = [];
  // node:worker_threads rather than Web Workers: unref() lets the process exit even when the
  // caller never calls close() (an idle worker waits in Atomics.wait forever).
  if (threads > 1) {
    const source = workerSource();
    try {
      const ready: Promise<void>[] = [];
      for (let i = 1; i < threads; i++) {
        const worker = new Worker(source, { eval: true, name: `gemm-${i}` });
        workers.push(worker);
        ready.push(
          new Promise((resolve, reject) => {
            worker.once("message", () => resolve());
            worker.once(
              "error",
              (e: Error) => reject(new Error(`gemm worker failed: ${e.message}`)),
            );
          }),
        );
        worker.postMessage({ module, memory, thread: i });
      }
      await Promise.all(ready);
      for (const w of workers) w.unref();
    } catch (err) {
      for (const w of workers) void w.terminate();
      throw err;
    }
  }

  let heap = new Float32Array(memory.buffer);
  const maxBytes = Math.max(maxPages, Math.ceil(operandBase / PAGE) + 1) * PAGE;
  let closed = false;

  /** Grows the shared memory to at least `bytes`; false when that exceeds the 2 GiB cap. */
  const ensure = (bytes: number): boolean => {
    if (bytes > maxBytes) return false;
    const have = memory.buffer.byteLength;
    if (bytes > have) memory.grow(Math.ceil((bytes - have) / PAGE));
    if (heap.buffer.byteLength !== memory.buffer.byteLength) heap = new Float32Array(memory.buffer);
    return true;
  };

  /** Runs batch items [t0, t1) of a resolved call through shared memory. */
  const runChunk = (r: ResolvedSgemm, t0: number, t1: number, useWorkers: boolean) => {
    const { m, n, k } = r;
    const count = t1 - t0;
    const spanA = (count - 1) * r.strideA + m * k;
    const spanB = (count - 1) * r.strideB + k * n;
    const aBase = operandBase, bBase = align64(aBase + spanA * 4);
    const cBase = align64(bBase + spanB * 4);
    const accumulate = r.beta !== 0;
    /** Copies batch item t0+t's operands to their places (same relative strides as the caller). */
    const copyIn = (t: number) => {
      if (t === 0 || r.strideA !== 0) {
        const from = r.offsetA + (t0 + t) * r.strideA, to = aBase / 4 + t * r.strideA;
        heap.set(r.a.subarray(from, from + m * k), to);
      }
      if (t === 0 || r.strideB !== 0) {
        const from = r.offsetB + (t0 + t) * r.strideB, to = bBase / 4 + t * r.strideB;
        heap.set(r.b.subarray(from, from + k * n), to);
      }
      if (accumulate) {
        const from = r.offsetC + (t0 + t) * r.strideC, to = cBase / 4 + t * m * n;
        heap.set(r.c.subarray(from, from + m * n), to);
        scaleC(heap, to, m * n, r.beta);
      }
    };
    // Work units: whole batch items when there are enough, else blocks of each item's C.
    const wantUnits = useWorkers ? 2 * threads : 1;
    const { mParts, nParts, chunkM, chunkN } = count >= wantUnits
      ? { mParts: 1, nParts: 1, chunkM: m, chunkN: n }
      : splitC(m, n, k, Math.ceil(wantUnits / count));
    const units = count * mParts * nParts;
    const base = Atomics.load(ctl, CTL.NEXT);
    const job: Job = {
      m,
      n,
      k,
      transA: r.transA,
      transB: r.transB,
      aBase,
      bBase,
      cBase,
      strideA: r.strideA * 4,
      strideB: r.strideB * 4,
      mParts,
      nParts,
      chunkM,
      chunkN,
      alpha: Math.fround(r.alpha),
      accumulate: accumulate ? 1 : 0,
      base,
      end: (base + units) | 0,
      MC,
      KC,
      NC,
      scratchBase,
      scratchBytes,
    };
    /** Copies batch item t0+t's result back to the caller's C. */
    const copyOut = (t: number) => {
      const to = r.offsetC + (t0 + t) * r.strideC, from = cBase / 4 + t * m * n;
      r.c.set(heap.subarray(from, from + m * n), to);
    };
    if (!useWorkers) {
      for (let t = 0; t < count; t++) copyIn(t);
      runJob(kx, job, 0, null); // the workers sleep on; NEXT and DONE stay as they are
      for (let t = 0; t < count; t++) copyOut(t);
      return;
    }
    const perItem = mParts * nParts, tracked = Math.min(count, TRACKED_ITEMS);
    const target = (Atomics.load(ctl, CTL.DONE) + units) | 0;
    // Safe to reset: every unit of the previous job has finished (its DONE was awaited).
    ctl.fill(0, CTL.ITEM_DONE, CTL.ITEM_DONE + tracked);
    copyIn(0);
    Atomics.add(ctl, CTL.GEN, 1); // odd: job fields being written
    writeJob(ctl, ctlF, job);
    Atomics.store(ctl, CTL.READY, 1);
    Atomics.add(ctl, CTL.GEN, 1); // even: published
    Atomics.notify(ctl, CTL.GEN);
    // Copy the other items while the workers start on the first.
    for (let t = 1; t < count; t++) {
      copyIn(t);
      Atomics.store(ctl, CTL.READY, t + 1);
      Atomics.notify(ctl, CTL.READY);
    }
    // Between its own units, the caller copies finished items out.
    let out = 0;
    const drain = () => {
      while (out < tracked && Atomics.load(ctl, CTL.ITEM_DONE + out) === perItem) copyOut(out++);
    };
    if (callerWorks) runJob(kx, job, 0, ctl, drain);
    for (; out < tracked; out++) {
      const slot = CTL.ITEM_DONE + out;
      for (let d = Atomics.load(ctl, slot); d < perItem; d = Atomics.load(ctl, slot)) {
        Atomics.wait(ctl, slot, d);
      }
      copyOut(out);
    }
    // Wait for the units, not for the workers: a worker not yet scheduled costs nothing.
    for (
      let d = Atomics.load(ctl, CTL.DONE);
      ((target - d) | 0) > 0;
      d = Atomics.load(ctl, CTL.DONE)
    ) {
      Atomics.wait(ctl, CTL.DONE, d);
    }
    for (; out < count; out++) copyOut(out);
    if (Atomics.exchange(ctl, CTL.ERROR, 0) !== 0) {
      throw new Error("gemm: a kernel failed on a worker thread (a bug: please report it)");
    }
  };

  return {
    kind: fma ? "wasm:relaxed-simd" : "wasm:simd",
    threads,
    sgemm(p: SgemmParams): void {
      if (closed) throw new Error("gemm: used after close()");
      const r = resolveSgemm(p);
      const { m, n, k, batch } = r;
      if (m === 0 || n === 0 || batch === 0) return;
      const flops = 2 * m * n * k * batch;
      if (k === 0 || r.alpha === 0 || flops <= jsMaxFlops) return sgemmJs(r);
      const useWorkers = workers.length > 0 && flops > singleThreadMaxFlops;
      // Bytes one more batch item adds, and what the first one needs.
      const perItem = (r.strideA + r.strideB + m * n) * 4 + 192;
      const first = operandBase + (m * k + k * n + m * n) * 4 + 192;
      if (!ensure(first)) return sgemmJs(r); // a single item over 2 GiB: slow but correct
      const room = Math.floor((maxBytes - first) / Math.max(perItem, 1)) + 1;
      for (let t0 = 0; t0 < batch; t0 += room) {
        const t1 = Math.min(batch, t0 + room);
        const count = t1 - t0;
        ensure(first + (count - 1) * perItem);
        runChunk(r, t0, t1, useWorkers);
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      Atomics.store(ctl, CTL.STOP, 1);
      Atomics.add(ctl, CTL.GEN, 2); // stays even: a published "job" that says stop
      Atomics.notify(ctl, CTL.GEN);
      for (const w of workers) void w.terminate();
    },
  };
}
