/**
 * The matmul autotuner (src/engine/webgpu/tune.ts) on a real adapter: every supporting variant
 * is timed and checked, a wrong variant never wins however fast, the choice is cached per
 * adapter and variant catalogue (a corrupt cache is reported and left alone), untuned shapes
 * borrow a near neighbour's choice, and the trainer tunes the shapes of its first step.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose, gpuTest, randomArray } from "./webgpu_helpers.ts";
import {
  adapterKey,
  applyMatmulTuning,
  shapeKey,
  tuneAtFirstUse,
  tuneMatmul,
} from "../../src/engine/webgpu/tune.ts";
import {
  MATMUL_VARIANTS,
  type MatmulShape,
  type MatmulVariant,
  TILE128,
  TILE64,
} from "../../src/engine/webgpu/matmul_variants.ts";
import { ELEMENTWISE } from "../../src/engine/webgpu/kernels.ts";
import { trainModel } from "../../src/train/loop.ts";
import { attentionShapeKey, tuneAttention } from "../../src/engine/webgpu/attention_tune.ts";
import { runCli } from "../cli_helpers.ts";
import { markovBatches, referenceRecipe, TINY_RECIPE } from "../train/model_helpers.ts";

const SHAPES: MatmulShape[] = [
  { m: 96, n: 80, k: 40, batch: 1, transA: false, transB: false },
  { m: 64, n: 48, k: 32, batch: 3, transA: false, transB: true },
];

/** Fast and wrong: fills C with zeros instead of multiplying. */
const ZEROS: MatmulVariant = {
  id: "test-zeros",
  description: "writes zeros (a broken kernel)",
  precision: "f32",
  supports: () => true,
  record(launch, recorder) {
    const n = launch.shape.m * launch.shape.n * launch.shape.batch;
    const u = new Uint32Array(28);
    u.set([n, 0, 0, launch.offsetC]);
    recorder.dispatch(ELEMENTWISE.fill, u, [launch.c], [Math.ceil(n / 256), 1, 1]);
  },
};

/** A correct variant under another id (the catalogue changes, so the cache key changes). */
const RENAMED: MatmulVariant = { ...TILE64, id: "test-renamed-t64" };

const quiet = () => {};

gpuTest("tuneMatmul: times every supporting variant, caches, reuses the cache", async (g) => {
  const dir = await Deno.makeTempDir();
  const cachePath = join(dir, "tune.json");
  try {
    const first = await tuneMatmul(g, SHAPES, { cachePath, log: quiet });
    assert.equal(first.measured, 2);
    assert.equal(first.cached, 0);
    for (const shape of SHAPES) {
      const entry = first.entries[shapeKey(shape)];
      const supporting = MATMUL_VARIANTS.filter((v) =>
        v.precision === "f32" && v.supports(shape, g.matmulCaps)
      );
      assert.deepEqual(
        entry.candidates.map((c) => c.id).sort(),
        supporting.map((v) => v.id).sort(),
      );
      for (const c of entry.candidates) assert.ok(c.ms !== null && c.ms > 0, `${c.id}: ${c.error}`);
      const fastest = Math.min(...entry.candidates.map((c) => c.ms!));
      assert.equal(entry.ms, fastest);
      assert.equal(entry.timing, "timestamp");
      // The backend now uses the winner for this shape.
      assert.equal(g.matmulVariantFor(shape).id, entry.variant);
    }
    const cache = JSON.parse(await Deno.readTextFile(cachePath));
    assert.deepEqual(Object.keys(cache.adapters), [adapterKey(g)]);
    const again = await tuneMatmul(g, SHAPES, { cachePath, log: quiet });
    assert.equal(again.measured, 0);
    assert.equal(again.cached, 2);
    assert.deepEqual(again.entries, first.entries);
    // Another variant catalogue is another key: measured again, both kept.
    const other = await tuneMatmul(g, SHAPES.slice(0, 1), {
      cachePath,
      log: quiet,
      variants: [TILE64, RENAMED],
    });
    assert.equal(other.measured, 1);
    const both = JSON.parse(await Deno.readTextFile(cachePath));
    assert.equal(Object.keys(both.adapters).length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest(
  "tuneMatmul: a wrong variant is rejected, however fast, and results stay right",
  async (g) => {
    const shape = SHAPES[0];
    const result = await tuneMatmul(g, [shape], {
      cachePath: null,
      log: quiet,
      variants: [TILE64, ZEROS, TILE128],
    });
    const entry = result.entries[shapeKey(shape)];
    const zeros = entry.candidates.find((c) => c.id === ZEROS.id)!;
    assert.equal(zeros.ms, null);
    assert.match(zeros.error!, /differs by/);
    assert.notEqual(entry.variant, ZEROS.id);
    // A product through the tuned backend is still A B.
    const { m, n, k } = shape;
    const a = randomArray(m * k, 1), b = randomArray(k * n, 2);
    const [ba, bb, bc] = [g.alloc("f32", m * k), g.alloc("f32", k * n), g.alloc("f32", m * n)];
    g.write(ba, a);
    g.write(bb, b);
    g.matmul({ a: ba, b: bb, c: bc, m, n, k });
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        for (let x = 0; x < k; x++) want[i * n + j] += a[i * k + x] * b[x * n + j];
      }
    }
    assertClose(await g.read(bc), want, "tuned matmul");
  },
);

gpuTest(
  "tuneMatmul: a corrupt cache is reported, left alone, and tuning still works",
  async (g) => {
    const dir = await Deno.makeTempDir();
    const cachePath = join(dir, "tune.json");
    try {
      await Deno.writeTextFile(cachePath, "{ not json");
      const warnings: string[] = [];
      const result = await tuneMatmul(g, SHAPES.slice(0, 1), {
        cachePath,
        log: (m) => warnings.push(m),
      });
      assert.equal(result.measured, 1);
      assert.ok(warnings.some((w) => w.includes(cachePath) && w.includes("tuning uncached")));
      assert.equal(await Deno.readTextFile(cachePath), "{ not json");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "applyMatmulTuning: near shapes borrow the tuned variant, far ones keep the default",
  async (g) => {
    const tuned: MatmulShape = { m: 256, n: 256, k: 256, batch: 1, transA: false, transB: false };
    // A tuning that picked the 128 tile for 256^3 (the untuned default there is the 64 tile).
    applyMatmulTuning(g, {
      adapter: "test",
      entries: {
        [shapeKey(tuned)]: {
          variant: TILE128.id,
          ms: 1,
          gflops: 1,
          defaultVariant: TILE64.id,
          defaultMs: 2,
          timing: "timestamp",
          candidates: [],
        },
      },
    });
    assert.equal(g.matmulVariantFor(tuned).id, TILE128.id);
    assert.equal(g.matmulVariantFor({ ...tuned, m: 300 }).id, TILE128.id, "near: borrowed");
    assert.equal(g.matmulVariantFor({ ...tuned, m: 8, n: 8 }).id, TILE64.id, "far: default");
    assert.equal(g.matmulVariantFor({ ...tuned, transB: true }).id, TILE64.id, "other transposes");
    await g.sync();
  },
);

gpuTest(
  "tuneAtFirstUse: the trainer tunes after its first micro-batch and its first step",
  async (g) => {
    const dir = await Deno.makeTempDir();
    const cachePath = join(dir, "tune.json");
    const previous = Deno.env.get("AUTORESEARCH_WEBGPU_TUNE");
    Deno.env.set("AUTORESEARCH_WEBGPU_TUNE", "1");
    try {
      // Three variants keep this quick on a software adapter (every pipeline compiles there).
      const variants = [TILE64, TILE128, MATMUL_VARIANTS[2]];
      const tuning = tuneAtFirstUse(g, { cachePath, log: quiet, variants });
      const rounds: string[][] = [];
      const result = await trainModel({
        backend: g,
        recipe: referenceRecipe(TINY_RECIPE),
        vocabSize: 64,
        budgetSeconds: 30,
        seed: 1,
        nextBatch: markovBatches(64, TINY_RECIPE.deviceBatchRows, TINY_RECIPE.model.seqLen, 7),
        peakFlops: null,
        maxSteps: 2,
        tune: async () => {
          const done = await tuning.finish();
          assert.ok(done && done.measured > 0, "new shapes were tuned");
          rounds.push(Object.keys(done.entries));
        },
      });
      result.model.dispose();
      // After the first micro-batch (forward and backward), then after the first step (the
      // optimizer's shapes, none of the first round's again).
      assert.equal(rounds.length, 2);
      assert.ok(rounds[1].every((key) => !rounds[0].includes(key)), `${rounds}`);
      assert.equal(result.failure, null);
      const cache = JSON.parse(await Deno.readTextFile(cachePath));
      const entries = cache.adapters[adapterKey(g, variants)].entries;
      assert.ok(Object.keys(entries).length >= 3, "forward, backward and optimizer shapes");
      assert.match(tuning.kernels(), /^webgpu-matmul:/);
      for (const id of tuning.kernels().slice("webgpu-matmul:".length).split(",")) {
        assert.ok(MATMUL_VARIANTS.some((v) => v.id === id), id);
      }
      assert.equal(await tuning.finish(), null, "nothing new to tune");
      // Tiny products (under 2^22 FLOPs) keep the default: tuning them would cost more than it saves.
      for (const key of Object.keys(entries)) {
        const s = parseKey(key);
        assert.ok(2 * s.m * s.n * s.k * s.batch >= 2 ** 22, `${key} was tuned`);
      }
      // Every choice of both rounds is in use.
      const applied = g.matmulChoice!;
      for (const key of [...rounds[0], ...rounds[1]]) {
        assert.equal(applied(parseKey(key))?.id, entries[key].variant, key);
      }
      Deno.env.set("AUTORESEARCH_WEBGPU_TUNE", "0");
      assert.equal(await tuneAtFirstUse(g, { cachePath, log: quiet }).finish(), null);
      Deno.env.set("AUTORESEARCH_WEBGPU_TUNE", "yes");
      assert.throws(
        () => tuneAtFirstUse(g, { cachePath }),
        /AUTORESEARCH_WEBGPU_TUNE: must be 1 or 0/,
      );
    } finally {
      if (previous === undefined) Deno.env.delete("AUTORESEARCH_WEBGPU_TUNE");
      else Deno.env.set("AUTORESEARCH_WEBGPU_TUNE", previous);
      g.onMatmulShape = null;
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "autoresearch platform shows the tuned matmul and attention shapes from the caches",
  async (g) => {
    const dir = await Deno.makeTempDir();
    try {
      const cachePath = join(dir, "autoresearch", "webgpu-tune.json");
      const tuned = await tuneMatmul(g, SHAPES, { cachePath, log: quiet });
      const attentionShape = { batch: 1, heads: 2, seq: 24, headDim: 16, window: 8 };
      const attention = await tuneAttention(g, [attentionShape], {
        cachePath: join(dir, "autoresearch", "webgpu-attention-tune.json"),
        log: quiet,
      });
      // AUTORESEARCH_SGEMM skips timing the CPU candidates in the scratch cache.
      const env = { XDG_CACHE_HOME: dir, AUTORESEARCH_SGEMM: "wasm" };
      const json = await runCli(["platform", "--json"], { env });
      assert.equal(json.code, 0, json.stderr);
      const info = JSON.parse(json.stdout);
      assert.equal(info.webgpuTuning.cachePath, cachePath);
      assert.deepEqual(
        info.webgpuTuning.variants.map((v: { id: string }) => v.id),
        MATMUL_VARIANTS.map((v) => v.id),
      );
      const shapes = new Map(
        info.webgpuTuning.shapes.map((
          s: { shape: string; variant: string },
        ) => [s.shape, s.variant]),
      );
      for (const shape of SHAPES) {
        assert.equal(shapes.get(shapeKey(shape)), tuned.entries[shapeKey(shape)].variant);
      }
      const attentionKey = attentionShapeKey(attentionShape);
      assert.deepEqual(
        info.webgpuTuning.attention.shapes.map((s: { shape: string; variant: string }) => [
          s.shape,
          s.variant,
        ]),
        [[attentionKey, attention.entries[attentionKey].variant]],
      );
      const text = await runCli(["platform"], { env });
      assert.match(text.stdout, /webgpu matmul: \d+ variants/);
      assert.match(text.stdout, /tuned: 2 shapes/);
      assert.ok(text.stdout.includes(shapeKey(SHAPES[1])), text.stdout);
      assert.match(text.stdout, /webgpu attention: \d+ variants/);
      assert.ok(text.stdout.includes(attentionKey), text.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "tuneMatmul: an unaligned shape is its own entry and only scalar-load variants compete",
  async (g) => {
    const shape: MatmulShape = { m: 64, n: 64, k: 64, batch: 1, transA: false, transB: false };
    const unaligned = { ...shape, aligned: false };
    assert.equal(shapeKey(unaligned), shapeKey(shape) + "u");
    const result = await tuneMatmul(g, [shape, unaligned], { cachePath: null, log: quiet });
    const alignedIds = result.entries[shapeKey(shape)].candidates.map((c) => c.id);
    const scalarIds = result.entries[shapeKey(unaligned)].candidates.map((c) => c.id);
    assert.ok(scalarIds.length > 0 && scalarIds.length < alignedIds.length);
    for (const id of scalarIds) {
      const variant = MATMUL_VARIANTS.find((v) => v.id === id)!;
      assert.ok(variant.supports(unaligned, g.matmulCaps), `${id} supports unaligned launches`);
    }
    // The unaligned entry's variant runs unaligned launches; the aligned one's may not.
    assert.ok(g.matmulVariantFor(unaligned).supports(unaligned, g.matmulCaps));
  },
);

/** A shape from its cache key (the tests' inverse of shapeKey). */
function parseKey(key: string): MatmulShape {
  const match = key.match(/^(\d+)x(\d+)x(\d+)(?:b(\d+))?([NT])([NT])(u?)$/)!;
  return {
    m: Number(match[1]),
    n: Number(match[2]),
    k: Number(match[3]),
    batch: Number(match[4] ?? 1),
    transA: match[5] === "T",
    transB: match[6] === "T",
    ...(match[7] ? { aligned: false } : {}),
  };
}
