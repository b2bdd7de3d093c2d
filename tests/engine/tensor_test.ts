/**
 * The autograd frontend's lifetimes and accumulation rules: Parameter gradients accumulate
 * across backward passes until zeroGrad, a tape frees everything it allocated, misuse is
 * reported, and createBackend picks the right backend.
 */
import assert from "node:assert/strict";
import {
  attention,
  createBackend,
  createCpuBackend,
  linear,
  mean,
  mul,
  Parameter,
  sum,
  Tape,
} from "../../src/engine/mod.ts";
import { detectGpu } from "../../src/platform/mod.ts";
import { assertClose, Rng } from "./helpers.ts";

Deno.test("tensor: parameter gradients accumulate over backward passes until zeroGrad", async () => {
  const be = await createCpuBackend();
  const w = new Parameter(be, [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6));
  const once = () => {
    using tape = new Tape(be);
    const x = tape.tensor([1, 3], [1, 1, 1]);
    tape.backward(sum(linear(x, w)));
  };
  once();
  assert.deepEqual([...await w.readGrad()], [1, 1, 1, 1, 1, 1]);
  once();
  assert.deepEqual([...await w.readGrad()], [2, 2, 2, 2, 2, 2]);
  w.zeroGrad();
  assert.equal(w.grad, null);
  once();
  assert.deepEqual([...await w.readGrad()], [1, 1, 1, 1, 1, 1]);
  w.dispose();
  assert.equal(be.memory().liveBuffers, 0);
  be.destroy();
});

Deno.test("tensor: backward seed scales gradients (micro-step averaging)", async () => {
  const be = await createCpuBackend();
  const w = new Parameter(be, [3], Float32Array.of(1, 2, 3));
  {
    using tape = new Tape(be);
    tape.backward(sum(mul(tape.use(w), tape.tensor([3], [2, 2, 2]))), 0.25);
  }
  assert.deepEqual([...await w.readGrad()], [0.5, 0.5, 0.5]);
  w.dispose();
  be.destroy();
});

Deno.test("tensor: a tape frees every buffer; misuse throws", async () => {
  const be = await createCpuBackend();
  const w = new Parameter(be, [4, 4], new Rng(1).uniform(16));
  const base = be.memory().liveBuffers;
  const tape = new Tape(be);
  const y = linear(tape.tensor([2, 4], new Rng(2).uniform(8)), w);
  assert.throws(() => tape.backward(y), /1/); // not a scalar
  const loss = mean(y);
  tape.backward(loss);
  assert.throws(() => tape.backward(loss), /already/);
  assert.ok(be.memory().liveBuffers > base);
  tape.dispose();
  assert.equal(be.memory().liveBuffers, base + 1); // + w's gradient
  assert.throws(() => tape.tensor([1], [1]), /dispose/);
  {
    using t2 = new Tape(be);
    assert.throws(() => t2.backward(sum(t2.tensor([2], [1, 2]))), /parameter/);
  }
  assert.throws(() => linear(w, w), /Tape/); // no input comes from a tape
  w.dispose();
  assert.equal(be.memory().liveBuffers, 0);
  be.destroy();
});

Deno.test("tensor: inference tapes record nothing and still free everything", async () => {
  const be = await createCpuBackend();
  const w = new Parameter(be, [4, 4], new Rng(1).uniform(16));
  {
    using tape = new Tape(be, { grad: false });
    const y = linear(tape.tensor([2, 4], new Rng(2).uniform(8)), w);
    assert.equal(y.requiresGrad, false);
    assert.equal((await y.read()).length, 8);
  }
  assert.equal(be.memory().liveBuffers, 1);
  w.dispose();
  be.destroy();
});

Deno.test("tensor: attention gradients with mixed accumulate states stay correct", async () => {
  // q's gradient already holds a value (accumulate) while k's and v's are fresh.
  const be = await createCpuBackend();
  const rng = new Rng(9);
  const shape = [1, 4, 1, 2];
  const q = new Parameter(be, shape, rng.uniform(8));
  const k = new Parameter(be, shape, rng.uniform(8));
  const v = new Parameter(be, shape, rng.uniform(8));
  const grads = () => Promise.all([q, k, v].map((p) => p.readGrad()));
  const pass = () => {
    using tape = new Tape(be);
    tape.backward(sum(attention(tape.use(q), tape.use(k), tape.use(v))));
  };
  pass();
  const [gq, gk, gv] = await grads();
  k.zeroGrad();
  v.zeroGrad();
  pass();
  const [gq2, gk2, gv2] = await grads();
  assertClose(gq2, gq.map((x) => 2 * x), 1e-6, 1e-6, "dq doubled");
  assertClose(gk2, gk, 1e-6, 1e-6, "dk fresh");
  assertClose(gv2, gv, 1e-6, 1e-6, "dv fresh");
  for (const p of [q, k, v]) p.dispose();
  be.destroy();
});

Deno.test("createBackend: cpu is forced; auto picks CPU unless a real GPU exists", async () => {
  const cpu = await createBackend("cpu");
  assert.equal(cpu.info.name, "cpu");
  cpu.destroy();
  const gpu = await detectGpu();
  const auto = await createBackend("auto");
  assert.equal(auto.info.name, gpu && !gpu.isFallbackAdapter ? "webgpu" : "cpu");
  auto.destroy();
});

Deno.test("tensor: Parameter factories are seeded and have the asked statistics", async () => {
  const be = await createCpuBackend();
  const z = Parameter.zeros(be, [3, 4], { name: "z" });
  assert.deepEqual([...await z.read()], new Array(12).fill(0));
  assert.equal(z.name, "z");
  const u1 = Parameter.uniform(be, [100, 100], 0.5, { seed: 7 });
  const u2 = Parameter.uniform(be, [100, 100], 0.5, { seed: 7 });
  const a = await u1.read(), b = await u2.read();
  assert.deepEqual(a, b, "same seed, same values");
  assert.ok(a.every((x) => x >= -0.5 && x < 0.5));
  const n = await Parameter.normal(be, [101, 99], 2, { seed: 3, requiresGrad: false }).read();
  const mean = n.reduce((s, x) => s + x, 0) / n.length;
  const std = Math.sqrt(n.reduce((s, x) => s + (x - mean) ** 2, 0) / n.length);
  assert.ok(Math.abs(mean) < 0.05 && Math.abs(std - 2) < 0.05, `mean ${mean}, std ${std}`);
  be.destroy();
});
