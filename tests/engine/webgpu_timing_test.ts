/**
 * Device timing (src/engine/webgpu/timing.ts): GPU timestamps around one pass, the wall-clock
 * fallback when the measured work leaves the pass, and the per-kernel profiler, checked for
 * consistency with the dispatcher's counts and for leaving results intact.
 */
import assert from "node:assert/strict";
import { assertClose, gpuTest, randomArray } from "./webgpu_helpers.ts";
import { DispatchProfiler, timeOnDevice } from "../../src/engine/webgpu/timing.ts";
import type { WebGpuBackend } from "../../src/engine/webgpu/mod.ts";

function square(g: WebGpuBackend, n: number, seed: number) {
  const a = g.alloc("f32", n * n);
  g.write(a, randomArray(n * n, seed));
  return a;
}

gpuTest("timeOnDevice: GPU timestamps, more work takes longer, results intact", async (g) => {
  const small = [square(g, 64, 1), square(g, 64, 2), g.alloc("f32", 64 * 64)];
  const large = [square(g, 384, 3), square(g, 384, 4), g.alloc("f32", 384 * 384)];
  const mm = (n: number, [a, b, c]: typeof small) => () => g.matmul({ a, b, c, m: n, n, k: n });
  await timeOnDevice(g, mm(384, large)); // compile outside the measurement
  await timeOnDevice(g, mm(64, small));
  const fast = await timeOnDevice(g, mm(64, small), 2);
  const slow = await timeOnDevice(g, mm(384, large), 2);
  assert.equal(fast.source, "timestamp", "lavapipe and real GPUs offer timestamp-query");
  assert.equal(slow.source, "timestamp");
  assert.ok(fast.ms > 0 && slow.ms > 0, `times ${fast.ms}, ${slow.ms}`);
  // 216x the multiply-adds: clearly slower even on a loaded software adapter, whose threads
  // share the cores with everything else (a 64^3 product has been seen taking 6 ms there).
  assert.ok(slow.ms > 4 * fast.ms, `384^3 took ${slow.ms} ms, 64^3 ${fast.ms} ms`);
  // The measured matmul really ran: C = A B.
  const [a, b, c] = await Promise.all(small.map((x) => g.read(x)));
  const want = new Float64Array(64 * 64);
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 64; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum += a[i * 64 + k] * b[k * 64 + j];
      want[i * 64 + j] = sum;
    }
  }
  assertClose(c, want, "timed matmul");
});

gpuTest("timeOnDevice: work that leaves the pass is timed by the wall clock", async (g) => {
  const x = g.alloc("f32", 1024);
  const y = g.alloc("f32", 1024);
  const data = randomArray(1024, 5);
  // A host write submits pending work and ends the pass: the timestamps would not cover it.
  const timing = await timeOnDevice(g, () => {
    g.write(x, data);
    g.scale({ x, out: y, n: 1024, alpha: 2, accumulate: false });
  });
  assert.equal(timing.source, "wall");
  assert.ok(timing.ms >= 0);
  assertClose(await g.read(y), data.map((v) => 2 * v), "scaled");
});

gpuTest("DispatchProfiler: per-kernel device time matches the dispatch counts", async (g) => {
  const profiler = new DispatchProfiler(g.gpu.device);
  const n = 4096;
  const x = g.alloc("f32", n);
  const out = g.alloc("f32", n);
  g.write(x, randomArray(n, 6));
  g.dispatcher.resetCounts();
  g.dispatcher.profiler = profiler;
  try {
    // More dispatches than one query set holds (2048 passes): the profiler submits and goes on.
    for (let i = 0; i < 2100; i++) g.fill({ out, value: i });
    for (let i = 0; i < 3; i++) g.scale({ x, out, n, alpha: 0.5, accumulate: true });
    await g.sync();
  } finally {
    g.dispatcher.profiler = null;
  }
  const times = await profiler.collect();
  profiler.destroy();
  const byKernel = new Map(times.map((t) => [t.kernel, t]));
  assert.deepEqual(
    [...byKernel.keys()].sort(),
    [...g.dispatcher.kernelCounts.keys()].sort(),
  );
  for (const [kernel, count] of g.dispatcher.kernelCounts) {
    assert.equal(byKernel.get(kernel)!.dispatches, count, kernel);
    assert.ok(byKernel.get(kernel)!.ms > 0, `${kernel} has device time`);
  }
  assert.equal(g.dispatcher.kernelCounts.get("elementwise.fill"), 2100);
  assert.equal(g.dispatcher.kernelCounts.get("elementwise.scale"), 3);
  // Results are those of the unprofiled path: out = 2099 + 3 * 0.5 x.
  const xs = await g.read(x);
  assertClose(await g.read(out), xs.map((v) => 2099 + 1.5 * v), "profiled ops");
});
