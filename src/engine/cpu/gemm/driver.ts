/**
 * The blocked sgemm loop that runs on the calling thread and on every worker: it claims work
 * units (a batch item's block of C) from a shared atomic counter and runs the WebAssembly pack
 * and macro kernels on them. It must stay self-contained (no imports, no outer variables): the
 * worker receives it as source text via `Function.prototype.toString`.
 *
 * @module
 */

/** Int32 slots of the control block at byte 0 of the shared memory. */
export const CTL = {
  /** Job generation: bumped by the caller to wake workers. */
  GEN: 0,
  /** Next unclaimed work unit. */
  NEXT: 1,
  /** Workers finished with the current job. */
  DONE: 2,
  UNITS: 3,
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
} as const;

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

/**
 * Claims and computes work units until none are left. `ctl` and `ctlF` view the control block;
 * `thread` picks this thread's scratch area. C in shared memory is dense: `m*n` per batch item.
 */
export function runUnits(
  kx: KernelExports,
  ctl: Int32Array,
  ctlF: Float32Array,
  thread: number,
): void {
  const m = ctl[4], n = ctl[5], k = ctl[6];
  const transA = ctl[7] !== 0, transB = ctl[8] !== 0;
  const aBase = ctl[9], bBase = ctl[10], cBase = ctl[11];
  const strideA = ctl[12], strideB = ctl[13];
  const mParts = ctl[14], nParts = ctl[15], chunkM = ctl[16], chunkN = ctl[17];
  const alpha = ctlF[18], accumulateFirst = ctl[19];
  const MC = ctl[21], KC = ctl[22], NC = ctl[23];
  const scratch = ctl[24] + thread * ctl[25];
  const bufA = scratch, bufB = scratch + MC * KC * 4, tmp = bufB + KC * NC * 4;
  const units = ctl[3];
  // Byte strides of op(A)(i,p) and op(B)(p,j) in the dense copies.
  const rsA = transA ? 4 : k * 4, csA = transA ? m * 4 : 4;
  const rsB = transB ? 4 : n * 4, csB = transB ? k * 4 : 4;
  const ldc = n * 4;
  for (;;) {
    const u = Atomics.add(ctl, 1, 1);
    if (u >= units) return;
    const perItem = mParts * nParts;
    const t = Math.floor(u / perItem), rest = u - t * perItem;
    const mi = Math.floor(rest / nParts), ni = rest - mi * nParts;
    const i0 = mi * chunkM, i1 = Math.min(m, i0 + chunkM);
    const j0 = ni * chunkN, j1 = Math.min(n, j0 + chunkN);
    const a = aBase + t * strideA, b = bBase + t * strideB, c = cBase + t * m * n * 4;
    for (let jc = j0; jc < j1; jc += NC) {
      const nc = Math.min(NC, j1 - jc);
      for (let pc = 0; pc < k; pc += KC) {
        const kc = Math.min(KC, k - pc);
        kx.packB(bufB, b + pc * rsB + jc * csB, rsB, csB, kc, nc);
        const acc = pc > 0 ? 1 : accumulateFirst;
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
 * Atomics.wait between them) until STOP. `run` is {@linkcode runUnits}, passed in as source.
 */
export function workerMain(run: typeof runUnits, port: WorkerPort): void {
  port.on("message", ({ module, memory, thread }) => {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const kx = instance.exports as unknown as KernelExports;
    const ctl = new Int32Array(memory.buffer, 0, 64);
    const ctlF = new Float32Array(memory.buffer, 0, 64);
    let seen = Atomics.load(ctl, 0);
    port.postMessage("ready");
    for (;;) {
      Atomics.wait(ctl, 0, seen);
      const gen = Atomics.load(ctl, 0);
      if (gen === seen) continue;
      seen = gen;
      if (Atomics.load(ctl, 20) !== 0) return;
      run(kx, ctl, ctlF, thread);
      Atomics.add(ctl, 2, 1);
      Atomics.notify(ctl, 2);
    }
  });
}
