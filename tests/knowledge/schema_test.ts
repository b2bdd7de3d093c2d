/**
 * Card validation rules, through the library (`validateCardInput` and `writeCard`): every bad
 * input names the field and the rule, and nothing is written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LIMITS, openKnowledgeBase, validateCardInput } from "../../src/knowledge/mod.ts";
import { UsageError } from "../../src/util/errors.ts";
import { listDir, sampleInput, tempKb } from "./helpers.ts";

function rejects(input: unknown, field: RegExp, rule: RegExp): void {
  assert.throws(
    () => validateCardInput(input),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, `expected UsageError, got ${error}`);
      assert.match(error.field, field);
      assert.match(error.rule, rule);
      return true;
    },
  );
}

Deno.test("a valid input is accepted and normalised", () => {
  const valid = validateCardInput(
    sampleInput({ tags: ["LR", "Batch-Size", "lr"], status: "revert" }),
  );
  assert.deepEqual(valid.tags, ["learning_rate", "batch_size"]);
  assert.equal(valid.status, "discard");
});

Deno.test("empty or whitespace text fields are rejected", () => {
  rejects(sampleInput({ hypothesis: "" }), /^hypothesis$/, /empty or whitespace/);
  rejects(sampleInput({ hypothesis: " \t\n " }), /^hypothesis$/, /empty or whitespace/);
  rejects(sampleInput({ lesson: "   " }), /^lesson$/, /empty or whitespace/);
  rejects(sampleInput({ agent: "" }), /^agent$/, /empty/);
  rejects(sampleInput({ session: " " }), /^session$/, /empty/);
});

Deno.test("empty, whitespace, oversized, too many or control-character tags are rejected", () => {
  rejects(sampleInput({ tags: [""] }), /^tags\.0$/, /empty/);
  rejects(sampleInput({ tags: ["ok", "  "] }), /^tags\.1$/, /empty/);
  rejects(sampleInput({ tags: ["x".repeat(65)] }), /^tags\.0$/, /at most 64/);
  rejects(sampleInput({ tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }), /^tags$/, /32/);
  rejects(sampleInput({ tags: ["a\nb"] }), /^tags\.0$/, /control/);
  rejects(sampleInput({ tags: ["a,b"] }), /^tags\.0$/, /comma/);
});

Deno.test("non-numeric, NaN, Infinity and negative results are rejected", () => {
  const bad: [unknown, RegExp][] = [
    ["0.98", /number/],
    [Number.NaN, /number/],
    [Number.POSITIVE_INFINITY, /finite/],
    [-1, /greater than 0/],
    [0, /greater than 0/],
  ];
  for (const [value, rule] of bad) {
    rejects(sampleInput({ results: { val_bpb: value as number } }), /^results\.val_bpb$/, rule);
  }
  rejects(
    sampleInput({ results: { val_bpb: 1, peak_memory_mb: -5 } }),
    /peak_memory_mb/,
    /negative/,
  );
  rejects(sampleInput({ results: { val_bpb: 1, num_steps: 1.5 } }), /num_steps/, /integer/);
  rejects(sampleInput({ results: { val_bpb: 1, mfu_percent: Infinity } }), /mfu_percent/, /finite/);
  rejects(sampleInput({ budget_s: 0 }), /^budget_s$/, /greater than 0/);
  rejects(sampleInput({ seed: -1 }), /^seed$/, /negative/);
  // delta may be negative (an improvement), but must be finite.
  assert.equal(
    validateCardInput(sampleInput({ results: { val_bpb: 1, delta: -0.01 } })).results.delta,
    -0.01,
  );
  rejects(sampleInput({ results: { val_bpb: 1, delta: NaN } }), /delta/, /number/);
});

Deno.test("unknown status is rejected; revert is an alias of discard", () => {
  rejects(sampleInput({ status: "kept" as "keep" }), /^status$/, /must be one of/);
  rejects(sampleInput({ status: "retracted" as "keep" }), /^status$/, /must be one of/);
  assert.equal(validateCardInput(sampleInput({ status: "discard" })).status, "discard");
});

Deno.test("crash <=> val_bpb null", () => {
  rejects(
    sampleInput({ status: "crash", results: { val_bpb: 0.5 } }),
    /val_bpb/,
    /null for a crash/,
  );
  rejects(
    sampleInput({ status: "keep", results: { val_bpb: null } }),
    /val_bpb/,
    /null for a crash/,
  );
  rejects(sampleInput({ status: "pending", results: { val_bpb: null } }), /val_bpb/, /null/);
  assert.equal(
    validateCardInput(sampleInput({ status: "crash", results: { val_bpb: null } })).status,
    "crash",
  );
});

Deno.test("oversized fields are rejected with the stated limit", () => {
  rejects(sampleInput({ hypothesis: "x".repeat(LIMITS.text + 1) }), /^hypothesis$/, /4000/);
  rejects(sampleInput({ lesson: "x".repeat(LIMITS.text + 1) }), /^lesson$/, /4000/);
  rejects(sampleInput({ agent: "x".repeat(65) }), /^agent$/, /64/);
  rejects(sampleInput({ recipe_diff: "x".repeat(LIMITS.recipeDiff + 1) }), /recipe_diff/, /200000/);
  rejects(sampleInput({ config: { blob: "x".repeat(LIMITS.configJson) } }), /^config$/, /65536/);
  // Exactly at the limit is fine.
  assert.ok(validateCardInput(sampleInput({ hypothesis: "x".repeat(LIMITS.text) })));
});

Deno.test("wrong types, missing fields and unknown fields are rejected", () => {
  const { platform: _p, ...noPlatform } = sampleInput();
  rejects(noPlatform, /^platform$/, /required/);
  rejects(
    sampleInput({ platform: { ...sampleInput().platform, backend: "tpu" as "cpu" } }),
    /backend/,
    /one of webgpu, cpu, cuda/,
  );
  rejects(sampleInput({ config: [] as unknown as Record<string, unknown> }), /^config$/, /object/);
  rejects(sampleInput({ tags: "lr" as unknown as string[] }), /^tags$/, /list/);
  rejects({ ...sampleInput(), colour: "red" }, /colour/, /not a known field/);
  rejects([sampleInput()], /card/, /object/);
  rejects(sampleInput({ commit: "not-hex" }), /^commit$/, /hex/);
  rejects(sampleInput({ harness_hash: "a b" }), /^harness_hash$/, /characters/);
});

Deno.test("path-like prior card ids are rejected", () => {
  rejects(sampleInput({ prior_cards: ["../x"] }), /^prior_cards\.0$/, /card id/);
  rejects(sampleInput({ prior_cards: ["card_../../etc/passwd"] }), /prior_cards/, /card id/);
});

Deno.test("control characters and newlines in text are stored verbatim", async () => {
  const kb = openKnowledgeBase(await tempKb());
  const hypothesis = "line1\nline2\x1b[31mred\u0007";
  const card = await kb.writeCard(sampleInput({ hypothesis }));
  assert.equal(kb.getCard(card.id).card.hypothesis, hypothesis);
});

Deno.test("bad input writes nothing, not even the base directories", async () => {
  const dir = join(await tempKb(), "kb");
  const kb = openKnowledgeBase(dir);
  await assert.rejects(() => kb.writeCard(sampleInput({ hypothesis: "" })), UsageError);
  await assert.rejects(
    () => kb.writeCard(sampleInput({ prior_cards: ["card_01J9Z0000000000000000000AA"] })),
    /does not exist/,
  );
  assert.deepEqual(listDir(dir), []);
});

Deno.test("external backends and an optional source are accepted; a bad source is rejected", () => {
  const cuda = validateCardInput(
    sampleInput({
      platform: { ...sampleInput().platform, backend: "cuda", device: "NVIDIA H100" },
      source: { kind: "results.tsv", ref: "a1b2c3d:0123456789abcdef" },
    }),
  );
  assert.equal(cuda.platform.backend, "cuda");
  assert.deepEqual(cuda.source, { kind: "results.tsv", ref: "a1b2c3d:0123456789abcdef" });
  rejects(
    sampleInput({ source: { kind: "csv" as "commons", ref: "x" } }),
    /^source\.kind$/,
    /one of run-log/,
  );
  rejects(sampleInput({ source: { kind: "commons", ref: " " } }), /^source\.ref$/, /empty/);
  rejects(
    sampleInput({ source: { kind: "commons", ref: "x", extra: 1 } as never }),
    /extra/,
    /not a known field/,
  );
});
