/**
 * Every attention variant (src/engine/webgpu/attention_variants.ts), forward and backward, on a
 * real adapter against an f64 reference: odd sequence lengths, windows shorter than the
 * sequence, head dims that are not powers of two (and one not divisible by 4, which only scalar
 * variants support), gradients overwritten and accumulated. Then the attention tuner
 * (attention_tune.ts): it times every supporting variant, a wrong variant never wins, the
 * choice is cached per adapter and reused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose, gpuTest, randomArray } from "./webgpu_helpers.ts";
import {
  ATTENTION_VARIANTS,
  type AttentionShape,
  type AttentionVariant,
  attentionVariantSharedBytes,
  attentionVariantWgsl,
  tiledAttentionVariant,
} from "../../src/engine/webgpu/attention_variants.ts";
import {
  applyAttentionTuning,
  attentionAdapterKey,
  attentionAdapterKeyOf,
  attentionShapeKey,
  readAttentionAdapterTuning,
  tuneAttention,
  tuneAttentionAtFirstUse,
} from "../../src/engine/webgpu/attention_tune.ts";
import { ELEMENTWISE } from "../../src/engine/webgpu/kernels.ts";
import type { WebGpuBackend } from "../../src/engine/webgpu/mod.ts";

/** Attention and its gradients in f64, straight from the definition. */
function reference(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dO: Float32Array,
  shape: AttentionShape,
) {
  const { batch, seq, heads, headDim: dim, window } = shape;
  const n = q.length;
  const out = new Float64Array(n);
  const lse = new Float64Array(batch * heads * seq);
  const dq = new Float64Array(n);
  const dk = new Float64Array(n);
  const dv = new Float64Array(n);
  const scale = 1 / Math.sqrt(dim);
  const at = (b: number, t: number, h: number) => ((b * seq + t) * heads + h) * dim;
  const dot = (x: Float32Array, i: number, y: Float32Array, j: number) => {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += x[i + d] * y[j + d];
    return sum;
  };
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < seq; i++) {
        const keys: number[] = [];
        for (let j = Math.max(0, i - window); j <= i; j++) keys.push(j);
        const s = keys.map((j) => dot(q, at(b, i, h), k, at(b, j, h)) * scale);
        const max = Math.max(...s);
        const sum = s.reduce((acc, x) => acc + Math.exp(x - max), 0);
        const p = s.map((x) => Math.exp(x - max) / sum);
        lse[(b * heads + h) * seq + i] = max + Math.log(sum);
        const dp = keys.map((j) => dot(dO, at(b, i, h), v, at(b, j, h)));
        const delta = p.reduce((acc, pi, idx) => acc + pi * dp[idx], 0);
        keys.forEach((j, idx) => {
          const ds = p[idx] * (dp[idx] - delta) * scale;
          for (let d = 0; d < dim; d++) {
            out[at(b, i, h) + d] += p[idx] * v[at(b, j, h) + d];
            dv[at(b, j, h) + d] += p[idx] * dO[at(b, i, h) + d];
            dq[at(b, i, h) + d] += ds * k[at(b, j, h) + d];
            dk[at(b, j, h) + d] += ds * q[at(b, i, h) + d];
          }
        });
      }
    }
  }
  return { out, lse, dq, dk, dv };
}

/** Random inputs of a shape on the device, with output buffers. */
function problem(g: WebGpuBackend, shape: AttentionShape, seed: number) {
  const n = shape.batch * shape.seq * shape.heads * shape.headDim;
  const host = {
    q: randomArray(n, seed),
    k: randomArray(n, seed + 1),
    v: randomArray(n, seed + 2),
    dO: randomArray(n, seed + 3),
  };
  const upload = (a: Float32Array) => {
    const buffer = g.alloc("f32", a.length);
    g.write(buffer, a);
    return buffer;
  };
  const device = {
    q: upload(host.q),
    k: upload(host.k),
    v: upload(host.v),
    gradOut: upload(host.dO),
    out: g.alloc("f32", n),
    lse: g.alloc("f32", shape.batch * shape.heads * shape.seq),
    gradQ: g.alloc("f32", n),
    gradK: g.alloc("f32", n),
    gradV: g.alloc("f32", n),
  };
  return { n, host, device };
}

// Odd lengths, windows below the length (and 0: each query sees only itself) and below a tile,
// head dims that are not powers of two; 12 and 40 take vec4 loads, 6 only scalar ones.
const CASES: AttentionShape[] = [
  { batch: 1, heads: 2, seq: 37, headDim: 12, window: 5 },
  { batch: 2, heads: 1, seq: 70, headDim: 40, window: 69 },
  { batch: 1, heads: 3, seq: 23, headDim: 6, window: 9 },
  { batch: 1, heads: 1, seq: 19, headDim: 8, window: 0 },
  // Several query blocks and key tiles of every variant: a window that starts mid-tile, rows
  // whose first tiles are all masked, the running max rescaled across tiles.
  { batch: 1, heads: 2, seq: 100, headDim: 16, window: 40 },
  // The GPU recipe's head dim (capacity exactly 128; variants above this adapter's workgroup
  // memory at 128 refuse it).
  { batch: 1, heads: 1, seq: 45, headDim: 128, window: 20 },
];

for (const variant of ATTENTION_VARIANTS) {
  gpuTest(`attention variant ${variant.id}: forward and backward match f64`, async (g) => {
    g.forcedAttentionVariant = variant;
    let ran = 0;
    for (const [index, shape] of CASES.entries()) {
      if (!variant.supports(shape, g.matmulCaps)) {
        // Only a head dim vec4 loads cannot take, or more workgroup memory than the adapter has.
        const bytes = attentionVariantSharedBytes(variant, shape.headDim);
        assert.ok(
          (variant.params.pack === 4 && shape.headDim % 4 !== 0) ||
            bytes > g.matmulCaps.maxComputeWorkgroupStorageSize,
          `${variant.id} refused d=${shape.headDim}`,
        );
        assert.throws(() => g.attention({ ...problem(g, shape, 1).device, ...shape }), /support/);
        continue;
      }
      ran++;
      const { n, host, device } = problem(g, shape, 10 * index + 3);
      const want = reference(host.q, host.k, host.v, host.dO, shape);
      const common = { ...device, ...shape };
      g.attention(common);
      // Gradients start as NaN: a kernel that skips an element cannot pass.
      for (const grad of [device.gradQ, device.gradK, device.gradV]) {
        g.fill({ out: grad, value: Number.NaN });
      }
      g.attentionBackward(common);
      const what = (name: string) => `${variant.id} seq=${shape.seq} d=${shape.headDim} ${name}`;
      assertClose(await g.read(device.out), want.out, what("out"), 1e-5, 1e-4);
      assertClose(await g.read(device.lse), want.lse, what("lse"), 1e-5, 1e-4);
      assertClose(await g.read(device.gradQ), want.dq, what("dq"), 1e-5, 1e-3);
      assertClose(await g.read(device.gradK), want.dk, what("dk"), 1e-5, 1e-3);
      assertClose(await g.read(device.gradV), want.dv, what("dv"), 1e-5, 1e-3);
      if (index === 0) {
        // Accumulate: the gradients add to what the buffers hold (here, the gradients).
        g.attentionBackward({ ...common, accumulate: true });
        const twice = (a: Float64Array) => a.map((x) => 2 * x);
        assertClose(await g.read(device.gradQ), twice(want.dq), what("dq +="), 1e-5, 1e-3);
        assertClose(await g.read(device.gradK), twice(want.dk), what("dk +="), 1e-5, 1e-3);
        assertClose(await g.read(device.gradV), twice(want.dv), what("dv +="), 1e-5, 1e-3);
      }
      assert.ok(n > 0);
    }
    assert.ok(ran >= 4, `${variant.id} ran ${ran} cases`);
  });
}

gpuTest("attention variants: ids are unique, the WGSL of each compiles cleanly", async (g) => {
  assert.equal(new Set(ATTENTION_VARIANTS.map((v) => v.id)).size, ATTENTION_VARIANTS.length);
  assert.equal(ATTENTION_VARIANTS[0].params.pack, 1, "the default takes any head dim");
  for (const variant of ATTENTION_VARIANTS) {
    for (const code of attentionVariantWgsl(variant, 128)) {
      const module = g.gpu.device.createShaderModule({ code });
      const messages = (await module.getCompilationInfo()).messages;
      assert.deepEqual(messages.map((m) => `${m.type} ${m.lineNum}: ${m.message}`), [], variant.id);
    }
  }
});

gpuTest("attention variants: supports() is honest about workgroup memory", (g) => {
  const shape: AttentionShape = { batch: 1, heads: 1, seq: 64, headDim: 128, window: 64 };
  for (const variant of ATTENTION_VARIANTS) {
    const bytes = attentionVariantSharedBytes(variant, shape.headDim);
    const caps = { ...g.matmulCaps, maxComputeWorkgroupStorageSize: bytes };
    assert.ok(variant.supports(shape, caps), variant.id);
    assert.ok(!variant.supports(shape, { ...caps, maxComputeWorkgroupStorageSize: bytes - 4 }));
  }
  // The backend refuses clearly when nothing fits (a device with 1 KiB of workgroup memory).
  const tiny = { ...g.matmulCaps, maxComputeWorkgroupStorageSize: 1024 };
  assert.ok(ATTENTION_VARIANTS.every((v) => !v.supports(shape, tiny)));
  return Promise.resolve();
});

gpuTest("tiled attention variants: the GPU recipe's shape fits 48 KiB, one fits 32 KiB", (g) => {
  // Batch 16, 4 heads of 128, seq 2048, the short window (what an H100 runs through Vulkan).
  const shape: AttentionShape = { batch: 16, heads: 4, seq: 2048, headDim: 128, window: 1024 };
  const tiled = ATTENTION_VARIANTS.filter((v) => v.tiled);
  assert.ok(tiled.length >= 5 && tiled.some((v) => v.tiledBackward), "the tiled family is there");
  const caps = (kib: number) => ({ ...g.matmulCaps, maxComputeWorkgroupStorageSize: kib * 1024 });
  for (const variant of tiled) {
    assert.ok(variant.supports(shape, caps(48)), variant.id);
    assert.ok(variant.id.startsWith("attn-tiled-q") && variant.id.endsWith("-v4"), variant.id);
    // vec4 throughout: a head dim that is not a multiple of 4 is refused.
    assert.ok(!variant.supports({ ...shape, headDim: 126 }, caps(48)), variant.id);
  }
  assert.ok(tiled.some((v) => v.tiledBackward && v.supports(shape, caps(32))));
  return Promise.resolve();
});

Deno.test("tiled attention variants: malformed parameters are refused when the catalogue is built", () => {
  const forward = { queryRows: 32, keyTile: 32, blockRows: 4, blockKeys: 4, sharedKv: true };
  const backward = ATTENTION_VARIANTS[1].params;
  const block = { ownRows: 32, tileRows: 32, blockRows: 4, blockCols: 4 };
  const make = (f = forward, b?: typeof block & { chunk?: number }) =>
    tiledAttentionVariant(f, backward, "test", b);
  assert.equal(
    make(forward, { ...block, chunk: 32 }).id,
    "attn-tiled-q32-k32-r4x4-kv-b32x32-r4x4-c32-v4",
  );
  assert.throws(() => make({ ...forward, blockRows: 3 }), /divide/);
  assert.throws(() => make({ ...forward, keyTile: 0 }), /positive/);
  assert.throws(() => make(forward, { ...block, blockCols: 5 }), /divide/);
  // G = 32 / 4 = 8 invocations per row: a chunk must hold a multiple of 4 * 8 floats.
  assert.throws(() => make(forward, { ...block, chunk: 16 }), /chunk/);
  assert.throws(
    () => tiledAttentionVariant(forward, ATTENTION_VARIANTS[0].params, "scalar"),
    /vec4/,
  );
});

/** Fast and wrong: writes zeros to the output and gradients. */
function zerosVariant(): AttentionVariant {
  const zero = (
    recorder: Parameters<AttentionVariant["recordForward"]>[1],
    buffer: { buffer: GPUBuffer },
    elements: number,
  ) => {
    const u = new Uint32Array(28);
    u.set([elements, 0, 0, 0]);
    recorder.dispatch(ELEMENTWISE.fill, u, [buffer], [Math.ceil(elements / 1024), 1, 1]);
  };
  const size = (s: AttentionShape) => s.batch * s.heads * s.seq * s.headDim;
  return {
    ...ATTENTION_VARIANTS[0],
    id: "test-zeros",
    description: "writes zeros (a broken kernel)",
    recordForward(launch, recorder) {
      zero(recorder, launch.out, size(launch.shape));
      zero(recorder, launch.lse, launch.shape.batch * launch.shape.heads * launch.shape.seq);
    },
    recordBackward(launch, recorder) {
      for (const grad of [launch.gradQ, launch.gradK, launch.gradV]) {
        zero(recorder, grad, size(launch.shape));
      }
    },
  };
}

const SHAPES: AttentionShape[] = [
  { batch: 2, heads: 2, seq: 48, headDim: 16, window: 20 },
];
const quiet = () => {};

gpuTest("tuneAttention: times the supporting variants, rejects a wrong one, caches", async (g) => {
  const dir = await Deno.makeTempDir();
  const cachePath = join(dir, "attention-tune.json");
  // Three variants keep this fast on lavapipe: the default, a correct one, a wrong one.
  const variants = [ATTENTION_VARIANTS[0], ATTENTION_VARIANTS[1], zerosVariant()];
  try {
    const first = await tuneAttention(g, SHAPES, { cachePath, log: quiet, variants });
    assert.equal(first.measured, 1);
    const entry = first.entries[attentionShapeKey(SHAPES[0])];
    assert.deepEqual(entry.candidates.map((c) => c.id), variants.map((v) => v.id));
    const zeros = entry.candidates.find((c) => c.id === "test-zeros")!;
    assert.equal(zeros.ms, null);
    assert.match(zeros.error ?? "", /differs/);
    assert.notEqual(entry.variant, "test-zeros");
    for (const c of entry.candidates.filter((c) => c.id !== "test-zeros")) {
      assert.ok(c.ms !== null && c.ms > 0, `${c.id}: ${c.error}`);
    }
    assert.equal(entry.ms, Math.min(...entry.candidates.flatMap((c) => c.ms ?? [])));
    assert.equal(g.attentionVariantFor(SHAPES[0]).id, entry.variant);
    const cache = JSON.parse(await Deno.readTextFile(cachePath));
    assert.deepEqual(Object.keys(cache.adapters), [attentionAdapterKey(g, variants)]);
    assert.ok(first.key.includes(`attention variants ${variants.map((v) => v.id).join(",")}`));
    // Without a device (what `autoresearch platform` reads): the full catalogue's key, not ours.
    assert.equal(readAttentionAdapterTuning(g.gpu.adapter.info, cachePath), null);
    // Cached: nothing measured again, the same choice.
    g.attentionChoice = null;
    const again = await tuneAttention(g, SHAPES, { cachePath, log: quiet, variants });
    assert.equal(again.measured, 0);
    assert.equal(again.cached, 1);
    assert.equal(g.attentionVariantFor(SHAPES[0]).id, entry.variant);
    // A corrupt cache is reported and left alone.
    await Deno.writeTextFile(cachePath, "{not json");
    const warnings: string[] = [];
    const fresh = await tuneAttention(g, SHAPES, {
      cachePath,
      log: (m) => warnings.push(m),
      variants: variants.slice(0, 2),
    });
    assert.equal(fresh.measured, 1);
    assert.ok(warnings.some((w) => w.includes(cachePath) && w.includes("uncached")), `${warnings}`);
    assert.equal(await Deno.readTextFile(cachePath), "{not json");
  } finally {
    g.attentionChoice = null;
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("attention tuning applies to neighbours; first-use tuning collects shapes", async (g) => {
  const tuned = ATTENTION_VARIANTS[1];
  const key = attentionShapeKey(SHAPES[0]);
  applyAttentionTuning(g, {
    adapter: "test",
    entries: {
      [key]: {
        variant: tuned.id,
        ms: 1,
        defaultVariant: ATTENTION_VARIANTS[0].id,
        defaultMs: 2,
        timing: "wall",
        candidates: [],
      },
    },
  });
  assert.equal(g.attentionVariantFor(SHAPES[0]).id, tuned.id);
  // Twice the sequence: a neighbour, same choice; another head dim: the default.
  assert.equal(g.attentionVariantFor({ ...SHAPES[0], seq: 96, window: 40 }).id, tuned.id);
  assert.equal(g.attentionVariantFor({ ...SHAPES[0], headDim: 32 }).id, ATTENTION_VARIANTS[0].id);
  // A head dim vec4 cannot load: the neighbour's vec4 choice does not apply.
  const odd = { ...SHAPES[0], headDim: 6 };
  assert.equal(g.attentionVariantFor(odd).id, ATTENTION_VARIANTS[0].id);
  g.attentionChoice = null;

  // What `autoresearch platform` reads without a device: this adapter's entry under the key of
  // the full catalogue.
  const dir0 = await Deno.makeTempDir();
  try {
    const path = join(dir0, "a.json");
    const entries = { [key]: { variant: tuned.id, ms: 1, candidates: [] } };
    const adapter = attentionAdapterKeyOf(g.gpu.adapter.info);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ version: 1, adapters: { [adapter]: { adapter, entries } } }),
    );
    assert.deepEqual(readAttentionAdapterTuning(g.gpu.adapter.info, path)?.entries, entries);
  } finally {
    await Deno.remove(dir0, { recursive: true });
  }

  const dir = await Deno.makeTempDir();
  try {
    const tuning = tuneAttentionAtFirstUse(g, {
      cachePath: join(dir, "t.json"),
      log: quiet,
      variants: ATTENTION_VARIANTS.slice(0, 2),
      wanted: true,
    });
    const { device } = problem(g, SHAPES[0], 5);
    g.attention({ ...device, ...SHAPES[0] });
    assert.equal(tuning.kernels(), `webgpu-attention:${ATTENTION_VARIANTS[0].id}`);
    const result = await tuning.finish();
    assert.equal(result?.measured, 1);
    assert.match(tuning.kernels(), /^webgpu-attention:attn-/);
    assert.equal(await tuning.finish(), null, "finish runs once");
  } finally {
    g.onAttentionShape = null;
    g.attentionChoice = null;
    await Deno.remove(dir, { recursive: true });
  }
});
