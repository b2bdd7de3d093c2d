/**
 * WebGPU matmul precision (src/train/precision.ts): f32 unless AUTORESEARCH_WEBGPU_PRECISION=auto,
 * and then f16 variants only on an adapter that passed the loss gate (f16 within the documented
 * tolerance of f32 over 10 steps of the tiny default-recipe model), with the verdict cached.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "../engine/webgpu_helpers.ts";
import { F16_LOSS_TOLERANCE, matmulPrecision, startRunTuning } from "../../src/train/precision.ts";
import { readF16Gate, shapeKey, writeF16Gate } from "../../src/engine/webgpu/tune.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../../src/engine/webgpu/matmul_variants.ts";

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

Deno.test("matmulPrecision: f32 by default, auto on request, anything else named", async () => {
  await withEnv({ AUTORESEARCH_WEBGPU_PRECISION: "" }, () => {
    assert.equal(matmulPrecision(), "f32");
    Deno.env.set("AUTORESEARCH_WEBGPU_PRECISION", "auto");
    assert.equal(matmulPrecision(), "auto");
    Deno.env.set("AUTORESEARCH_WEBGPU_PRECISION", "f16");
    assert.throws(() => matmulPrecision(), /AUTORESEARCH_WEBGPU_PRECISION: must be f32 or auto/);
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
  const shape: MatmulShape = { m: 64, n: 64, k: 64, batch: 1, transA: false, transB: false };
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
        const refused = await startRunTuning(g, { cachePath, log });
        g.matmul({ ...buffers(g, shape), ...shape });
        const first = await refused.finish();
        const entry = first!.entries[shapeKey(shape)];
        assert.ok(entry.candidates.every((c) => !f16Ids.has(c.id)), "no f16 candidate");
        assert.ok(lines.some((l) => l.startsWith("f16 matmul not allowed")), lines.join("\n"));
        // No verdict: the gate runs, passes here, is cached, and f16 variants compete.
        await Deno.remove(cachePath);
        const allowed = await startRunTuning(g, { cachePath, log });
        assert.equal(readF16Gate(g, cachePath)?.passed, true);
        g.matmul({ ...buffers(g, shape), ...shape });
        const second = await allowed.finish();
        const tuned = second!.entries[shapeKey(shape)];
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
