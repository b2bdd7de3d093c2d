/**
 * WebGPU matmul precision (src/train/precision.ts): f32 unless AUTORESEARCH_WEBGPU_PRECISION=auto,
 * and then f16 variants only on an adapter that passed the loss gate (f16 within the documented
 * tolerance of f32 over 10 steps of the tiny default-recipe model), with the verdict cached.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "../engine/webgpu_helpers.ts";
import { WEBGPU_SKIP } from "../backends.ts";
import {
  F16_LOSS_TOLERANCE,
  matmulPrecision,
  startRunTuning,
  tuningSeconds,
} from "../../src/train/precision.ts";
import { cachedTuning, readF16Gate, shapeKey, writeF16Gate } from "../../src/engine/webgpu/tune.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../../src/engine/webgpu/matmul_variants.ts";
import { runExperiment } from "../../src/train/run.ts";
import { REFERENCE_RECIPE_TEXT, syntheticTrainingData, TINY_RECIPE } from "./model_helpers.ts";

/** Run `body` with environment variables set, restoring them afterwards. */
async function withEnv(vars: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    await body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

Deno.test("precision and tuning-time settings: defaults, accepted values, anything else named", async () => {
  await withEnv({ AUTORESEARCH_WEBGPU_PRECISION: "", AUTORESEARCH_WEBGPU_TUNE_S: "" }, () => {
    assert.equal(matmulPrecision(), "f32");
    Deno.env.set("AUTORESEARCH_WEBGPU_PRECISION", "auto");
    assert.equal(matmulPrecision(), "auto");
    Deno.env.set("AUTORESEARCH_WEBGPU_PRECISION", "f16");
    assert.throws(() => matmulPrecision(), /AUTORESEARCH_WEBGPU_PRECISION: must be f32 or auto/);
    Deno.env.set("AUTORESEARCH_WEBGPU_TUNE_S", "");
    assert.equal(tuningSeconds(), 120);
    Deno.env.set("AUTORESEARCH_WEBGPU_TUNE_S", "2.5");
    assert.equal(tuningSeconds(), 2.5);
    for (const bad of ["0", "-1", "1e3", "soon"]) {
      Deno.env.set("AUTORESEARCH_WEBGPU_TUNE_S", bad);
      assert.throws(() => tuningSeconds(), /AUTORESEARCH_WEBGPU_TUNE_S: must be a positive number/);
    }
    return Promise.resolve();
  });
});

gpuTest("auto precision: the cached verdict decides whether f16 variants compete", async (g) => {
  if (!g.gpu.device.features.has("shader-f16")) {
    console.log("skipped: this adapter has no shader-f16");
    return;
  }
  const dir = await Deno.makeTempDir();
  const cachePath = join(dir, "tune.json");
  const attentionCachePath = join(dir, "attention-tune.json");
  // Large enough to be tuned at first use (2^22 FLOPs and up).
  const shape: MatmulShape = { m: 128, n: 128, k: 128, batch: 1, transA: false, transB: false };
  const f16Ids = new Set(MATMUL_VARIANTS.filter((v) => v.precision === "f16").map((v) => v.id));
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  try {
    await withEnv(
      { AUTORESEARCH_WEBGPU_PRECISION: "auto", AUTORESEARCH_WEBGPU_TUNE: "1" },
      async () => {
        // A cached failing verdict: the gate is not run again and f16 stays out.
        writeF16Gate(
          g,
          { passed: false, maxLossDiff: 1, tolerance: F16_LOSS_TOLERANCE },
          cachePath,
        );
        const refused = await startRunTuning(g, { cachePath, attentionCachePath, log });
        g.matmul({ ...buffers(g, shape), ...shape });
        await refused.finish();
        const entry = cachedTuning(g, cachePath)!.entries[shapeKey(shape)];
        assert.ok(entry.candidates.every((c) => !f16Ids.has(c.id)), "no f16 candidate");
        assert.ok(lines.some((l) => l.startsWith("f16 matmul not allowed")), lines.join("\n"));
        // No verdict: the gate runs, passes here, is cached, and f16 variants compete.
        await Deno.remove(cachePath);
        const allowed = await startRunTuning(g, { cachePath, attentionCachePath, log });
        assert.equal(readF16Gate(g, cachePath)?.passed, true);
        g.matmul({ ...buffers(g, shape), ...shape });
        await allowed.finish();
        const tuned = cachedTuning(g, cachePath)!.entries[shapeKey(shape)];
        assert.equal(tuned.allowF16, true);
        assert.ok(tuned.candidates.some((c) => f16Ids.has(c.id) && c.ms !== null), "f16 timed");
      },
    );
  } finally {
    g.onMatmulShape = null;
    await Deno.remove(dir, { recursive: true });
  }
});

function buffers(g: Parameters<Parameters<typeof gpuTest>[1]>[0], shape: MatmulShape) {
  const a = g.alloc("f32", shape.m * shape.k);
  const b = g.alloc("f32", shape.k * shape.n);
  const c = g.alloc("f32", shape.m * shape.n);
  g.fill({ out: a, value: 0.5 });
  g.fill({ out: b, value: 0.25 });
  return { a, b, c };
}

Deno.test({
  name: "a WebGPU run tunes its matmul and attention shapes after the first step",
  ignore: WEBGPU_SKIP !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    // One second of tuning per family: the first shapes of each are measured, the rest wait.
    const env = {
      AUTORESEARCH_WEBGPU_TUNE: "1",
      AUTORESEARCH_WEBGPU_TUNE_S: "1",
      XDG_CACHE_HOME: join(dir, "cache"),
    };
    try {
      await withEnv(env, async () => {
        const lines: string[] = [];
        const report = await runExperiment({
          data: syntheticTrainingData(200, 80),
          backend: "webgpu",
          budgetSeconds: 0.5,
          seed: 5,
          evalTokens: 2048,
          kb: join(dir, "kb"),
          agent: "tester",
          session: "s1",
          hypothesis: "tuning test",
          checkpointDir: join(dir, "ckpt"),
          recipe: REFERENCE_RECIPE_TEXT,
          configOverride: TINY_RECIPE,
          onProgressLine: () => {},
          log: (line) => lines.push(line),
        });
        assert.equal(report.failure ?? null, null, lines.join("\n"));
        const read = async (file: string) =>
          JSON.parse(await Deno.readTextFile(join(dir, "cache/autoresearch", file)));
        const count = (cache: { adapters: Record<string, { entries: object }> }) =>
          Object.values(cache.adapters).reduce((n, a) => n + Object.keys(a.entries).length, 0);
        assert.ok(count(await read("webgpu-tune.json")) >= 1, "matmul shapes were tuned");
        assert.ok(count(await read("webgpu-attention-tune.json")) >= 1, "attention shapes too");
        assert.ok(lines.some((l) => l.startsWith("tuned matmul ")), lines.join("\n"));
        assert.ok(lines.some((l) => l.startsWith("tuned attention ")), lines.join("\n"));
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

gpuTest("a tuning failure keeps the defaults and does not fail the run", async (g) => {
  const dir = await Deno.makeTempDir();
  try {
    await withEnv({ AUTORESEARCH_WEBGPU_TUNE: "1" }, async () => {
      const lines: string[] = [];
      const tuning = await startRunTuning(g, {
        cachePath: join(dir, "tune.json"),
        attentionCachePath: join(dir, "attention.json"),
        log: (line) => lines.push(line),
      });
      // A shape whose operands no adapter can hold: the tuner's allocation throws.
      g.onMatmulShape!({ m: 1 << 20, n: 1 << 20, k: 64, batch: 1, transA: false, transB: false });
      await tuning.finish();
      assert.ok(
        lines.some((l) => l.startsWith("matmul tuning failed, keeping its defaults: ")),
        lines.join("\n"),
      );
      assert.equal(g.matmulChoice, null, "nothing was applied");
    });
  } finally {
    g.onMatmulShape = null;
    await Deno.remove(dir, { recursive: true });
  }
});
