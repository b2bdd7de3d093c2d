/**
 * The threaded driver's guarantees, checked directly on the kernels: a unit that traps is still
 * counted (with the error flag set), so a caller waiting for its units can never hang; claims
 * never take units outside the job's range, even when the counters wrap around int32.
 */
import assert from "node:assert/strict";
import {
  CTL,
  CTL_INTS,
  type Job,
  type KernelExports,
  runJob,
} from "../../src/engine/cpu/gemm/driver.ts";
import { buildGemmWasm } from "../../src/engine/cpu/gemm/kernels.ts";

function setup(): { kx: KernelExports; ctl: Int32Array; heap: Float32Array } {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
  const module = new WebAssembly.Module(buildGemmWasm(false, 64));
  const kx = new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as KernelExports;
  const ctl = new Int32Array(memory.buffer, 0, CTL_INTS);
  ctl[CTL.READY] = 2; // both batch items' operands are in place
  return { kx, ctl, heap: new Float32Array(memory.buffer) };
}

/** A 2-item batch of 4x4x4 products of ones (A, B, C past the control block), scratch at 64 KiB. */
function job(base: number, overrides: Partial<Job> = {}): Job {
  return {
    m: 4,
    n: 4,
    k: 4,
    transA: false,
    transB: false,
    aBase: 16384,
    bBase: 20480,
    cBase: 24576,
    strideA: 64,
    strideB: 64,
    mParts: 1,
    nParts: 1,
    chunkM: 4,
    chunkN: 4,
    alpha: 1,
    accumulate: 0,
    base,
    end: (base + 2) | 0,
    MC: 120,
    KC: 256,
    NC: 1024,
    scratchBase: 65536,
    scratchBytes: 0,
    ...overrides,
  };
}

Deno.test("gemm driver: units claimed across the int32 wrap-around, each counted once", () => {
  const { kx, ctl, heap } = setup();
  heap.fill(1, 16384 / 4, (20480 + 128) / 4); // A and B of both items: ones
  const base = 2 ** 31 - 1; // the claim counter wraps in the middle of this job
  ctl[CTL.NEXT] = base | 0;
  ctl[CTL.DONE] = 0x7fffffff;
  runJob(kx, job(base | 0), 0, ctl);
  assert.equal(ctl[CTL.NEXT], (base + 2) | 0);
  assert.equal(ctl[CTL.DONE], (0x7fffffff + 2) | 0);
  assert.deepEqual(Array.from(heap.subarray(24576 / 4, 24576 / 4 + 32)), new Array(32).fill(4));
  assert.deepEqual([ctl[CTL.ITEM_DONE], ctl[CTL.ITEM_DONE + 1]], [1, 1]); // one unit per item
  // A worker still holding this (finished) job claims nothing from the next one.
  runJob(kx, job(base | 0), 0, ctl);
  assert.equal(ctl[CTL.NEXT], (base + 2) | 0);
  assert.equal(ctl[CTL.ERROR], 0);
});

Deno.test("gemm driver: a trapping unit sets the error flag and is still counted", () => {
  const { kx, ctl } = setup();
  // B lies past the end of the 4 MiB memory: the kernels trap on every unit.
  runJob(kx, job(0, { bBase: 64 * 65536 + 4096 }), 0, ctl);
  assert.equal(ctl[CTL.ERROR], 1);
  assert.equal(ctl[CTL.DONE], 2);
  assert.equal(ctl[CTL.NEXT], 2);
  // Without the shared counters (the single-thread path) the trap reaches the caller.
  assert.throws(() => runJob(kx, job(0, { bBase: 64 * 65536 + 4096 }), 0, null));
});
