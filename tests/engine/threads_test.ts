/**
 * The CPU backend's row-parallel worker threads: cross-entropy forward and backward (overwrite
 * and accumulate) and attention (head transposes, softmax rows) split over 3 threads give
 * bit-identical results to one thread (whichever thread claims which chunk of rows), and bad
 * targets are rejected before any worker runs.
 */
import assert from "node:assert/strict";
import { createCpuBackend } from "../../src/engine/cpu/backend.ts";
import type { Backend } from "../../src/engine/backend.ts";
import { attentionForwardBackward, Rng } from "./helpers.ts";

async function crossEntropyOn(be: Backend, rows: number, vocab: number) {
  const rng = new Rng(23);
  const logits = be.alloc("f32", rows * vocab);
  be.write(logits, rng.uniform(rows * vocab, -30, 30));
  const targets = be.alloc("i32", rows);
  be.write(
    targets,
    Int32Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? -1 : (i * 31) % vocab)),
  );
  const gradLosses = be.alloc("f32", rows);
  be.write(gradLosses, rng.uniform(rows));
  const losses = be.alloc("f32", rows), lse = be.alloc("f32", rows);
  const grad = be.alloc("f32", rows * vocab);
  be.crossEntropy({ logits, targets, losses, lse, rows, vocab, softcap: 15 });
  const common = { logits, targets, lse, gradLosses, gradLogits: grad, rows, vocab, softcap: 15 };
  be.crossEntropyBackward(common);
  be.crossEntropyBackward({ ...common, accumulate: true });
  return { losses: await be.read(losses), grad: await be.read(grad) };
}

Deno.test("threads: row-parallel cross-entropy equals the single-thread result exactly", async () => {
  const one = await createCpuBackend({ threads: 1 });
  const three = await createCpuBackend({ threads: 3 });
  assert.match(three.info.device, /3 row threads/);
  assert.doesNotMatch(one.info.device, /row threads/);
  try {
    // 71 x 4099 logits: above the parallel threshold, uneven split, vocab not a multiple of 4
    const a = await crossEntropyOn(one, 71, 4099);
    const b = await crossEntropyOn(three, 71, 4099);
    assert.deepEqual(b.losses, a.losses);
    assert.deepEqual(b.grad, a.grad);
    // a second call reuses the running workers
    const c = await crossEntropyOn(three, 71, 4099);
    assert.deepEqual(c.grad, a.grad);
  } finally {
    one.destroy();
    three.destroy();
  }
});

Deno.test("threads: rows shared out in chunks, fewer rows than threads, equal one thread", async () => {
  const one = await createCpuBackend({ threads: 1 });
  const four = await createCpuBackend({ threads: 4 });
  try {
    // 3 rows x 100003 logits: parallel (>= 2^18 logits) with one-row chunks and an idle thread
    const a = await crossEntropyOn(one, 3, 100003);
    const b = await crossEntropyOn(four, 3, 100003);
    assert.deepEqual(b.losses, a.losses);
    assert.deepEqual(b.grad, a.grad);
    // 97 rows: chunks of 7 rows, the last one short
    const c = await crossEntropyOn(one, 97, 4096);
    const d = await crossEntropyOn(four, 97, 4096);
    assert.deepEqual(d.losses, c.losses);
    assert.deepEqual(d.grad, c.grad);
  } finally {
    one.destroy();
    four.destroy();
  }
});

Deno.test("threads: a target past the vocabulary is rejected on the calling thread", async () => {
  const be = await createCpuBackend({ threads: 2 });
  try {
    const rows = 64, vocab = 8192;
    const logits = be.alloc("f32", rows * vocab);
    be.fill({ out: logits, value: 0 });
    const targets = be.alloc("i32", rows);
    be.fill({ out: targets, value: vocab });
    const losses = be.alloc("f32", rows), lse = be.alloc("f32", rows);
    assert.throws(
      () => be.crossEntropy({ logits, targets, losses, lse, rows, vocab, softcap: 0 }),
      /target 8192 >= vocab 8192/,
    );
  } finally {
    be.destroy();
  }
});

Deno.test("threads: attention transposes and softmax rows over threads equal one thread", async () => {
  // 4 x 256 x 4 x 64 = 2^18 elements: both the transposes and the softmax blocks go parallel
  const geo = { batch: 4, seq: 256, heads: 4, headDim: 64, window: 150 };
  const n = 4 * 256 * 4 * 64;
  const rng = new Rng(31);
  const inputs = [rng.uniform(n, -2, 2), rng.uniform(n, -2, 2), rng.uniform(n), rng.uniform(n)];
  const results: Float32Array[][] = [];
  for (const threads of [1, 3]) {
    const be = await createCpuBackend({ threads });
    try {
      results.push(await attentionForwardBackward(be, inputs, geo));
    } finally {
      be.destroy();
    }
  }
  results[0].forEach((a, i) => assert.deepEqual(results[1][i], a, `tensor ${i}`));
});
