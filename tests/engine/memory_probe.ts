/**
 * Run by memory_test.ts in its own process (`--v8-flags=--expose-gc`, argument: cpu | webgpu):
 * 100 training steps of the tiny model, printing one JSON line with the loss curve ends and,
 * every 10 steps, backend byte counters and the V8 heap after a full GC.
 */
import { createCpuBackend } from "../../src/engine/cpu/backend.ts";
import type { Backend } from "../../src/engine/backend.ts";
import { tinyBatch, TinyModel } from "./tiny_model.ts";

const kind = Deno.args[0] ?? "cpu";
let be: Backend;
if (kind === "webgpu") {
  const specifier = "../../src/engine/webgpu/mod.ts";
  const mod = await import(specifier);
  be = await mod.createWebGpuBackend();
} else {
  be = await createCpuBackend();
}
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

const model = new TinyModel(be);
const { ids, targets } = tinyBatch();
const losses: number[] = [];
const samples = [];
for (let step = 1; step <= 100; step++) {
  losses.push(await model.step(ids, targets));
  if (step % 10 === 0) {
    await be.sync();
    gc();
    const m = be.memory(), u = Deno.memoryUsage();
    samples.push({
      step,
      inUseBytes: m.inUseBytes,
      reservedBytes: m.reservedBytes,
      liveBuffers: m.liveBuffers,
      heapUsed: u.heapUsed,
      external: u.external,
    });
  }
}
model.dispose();
const end = be.memory();
be.destroy();
console.log(JSON.stringify({ first: losses[0], last: losses[99], samples, end }));
