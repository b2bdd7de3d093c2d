/**
 * The WebGPU runtime under the ops: size buckets and buffer reuse in the pool, the memory
 * counters, use-after-free detection, dispatch batching (few submits for many ops), grids past
 * 65535 workgroups folded into 2-D, the adapter's real limits requested, the storage-binding
 * limit enforced, and flat device and heap memory over 100 training-like steps.
 */
import assert from "node:assert/strict";
import { bucketBytes } from "../../src/engine/webgpu/mod.ts";
import { attentionKernels, WGSL_SOURCES } from "../../src/engine/webgpu/kernels.ts";
import { assertClose, gpuTest, randomArray } from "./webgpu_helpers.ts";

const deviceModuleUrl = new URL("../../src/engine/webgpu/device.ts", import.meta.url).href;

Deno.test("bucketBytes rounds to 256 bytes, then to 1/8 steps of a power of two", () => {
  assert.equal(bucketBytes(0), 256);
  assert.equal(bucketBytes(1), 256);
  assert.equal(bucketBytes(257), 512);
  assert.equal(bucketBytes(4096), 4096);
  assert.equal(bucketBytes(4097), 4608); // 4096 + 512
  assert.equal(bucketBytes(1_000_000), 1_048_576 - 0); // 2^19 * 2: step 65536 -> 1048576
  for (const bytes of [5000, 123_457, 9_999_999, 2 ** 28 + 1]) {
    const bucket = bucketBytes(bytes);
    assert.ok(bucket >= bytes && bucket <= bytes * 1.126 + 256, `${bytes} -> ${bucket}`);
  }
});

gpuTest("pool: a freed buffer is reused, counters track in-use and reserved peaks", async (g) => {
  const start = g.memory();
  assert.equal(start.liveBuffers, 0);
  const a = g.alloc("f32", 1000); // 4000 bytes -> 4096 bucket
  const b = g.alloc("f32", 1000);
  let mem = g.memory();
  assert.equal(mem.inUseBytes, 8192);
  assert.equal(mem.reservedBytes, 8192);
  assert.equal(mem.liveBuffers, 2);
  g.free(a);
  mem = g.memory();
  assert.equal(mem.inUseBytes, 4096);
  assert.equal(mem.reservedBytes, 8192, "freed buffer stays pooled");
  const c = g.alloc("f32", 1010); // same bucket: reused, nothing new reserved
  assert.equal(g.memory().reservedBytes, 8192);
  assert.equal(g.memory().peakInUseBytes, 8192);
  g.free(b);
  g.free(c);
  g.resetPeak();
  assert.equal(g.memory().peakInUseBytes, 0);
  g.trim();
  assert.equal(g.memory().reservedBytes, 0);
  assert.throws(() => g.free(c), /double free/);
  assert.throws(() => g.scale({ x: c, out: c, n: 1, alpha: 1 }), /used after free/);
  await g.sync();
});

gpuTest("dispatcher: many ops go out in few submits; read and write keep call order", async (g) => {
  const n = 1000;
  const x = g.alloc("f32", n);
  g.write(x, new Float32Array(n).fill(1));
  const submits = g.dispatcher.submitCount;
  const y = g.alloc("f32", n);
  for (let i = 0; i < 100; i++) {
    g.scale({ x, out: y, n, alpha: 1 });
    g.scale({ x: y, out: x, n, alpha: 1.01 });
  }
  assert.equal(g.dispatcher.submitCount, submits, "nothing submitted before a read");
  const got = await g.read(x);
  assert.equal(g.dispatcher.submitCount, submits + 1, "one submit for 200 dispatches");
  assertClose(got, new Float32Array(n).fill(1.01 ** 100), "chain", 1e-4, 1e-4);
  // A write after enqueued ops lands after them, and before ops enqueued later.
  g.scale({ x, out: y, n, alpha: 0 });
  g.write(y, new Float32Array(n).fill(5));
  g.scale({ x: y, out: x, n, alpha: 2 });
  assertClose(await g.read(x), new Float32Array(n).fill(10), "write ordering");
  assert.ok(g.dispatcher.pipelineCount >= 1);
});

gpuTest(
  "grids past 65535 workgroups fold into 2-D (elementwise and per-row kernels)",
  async (g) => {
    assert.deepEqual(g.dispatcher.grid1d(10), [10, 1]);
    const [gx, gy] = g.dispatcher.grid1d(65536 * 3 + 7);
    assert.ok(gx <= 65535 && gy > 1 && gx * gy >= 65536 * 3 + 7);
    // 65535 * 256 + 1000 elements need 65539 workgroups of 256.
    const n = 65535 * 256 + 1000;
    const x = g.alloc("f32", n);
    g.fill({ out: x, value: 1.5 });
    const y = g.alloc("f32", n);
    g.scale({ x, out: y, n, alpha: 2 });
    const tail = await g.read(y, n - 300, 300);
    assertClose(tail, new Float32Array(300).fill(3), "tail of a folded grid");
    const head = await g.read(y, 0, 300);
    assertClose(head, new Float32Array(300).fill(3), "head of a folded grid");
    // RMSNorm over 70000 rows (one workgroup per row).
    const rows = 70000;
    const dim = 4;
    const xs = randomArray(rows * dim, 3);
    const bx = g.alloc("f32", rows * dim);
    g.write(bx, xs);
    const out = g.alloc("f32", rows * dim);
    const rstd = g.alloc("f32", rows);
    g.rmsnorm({ x: bx, out, rstd, rows, dim });
    const last = await g.read(rstd, rows - 1, 1);
    const lastRow = xs.subarray((rows - 1) * dim);
    const want = 1 / Math.sqrt(lastRow.reduce((s, v) => s + v * v, 0) / dim + 1.1920929e-7);
    assertClose(last, [want], "last row's rstd", 1e-5, 1e-4);
  },
);

gpuTest("device gets the adapter's real limits; the binding limit is enforced", async (g) => {
  const adapter = g.gpu.adapter;
  assert.equal(
    g.gpu.limits.maxStorageBufferBindingSize,
    adapter.limits.maxStorageBufferBindingSize,
  );
  assert.equal(
    g.gpu.limits.maxComputeWorkgroupStorageSize,
    adapter.limits.maxComputeWorkgroupStorageSize,
  );
  assert.equal(g.gpu.limits.maxBufferSize, adapter.limits.maxBufferSize);
  const limit = g.dispatcher.maxStorageBindingBytes;
  if (limit / 4 + 64 <= g.gpu.limits.maxBufferSize / 4 && limit <= 2 ** 30) {
    const big = g.alloc("f32", limit / 4 + 64);
    const small = g.alloc("f32", 1);
    assert.throws(
      () => g.rmsnorm({ x: big, out: big, rstd: small, rows: 1, dim: 4 }),
      /storage binding limit/,
    );
    g.free(small);
    g.free(big);
  }
  await g.sync();
});

Deno.test("createGpuDevice without an adapter explains what to do", async () => {
  // A child process told to use a WebGPU backend this OS lacks finds no adapter at all,
  // so the real no-adapter path runs on every machine, with or without a GPU.
  const script = `import { createGpuDevice } from ${JSON.stringify(deviceModuleUrl)};
try { await createGpuDevice(); console.log("adapter found"); }
catch (error) { console.log(String(error)); }`;
  const backend = Deno.build.os === "darwin" ? "dx12" : "metal";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { DENO_WEBGPU_BACKEND: backend },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.match(new TextDecoder().decode(out.stdout), /no WebGPU adapter/);
});

gpuTest("100 training-like steps leave device and heap memory flat", async (g) => {
  const [rows, dim, vocab] = [64, 32, 50];
  const w = g.alloc("f32", dim * vocab);
  g.write(w, randomArray(dim * vocab, 1, 0.1));
  const m = g.alloc("f32", dim * vocab);
  const v = g.alloc("f32", dim * vocab);
  g.fill({ out: m, value: 0 });
  g.fill({ out: v, value: 0 });
  const targets = g.alloc("i32", rows);
  g.write(targets, Int32Array.from({ length: rows }, (_, i) => i % vocab));
  let afterWarmup = g.memory();
  let heapAfterWarmup = 0;
  for (let step = 1; step <= 100; step++) {
    const x = g.alloc("f32", rows * dim);
    g.write(x, randomArray(rows * dim, step));
    const h = g.alloc("f32", rows * dim);
    const rstd = g.alloc("f32", rows);
    g.rmsnorm({ x, out: h, rstd, rows, dim });
    const logits = g.alloc("f32", rows * vocab);
    g.matmul({ a: h, b: w, c: logits, m: rows, n: vocab, k: dim });
    const losses = g.alloc("f32", rows);
    const lse = g.alloc("f32", rows);
    g.crossEntropy({ logits, targets, losses, lse, rows, vocab, softcap: 15 });
    const gl = g.alloc("f32", rows);
    g.fill({ out: gl, value: 1 / rows });
    const dlogits = g.alloc("f32", rows * vocab);
    g.crossEntropyBackward({
      logits,
      targets,
      lse,
      gradLosses: gl,
      gradLogits: dlogits,
      rows,
      vocab,
      softcap: 15,
    });
    const dw = g.alloc("f32", dim * vocab);
    g.matmul({ a: h, b: dlogits, c: dw, m: dim, n: vocab, k: rows, transA: true });
    g.adamw({
      param: w,
      grad: dw,
      m,
      v,
      n: dim * vocab,
      lr: 0.01,
      beta1: 0.8,
      beta2: 0.95,
      eps: 1e-10,
      weightDecay: 0,
      step,
    });
    for (const b of [x, h, rstd, logits, losses, lse, gl, dlogits, dw]) g.free(b);
    if (step === 10) {
      await g.sync();
      afterWarmup = g.memory();
      heapAfterWarmup = Deno.memoryUsage().heapUsed;
    }
  }
  await g.sync();
  const end = g.memory();
  assert.equal(end.liveBuffers, 4); // w, m, v, targets
  assert.equal(end.reservedBytes, afterWarmup.reservedBytes, "no new device memory after warm-up");
  assert.equal(end.peakReservedBytes, afterWarmup.peakReservedBytes);
  assert.equal(end.inUseBytes, afterWarmup.inUseBytes);
  const heapGrowth = Deno.memoryUsage().heapUsed - heapAfterWarmup;
  assert.ok(heapGrowth < 8 * 2 ** 20, `heap grew by ${heapGrowth} bytes over 90 steps`);
});

gpuTest(
  "every WGSL file compiles without errors or warnings (all attention capacities)",
  async (g) => {
    const sources: [string, string][] = Object.entries(WGSL_SOURCES);
    for (const capacity of [16, 32, 64, 128]) {
      sources.push([`attention${capacity}`, attentionKernels(capacity).forward.code]);
    }
    for (const [name, code] of sources) {
      const module = g.gpu.device.createShaderModule({ code });
      const messages = (await module.getCompilationInfo()).messages;
      assert.deepEqual(messages.map((m) => `${m.type} ${m.lineNum}: ${m.message}`), [], name);
    }
  },
);

gpuTest("ops on tensors larger than one storage binding run in aligned windows", async (g) => {
  const n = 1000;
  const [rows, vocab] = [300, 4];
  const inputs = {
    x: randomArray(n, 40, 3),
    gradOut: randomArray(n, 41),
    m: randomArray(n, 42, 0.1),
    v: randomArray(n, 43, 0.1).map(Math.abs),
    logits: randomArray(rows * vocab, 44, 5),
  };
  const targets = Int32Array.from({ length: rows }, (_, r) => (r % 7 === 0 ? -1 : r % vocab));
  // Runs every windowable op and returns all outputs.
  const runAll = async () => {
    const up = (a: Float32Array) => {
      const b = g.alloc("f32", a.length);
      g.write(b, a);
      return b;
    };
    const x = up(inputs.x);
    const y = g.alloc("f32", n);
    const gi = g.alloc("f32", n);
    const scaled = g.alloc("f32", n);
    g.fill({ out: scaled, value: 1 });
    g.scale({ x, out: scaled, n, alpha: 0.5, accumulate: true });
    g.unary({ op: "softcap", x, out: y, n, cap: 2 });
    g.unaryBackward({ op: "softcap", x, y, gradOut: up(inputs.gradOut), gradIn: gi, n, cap: 2 });
    const param = up(inputs.x);
    g.adamw({
      param,
      grad: up(inputs.gradOut),
      m: up(inputs.m),
      v: up(inputs.v),
      n,
      lr: 0.1,
      beta1: 0.8,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: 0.1,
      step: 2,
    });
    const mom = up(inputs.m);
    const nesterov = g.alloc("f32", n);
    g.muonMomentum({ grad: x, momentum: mom, out: nesterov, n, beta: 0.9 });
    const filled = g.alloc("i32", n);
    g.fill({ out: filled, value: 0 });
    g.fill({ out: filled, value: 9, offset: 70, length: 500 });
    const bt = g.alloc("i32", rows);
    g.write(bt, targets);
    const logits = up(inputs.logits);
    const losses = g.alloc("f32", rows);
    const lse = g.alloc("f32", rows);
    const grad = g.alloc("f32", rows * vocab);
    g.crossEntropy({ logits, targets: bt, losses, lse, rows, vocab, softcap: 3 });
    g.crossEntropyBackward({
      logits,
      targets: bt,
      lse,
      gradLosses: up(new Float32Array(rows).fill(1)),
      gradLogits: grad,
      rows,
      vocab,
      softcap: 3,
    });
    const outs = [scaled, y, gi, param, mom, nesterov, filled, losses, grad];
    return await Promise.all(outs.map((b) => g.read(b)));
  };
  const whole = await runAll();
  const submitsBefore = g.dispatcher.dispatchCount;
  g.dispatcher.maxStorageBindingBytes = 1024; // 256 floats per binding
  const windowed = await runAll();
  assert.ok(g.dispatcher.dispatchCount - submitsBefore > 30, "windows mean more dispatches");
  windowed.forEach((got, i) => assertClose(got, whole[i], `output ${i}`, 0, 0));
  assert.equal(windowed[6].filter((v) => v === 9).length, 500);
  assert.equal(windowed[6][69], 0);
  assert.equal(windowed[6][70], 9);
  // Ops without windows refuse such tensors with a clear message.
  const big = g.alloc("f32", 300);
  assert.throws(
    () => g.rmsnorm({ x: big, out: big, rstd: big, rows: 1, dim: 300 }),
    /binding limit/,
  );
});

gpuTest("write accepts subarrays and SharedArrayBuffer views; read returns a window", async (g) => {
  const b = g.alloc("f32", 8);
  const shared = new Float32Array(new SharedArrayBuffer(64)).map((_, i) => 100 + i);
  g.write(b, shared.subarray(2, 10));
  const part = Float32Array.from({ length: 16 }, (_, i) => i);
  g.write(b, part.subarray(4, 8), 2);
  assert.deepEqual([...await g.read(b)], [102, 103, 4, 5, 6, 7, 108, 109]);
  assert.deepEqual([...await g.read(b, 5, 2)], [7, 108]);
  assert.throws(() => g.write(b, new Float32Array(3), 6), /exceeds/);
  await assert.rejects(() => g.read(b, 7, 2), /outside/);
});
