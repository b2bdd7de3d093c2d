/**
 * evaluate_bpb: the pure core on a case computed by hand, targets with 0 bytes (BOS) left out,
 * and the driver scoring the fixed leading slice of val through a loss callback.
 */
import assert from "node:assert/strict";
import { accumulateBpb, computeBpb, evaluateBpb, type LossFn } from "../../src/train/bpb.ts";
import { documentStarts } from "../../src/train/data.ts";

Deno.test("bpb: hand-computed case", () => {
  // Vocabulary: token 0 = 1 byte, 1 = 3 bytes, 2 = 2 bytes, 3 = BOS (0 bytes).
  const tokenBytes = Int32Array.of(1, 3, 2, 0);
  const targets = [0, 1, 3, 2];
  const losses = [Math.LN2, 3 * Math.LN2, 100, 0.5 * Math.LN2]; // BOS's 100 must not count
  // nats = ln2 * (1 + 3 + 0.5) = 4.5 ln2; bytes = 1 + 3 + 2 = 6; bpb = 4.5 / 6 = 0.75
  assert.ok(Math.abs(computeBpb(losses, targets, tokenBytes) - 0.75) < 1e-12);
  const totals = accumulateBpb(losses, targets, tokenBytes);
  assert.equal(totals.bytes, 6);
  assert.equal(totals.tokens, 3);
});

Deno.test("bpb: a uniform model over 256 byte tokens scores 8 bits per byte", () => {
  const tokenBytes = new Int32Array(260).fill(1);
  tokenBytes.fill(0, 256);
  const targets = Array.from({ length: 1000 }, (_, i) => i % 256);
  const losses = targets.map(() => Math.log(256));
  assert.ok(Math.abs(computeBpb(losses, targets, tokenBytes) - 8) < 1e-9);
});

Deno.test("bpb: rejects mismatched lengths, unknown targets, and no bytes", () => {
  const tokenBytes = Int32Array.of(1, 0);
  assert.throws(() => computeBpb([1], [0, 0], tokenBytes), RangeError);
  assert.throws(() => computeBpb([1], [7], tokenBytes), RangeError);
  assert.throws(() => computeBpb([1], [1], tokenBytes), /no bytes/);
});

Deno.test("bpb: the driver scores the fixed leading slice through the loss callback", async () => {
  const BOS = 9;
  // Tokens 0..8 have byte length id + 1; every document: BOS then tokens.
  const tokenBytes = Int32Array.from({ length: 10 }, (_, id) => (id === BOS ? 0 : id + 1));
  const raw: number[] = [];
  for (let doc = 0; doc < 50; doc++) {
    raw.push(BOS);
    for (let i = 0; i < 3 + (doc % 5); i++) raw.push((doc + i) % 9);
  }
  const tokens = Uint16Array.from(raw);
  const val = { tokens, starts: documentStarts(tokens, BOS) };
  // A "model" whose loss on a target is 0.1 * target id: the expected figure is checkable.
  const seen: number[][] = [];
  const lossFn: LossFn = (inputs, targets, shape) => {
    assert.equal(inputs.length, shape.batchSize * shape.seqLen);
    seen.push(Array.from(targets));
    return Promise.resolve(Float32Array.from(targets, (t) => 0.1 * t));
  };
  const result = await evaluateBpb(lossFn, val, tokenBytes, {
    batchSize: 2,
    seqLen: 8,
    evalTokens: 40,
  });
  assert.equal(result.steps, 2); // floor(40 / 16)
  assert.equal(seen.length, 2);
  let nats = 0, bytes = 0;
  for (const t of seen.flat()) {
    if (t === BOS) continue;
    nats += Math.fround(0.1 * t);
    bytes += t + 1;
  }
  assert.ok(Math.abs(result.bpb - nats / (Math.LN2 * bytes)) < 1e-9);
  assert.equal(result.wrapped, false);
  // Deterministic: the same slice every time.
  const again: number[][] = [];
  await evaluateBpb(
    (_inputs, targets) => {
      again.push(Array.from(targets));
      return Promise.resolve(new Float32Array(targets.length));
    },
    val,
    tokenBytes,
    { batchSize: 2, seqLen: 8, evalTokens: 40 },
  );
  assert.deepEqual(again, seen);
  // A slice longer than the split is flagged.
  const long = await evaluateBpb(lossFn, val, tokenBytes, {
    batchSize: 2,
    seqLen: 8,
    evalTokens: 16 * 30,
  });
  assert.equal(long.wrapped, true);
});
