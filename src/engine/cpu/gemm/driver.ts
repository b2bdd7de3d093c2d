/**
 * The blocked sgemm loop that runs on the calling thread and on every worker, and the protocol
 * between them. The functions here must stay self-contained (no imports, no outer variables):
 * the worker receives them as source text via `Function.prototype.toString`.
 *
 * Protocol (all counters int32, compared wrap-safely, never reset):
 * - The caller publishes a job like a seqlock: GEN becomes odd, the job fields are written, GEN
 *   becomes even, workers are notified. A worker copies the fields, then re-reads GEN: if it
 *   changed, the copy may be torn and is thrown away.
 * - Units are claimed by compare-and-swap on NEXT within the job's range [BASE, END), so a late
 *   worker holding an older job can never take a unit of a newer one.
 * - Whoever finishes a unit adds 1 to DONE; the caller waits for DONE to pass its target, never
 *   for the workers themselves, so a worker the OS has not scheduled yet costs nothing.
 * - The caller publishes a job as soon as its first batch item is copied in and copies the rest
 *   while workers compute; READY counts the items copied, and a unit of item t waits for
 *   READY > t. (READY is reset with each job; only units of the current job ever wait on it.)
 * - A finished unit of item t also counts in ITEM_DONE + t, so the caller copies finished items'
 *   results out between its own units instead of after the last one.
 *
 * @module
 */

/** Int32 slots of the control block at byte 0 of the shared memory. */
export const CTL = {
  /** Job generation: odd while the caller writes a job, even once it is published. */
  GEN: 0,
  /** Next unclaimed unit (monotonic). */
  NEXT: 1,
  /** Units finished (monotonic). */
  DONE: 2,
  /** One past the last unit of the published job. */
  END: 3,
  M: 4,
  N: 5,
  K: 6,
  TRANS_A: 7,
  TRANS_B: 8,
  A_BASE: 9,
  B_BASE: 10,
  C_BASE: 11,
  STRIDE_A: 12,
  STRIDE_B: 13,
  M_PARTS: 14,
  N_PARTS: 15,
  CHUNK_M: 16,
  CHUNK_N: 17,
  /** alpha, as float bits (read through a Float32Array). */
  ALPHA: 18,
  /** 1 when C must be accumulated into from the first k block (beta != 0). */
  ACCUMULATE: 19,
  /** 1 asks workers to exit. */
  STOP: 20,
  /** Cache-block sizes. */
  MC: 21,
  KC: 22,
  NC: 23,
  /** First byte of thread 0's scratch, and bytes per thread. */
  SCRATCH_BASE: 24,
  SCRATCH_BYTES: 25,
  /** First unit of the published job. */
  BASE: 26,
  /** Set to 1 when a unit threw (a bug): the caller reports it instead of waiting forever. */
  ERROR: 27,
  /** Batch items of the published job whose operands are copied in (the rest are on the way). */
  READY: 28,
  /** Slots ITEM_DONE + t count finished units of batch item t (for t < TRACKED_ITEMS). */
  ITEM_DONE: 64,
} as const;

/** Int32 slots of the control block (4 KiB); the first thread's scratch follows it. */
export const CTL_INTS = 1024;
/** Batch items whose completion is tracked one by one (the caller copies them out early). */
export const TRACKED_ITEMS = CTL_INTS - 64;

/** The kernel exports the driver calls. */
export interface KernelExports {
  /** See kernels.ts. */
  macro(
    ap: number,
    bp: number,
    mc: number,
    nc: number,
    kc: number,
    c: number,
    ldc: number,
    accumulate: number,
    tmp: number,
  ): void;
  /** See kernels.ts. */
  packA(dst: number, src: number, rs: number, cs: number, mc: number, kc: number, a: number): void;
  /** See kernels.ts. */
  packB(dst: number, src: number, rs: number, cs: number, kc: number, nc: number): void;
}

/** One job: the fields of the control block, copied so they cannot change under the reader. */
export interface Job {
  /** op(A) rows, op(B) columns, inner dimension. */
  m: number;
  /** See m. */
  n: number;
  /** See m. */
  k: number;
  /** Operand layouts. */
  transA: boolean;
  /** See transA. */
  transB: boolean;
  /** Byte addresses of the operand copies (C dense, m*n per item). */
  aBase: number;
  /** See aBase. */
  bBase: number;
  /** See aBase. */
  cBase: number;
  /** Byte distance between batch items of A and B. */
  strideA: number;
  /** See strideA. */
  strideB: number;
  /** Each item's C is cut into mParts x nParts blocks of chunkM x chunkN. */
  mParts: number;
  /** See mParts. */
  nParts: number;
  /** See mParts. */
  chunkM: number;
  /** See mParts. */
  chunkN: number;
  /** Scale of the product (folded into packed A). */
  alpha: number;
  /** 1: add to C from the first k block on (beta != 0); 0: overwrite it. */
  accumulate: number;
  /** Units [base, end) in NEXT's numbering; units - 1 = index of the last one. */
  base: number;
  /** See base. */
  end: number;
  /** Cache blocks. */
  MC: number;
  /** See MC. */
  KC: number;
  /** See MC. */
  NC: number;
  /** Scratch layout. */
  scratchBase: number;
  /** See scratchBase. */
  scratchBytes: number;
}

/** Copies the job fields out of the control block (the caller checks GEN around this). */
export function readJob(ctl: Int32Array, ctlF: Float32Array): Job {
  return {
    m: ctl[4],
    n: ctl[5],
    k: ctl[6],
    transA: ctl[7] !== 0,
    transB: ctl[8] !== 0,
    aBase: ctl[9],
    bBase: ctl[10],
    cBase: ctl[11],
    strideA: ctl[12],
    strideB: ctl[13],
    mParts: ctl[14],
    nParts: ctl[15],
    chunkM: ctl[16],
    chunkN: ctl[17],
    alpha: ctlF[18],
    accumulate: ctl[19],
    MC: ctl[21],
    KC: ctl[22],
    NC: ctl[23],
    scratchBase: ctl[24],
    scratchBytes: ctl[25],
    base: ctl[26],
    end: ctl[3],
  };
}

/** Writes a job's fields into the control block (between the two GEN increments). */
export function writeJob(ctl: Int32Array, ctlF: Float32Array, job: Job): void {
  ctl[3] = job.end;
  ctl[4] = job.m;
  ctl[5] = job.n;
  ctl[6] = job.k;
  ctl[7] = job.transA ? 1 : 0;
  ctl[8] = job.transB ? 1 : 0;
  ctl[9] = job.aBase;
  ctl[10] = job.bBase;
  ctl[11] = job.cBase;
  ctl[12] = job.strideA;
  ctl[13] = job.strideB;
  ctl[14] = job.mParts;
  ctl[15] = job.nParts;
  ctl[16] = job.chunkM;
  ctl[17] = job.chunkN;
  ctlF[18] = job.alpha;
  ctl[19] = job.accumulate;
  ctl[21] = job.MC;
  ctl[22] = job.KC;
  ctl[23] = job.NC;
  ctl[24] = job.scratchBase;
  ctl[25] = job.scratchBytes;
  ctl[26] = job.base;
}

/**
 * Computes units of `job` with this thread's scratch. With `ctl`, units are claimed from the
 * shared counter (and counted in DONE) until the job's range is used up; without, this thread
 * runs every unit itself.
 */
export function runJob(
  kx: KernelExports,
  job: Job,
  thread: number,
  ctl: Int32Array | null,
  afterUnit?: () => void,
): void {
  const { m, n, k, mParts, nParts, chunkM, chunkN, alpha, MC, KC, NC } = job;
  const scratch = job.scratchBase + thread * job.scratchBytes;
  const bufA = scratch, bufB = scratch + MC * KC * 4, tmp = bufB + KC * NC * 4;
  // Byte strides of op(A)(i,p) and op(B)(p,j) in the dense copies.
  const rsA = job.transA ? 4 : k * 4, csA = job.transA ? m * 4 : 4;
  const rsB = job.transB ? 4 : n * 4, csB = job.transB ? k * 4 : 4;
  const ldc = n * 4, perItem = mParts * nParts;
  const units = (job.end - job.base) | 0;
  for (let local = 0;; local++) {
    let u: number;
    if (ctl) {
      const cur = Atomics.load(ctl, 1);
      if (((job.end - cur) | 0) <= 0) return;
      if (Atomics.compareExchange(ctl, 1, cur, (cur + 1) | 0) !== cur) continue;
      u = (cur - job.base) | 0;
    } else {
      if (local >= units) return;
      u = local;
    }
    if (!ctl) {
      computeUnit(u);
      continue;
    }
    const item = Math.floor(u / perItem);
    for (let ready = Atomics.load(ctl, 28); ready <= item; ready = Atomics.load(ctl, 28)) {
      Atomics.wait(ctl, 28, ready); // this item's operands are still being copied in
    }
    // A unit that throws must still be counted, or the caller would wait for it forever.
    try {
      computeUnit(u);
    } catch {
      Atomics.store(ctl, 27, 1);
    } finally {
      if (item < 960) { // TRACKED_ITEMS; literals here: this function travels as source text
        Atomics.add(ctl, 64 + item, 1);
        Atomics.notify(ctl, 64 + item);
      }
      Atomics.add(ctl, 2, 1);
      Atomics.notify(ctl, 2);
    }
    afterUnit?.();
  }

  function computeUnit(u: number): void {
    const t = Math.floor(u / perItem), rest = u - t * perItem;
    const mi = Math.floor(rest / nParts), ni = rest - mi * nParts;
    const i0 = mi * chunkM, i1 = Math.min(m, i0 + chunkM);
    const j0 = ni * chunkN, j1 = Math.min(n, j0 + chunkN);
    const a = job.aBase + t * job.strideA, b = job.bBase + t * job.strideB;
    const c = job.cBase + t * m * n * 4;
    for (let jc = j0; jc < j1; jc += NC) {
      const nc = Math.min(NC, j1 - jc);
      for (let pc = 0; pc < k; pc += KC) {
        const kc = Math.min(KC, k - pc);
        kx.packB(bufB, b + pc * rsB + jc * csB, rsB, csB, kc, nc);
        const acc = pc > 0 ? 1 : job.accumulate;
        for (let ic = i0; ic < i1; ic += MC) {
          const mc = Math.min(MC, i1 - ic);
          kx.packA(bufA, a + ic * rsA + pc * csA, rsA, csA, mc, kc, alpha);
          kx.macro(bufA, bufB, mc, nc, kc, c + (ic * n + jc) * 4, ldc, acc, tmp);
        }
      }
    }
  }
}

/** The worker side of a node:worker_threads message port. */
export interface WorkerPort {
  /** Subscribes to messages from the creating thread. */
  on(event: "message", listener: (data: WorkerInit) => void): void;
  /** Sends a message to the creating thread. */
  postMessage(value: unknown): void;
}

/** The one message a worker receives: the compiled kernels, the memory and its thread index. */
export interface WorkerInit {
  /** The kernel module (compiled once by the creating thread). */
  module: WebAssembly.Module;
  /** The shared memory holding control block, scratch and operands. */
  memory: WebAssembly.Memory;
  /** This worker's thread index (scratch area); the creating thread is 0. */
  thread: number;
}

/**
 * Worker entry: on its one message, instantiates the kernels and serves jobs forever (blocking in
 * Atomics.wait between them) until STOP. `read` and `run` are {@linkcode readJob} and
 * {@linkcode runJob}, passed in as source.
 */
export function workerMain(read: typeof readJob, run: typeof runJob, port: WorkerPort): void {
  port.on("message", ({ module, memory, thread }) => {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const kx = instance.exports as unknown as KernelExports;
    const ctl = new Int32Array(memory.buffer, 0, 1024);
    const ctlF = new Float32Array(memory.buffer, 0, 1024);
    let seen = Atomics.load(ctl, 0);
    port.postMessage("ready");
    for (;;) {
      Atomics.wait(ctl, 0, seen);
      const gen = Atomics.load(ctl, 0);
      if (gen === seen) continue;
      if (gen & 1) {
        Atomics.wait(ctl, 0, gen); // the caller is writing a job: wait for it to publish
        continue;
      }
      if (Atomics.load(ctl, 20) !== 0) return;
      const job = read(ctl, ctlF);
      if (Atomics.load(ctl, 0) !== gen) continue; // a newer job overwrote the fields: re-read
      seen = gen;
      run(kx, job, thread, ctl);
    }
  });
}
