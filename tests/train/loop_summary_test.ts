/**
 * The summary block byte for byte (upstream's example run), Python-style number formatting,
 * the progress line, and checkpoints round-tripping through plain files.
 */
import assert from "node:assert/strict";
import { formatProgress, formatSummary, pyFixed } from "../../src/train/summary.ts";
import { readCheckpoint, writeCheckpoint } from "../../src/train/checkpoint.ts";
import { DataError } from "../../src/util/errors.ts";
import { UPSTREAM_SUMMARY } from "../import/helpers.ts";

Deno.test("summary: upstream's block, byte for byte", () => {
  const text = formatSummary(UPSTREAM_SUMMARY);
  assert.equal(
    text,
    [
      "---",
      "val_bpb:          0.997900",
      "training_seconds: 300.1",
      "total_seconds:    325.9",
      "peak_vram_mb:     45060.2",
      "mfu_percent:      39.80",
      "total_tokens_M:   499.6",
      "num_steps:        953",
      "num_params_M:     50.3",
      "depth:            8",
    ].join("\n"),
  );
});

Deno.test("summary: numbers round like Python f-strings (half to even on exact ties)", () => {
  assert.equal(pyFixed(0.125, 2), "0.12"); // Python: '0.12'; JS toFixed: '0.13'
  assert.equal(pyFixed(0.375, 2), "0.38");
  assert.equal(pyFixed(2.5, 0), "2");
  assert.equal(pyFixed(-0.125, 2), "-0.12");
  assert.equal(pyFixed(1.005, 2), "1.00"); // 1.005 is below the tie in binary
  assert.equal(pyFixed(0.1 + 0.2, 6), "0.300000");
});

Deno.test("summary: a crashed run prints nan, never 0", () => {
  const text = formatSummary({
    val_bpb: null,
    training_seconds: 1,
    total_seconds: 2,
    peak_vram_mb: 3,
    mfu_percent: 0,
    total_tokens_M: 0,
    num_steps: 1,
    num_params_M: 0.1,
    depth: 2,
  });
  assert.ok(text.split("\n").includes("val_bpb:          nan"));
});

Deno.test("summary: the progress line shows step, loss, tokens/s, MFU and time left", () => {
  const line = formatProgress({
    step: 12,
    loss: 3.25,
    tokensPerSecond: 1500.4,
    mfuPercent: 12.345,
    progress: 0.25,
    remainingSeconds: 45.2,
    warmup: false,
  });
  assert.equal(line, "step 00012 (25.0%) | loss 3.250000 | 1500 tok/s | mfu 12.3% | 45s left");
  assert.ok(!line.includes("\n"));
});

Deno.test("checkpoint: weights round-trip through model.bin + model.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = Float32Array.from([1, 2, 3, 4, 5, 6]), b = Float32Array.from([-1.5]);
    const model = {
      vocabSize: 4,
      depth: 1,
      width: 2,
      headDim: 2,
      seqLen: 4,
      windowPattern: "L",
      softcap: 15,
      veGateChannels: 2,
    };
    await writeCheckpoint(
      dir,
      model,
      [
        { name: "a", shape: [2, 3], values: a },
        { name: "b", shape: [1], values: b },
      ],
      7,
      { seed: 1 },
    );
    const back = await readCheckpoint(dir);
    assert.deepEqual(back.weights.get("a"), a);
    assert.deepEqual(back.weights.get("b"), b);
    assert.equal(back.manifest.step, 7);
    assert.deepEqual(back.manifest.model, model);
    // A truncated weights file is reported, not read as zeros.
    await Deno.writeFile(`${dir}/model.bin`, new Uint8Array(8));
    await assert.rejects(() => readCheckpoint(dir), DataError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
