/**
 * Row-parallel worker threads for the CPU backend's big non-matmul kernels (the softcapped
 * cross-entropy over the vocabulary, forward and backward). Backend buffers live on
 * SharedArrayBuffers, so a task is just the shared arrays plus a row range per thread: nothing is
 * copied. The caller takes the first range itself and then blocks in Atomics.wait (Deno allows it
 * on the main thread) until every worker has added itself to the shared done counter.
 *
 * Web Workers from a data: URL (compile-safe: the kernels travel as their own function source),
 * because Deno shares a SharedArrayBuffer with them in microseconds where node:worker_threads
 * took seconds for large buffers. A Web Worker keeps the process alive, so workers start on the
 * first big task and stop after a short idle time (an unref'd timer) or at close().
 *
 * @module
 */
import { capTanh, crossEntropyBackwardKernel, crossEntropyKernel } from "./kernels.ts";
import { VecMath } from "./vecmath.ts";
import { softmaxBlock, transposeHeads } from "./attention.ts";

/** Kernels a worker runs; each takes the shared arrays, scalars and its row range. */
export type RowKernel =
  | "crossEntropy"
  | "crossEntropyBackward"
  | "softmaxBlock"
  | "transposeHeads";

/** Source of a worker: the kernels' own code plus a message loop. */
function workerSource(): string {
  return [
    `const parentPort = { on: (_ev, fn) => { self.onmessage = (e) => fn(e.data); }, postMessage: (m) => self.postMessage(m) };`,
    `const capTanh = ${capTanh.toString()};`,
    `const crossEntropyKernel = ${crossEntropyKernel.toString()};`,
    `const crossEntropyBackwardKernel = ${crossEntropyBackwardKernel.toString()};`,
    `const softmaxBlock = ${softmaxBlock.toString()};`,
    `const transposeHeads = ${transposeHeads.toString()};`,
    `const VecMath = ${VecMath.toString()};`,
    `const kernels = {`,
    `  crossEntropyKernel, crossEntropyBackwardKernel, softmaxBlock, transposeHeads,`,
    `};`,
    `(${workerMain.toString()})(parentPort, kernels, VecMath);`,
  ].join("\n");
}

/**
 * A task message: arrays by name, scalars, and the rows [0, rows) to share out in chunks of
 * `chunk` rows, each taken by whichever thread bumps the shared next-row counter first.
 */
interface TaskMessage {
  kernel: RowKernel;
  a: Record<string, Float32Array | Int32Array>;
  s: Record<string, number>;
  rows: number;
  chunk: number;
}

/** One row range of a task, as a kernel runs it. */
interface RowRange {
  kernel: RowKernel;
  a: Record<string, Float32Array | Int32Array>;
  s: Record<string, number>;
  r0: number;
  r1: number;
}

/** A worker's body (stringified into its source). */
function workerMain(
  port: {
    on(ev: "message", fn: (m: unknown) => void): void;
    postMessage(m: unknown): void;
  },
  kernels: {
    crossEntropyKernel: typeof crossEntropyKernel;
    crossEntropyBackwardKernel: typeof crossEntropyBackwardKernel;
    softmaxBlock: typeof softmaxBlock;
    transposeHeads: typeof transposeHeads;
  },
  VecMathClass: typeof VecMath,
): void {
  let vm: VecMath | null = null;
  let ctl: Int32Array | null = null;
  const run = (m: RowRange) => {
    const { a, s, r0, r1 } = m;
    const V = s.vocab, rows = r1 - r0;
    const f = (x: Float32Array | Int32Array, w: number) => x.subarray(r0 * w, r1 * w);
    if (m.kernel === "transposeHeads") {
      const pairs = Array.from({ length: s.count }, (_, i) => a[`a${i}`] as Float32Array);
      kernels.transposeHeads(pairs, s.T, s.H, s.D, r0, r1, s.toHead === 1, s.acc === 1);
    } else if (m.kernel === "softmaxBlock") {
      const w = s.bq * s.L; // one head's score block
      kernels.softmaxBlock(
        a.p.subarray(r0 * w, r1 * w) as Float32Array,
        rows,
        s.g0 + r0,
        s.bq,
        s.q0,
        s.lo,
        s.L,
        { seq: s.seq, window: s.window },
        a.lse as Float32Array,
        s.forward === 1,
        vm,
      );
    } else if (m.kernel === "crossEntropy") {
      kernels.crossEntropyKernel(
        f(a.logits, V) as Float32Array,
        f(a.targets, 1) as Int32Array,
        f(a.losses, 1) as Float32Array,
        f(a.lse, 1) as Float32Array,
        rows,
        V,
        s.cap,
        vm,
      );
    } else {
      kernels.crossEntropyBackwardKernel(
        f(a.logits, V) as Float32Array,
        f(a.targets, 1) as Int32Array,
        f(a.lse, 1) as Float32Array,
        f(a.gradLosses, 1) as Float32Array,
        f(a.gradLogits, V) as Float32Array,
        rows,
        V,
        s.cap,
        s.accumulate === 1,
        vm,
      );
    }
  };
  port.on("message", (msg) => {
    const m = msg as
      & { init?: { module: WebAssembly.Module | null; ctl: Int32Array } }
      & TaskMessage;
    if (m.init) {
      ctl = m.init.ctl;
      if (m.init.module) {
        const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
        const instance = new WebAssembly.Instance(m.init.module, { env: { memory } });
        vm = new VecMathClass(memory, instance.exports);
      }
      port.postMessage("ready");
      return;
    }
    try {
      // ctl[2]: the next unclaimed row; the calling thread takes chunks from it too
      for (;;) {
        const r0 = Atomics.add(ctl!, 2, m.chunk);
        if (r0 >= m.rows) break;
        run({ kernel: m.kernel, a: m.a, s: m.s, r0, r1: Math.min(m.rows, r0 + m.chunk) });
      }
    } catch {
      Atomics.store(ctl!, 1, 1); // the caller reports the failure
    }
    Atomics.add(ctl!, 0, 1);
    Atomics.notify(ctl!, 0);
  });
}

/** Row chunks per thread: small enough to rebalance, big enough to keep the counter cold. */
const CHUNKS_PER_THREAD = 4;

/** Idle time after which workers stop (they keep the process alive while they run). */
const IDLE_MS = 2000;

/** A pool of row workers (the calling thread is one more), started on demand. */
export class RowPool {
  #workers: Worker[] = [];
  /** [workers done, a worker failed, next unclaimed row] */
  #ctl = new Int32Array(new SharedArrayBuffer(12));
  #idle: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** `threads`: threads per task, the caller included; `module`: the SIMD kernels or null. */
  private constructor(readonly threads: number, readonly module: WebAssembly.Module | null) {}

  /** A pool for `threads` threads, or null when threads < 2 or shared memory is missing. */
  static create(threads: number, module: WebAssembly.Module | null): RowPool | null {
    if (threads < 2 || typeof SharedArrayBuffer === "undefined" || typeof Worker === "undefined") {
      return null;
    }
    return new RowPool(threads, module);
  }

  #start(): void {
    const url = "data:application/javascript," + encodeURIComponent(workerSource());
    for (let i = 1; i < this.threads; i++) {
      const w = new Worker(url, { type: "module", name: `cpu-rows-${i}` });
      w.postMessage({ init: { module: this.module, ctl: this.#ctl } });
      this.#workers.push(w);
    }
  }

  #stop(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = undefined;
  }

  /**
   * Runs `kernel` over rows [0, rows) in chunks (about 4 per thread) that the caller, through
   * `callerRows(r0, r1)`, and the workers claim from a shared counter, so a thread slowed by
   * another process on its core simply takes fewer chunks; then waits for the workers. Every
   * row is computed the same way whoever takes it, so results do not depend on the split.
   * Throws if a worker failed.
   */
  run(
    kernel: RowKernel,
    arrays: Record<string, Float32Array | Int32Array>,
    scalars: Record<string, number>,
    rows: number,
    callerRows: (r0: number, r1: number) => void,
  ): void {
    if (this.#closed) throw new Error("RowPool used after close()");
    if (this.#workers.length === 0) this.#start();
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    const chunk = Math.max(1, Math.ceil(rows / (this.threads * CHUNKS_PER_THREAD)));
    const ctl = this.#ctl;
    Atomics.store(ctl, 0, 0);
    Atomics.store(ctl, 1, 0);
    Atomics.store(ctl, 2, 0);
    const task: TaskMessage = { kernel, a: arrays, s: scalars, rows, chunk };
    for (const w of this.#workers) w.postMessage(task);
    try {
      for (;;) {
        const r0 = Atomics.add(ctl, 2, chunk);
        if (r0 >= rows) break;
        callerRows(r0, Math.min(rows, r0 + chunk));
      }
    } catch (e) {
      Atomics.store(ctl, 2, rows); // workers stop claiming rows
      throw e;
    } finally {
      this.#await(); // even when the caller's rows threw: no worker may still write
      this.#idle = setTimeout(() => this.#stop(), IDLE_MS);
      Deno.unrefTimer(this.#idle);
    }
    if (Atomics.load(ctl, 1) !== 0) throw new Error(`${kernel}: a worker thread failed`);
  }

  /** Blocks until every worker has reported the current task done. */
  #await(): void {
    const want = this.#workers.length;
    for (;;) {
      const done = Atomics.load(this.#ctl, 0);
      if (done >= want) break;
      Atomics.wait(this.#ctl, 0, done, 1000);
    }
  }

  /** Stops the workers; the pool cannot be used afterwards. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#stop();
  }
}
