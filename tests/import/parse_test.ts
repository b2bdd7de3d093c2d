/**
 * The pure readers behind record and import: upstream's summary block and the signs of a crash
 * in a run log, a results.tsv's rows and malformed lines, nvidia-smi's CSV, the budget constant
 * in a harness file, and the fork's platform mapping.
 */
import * as assert from "node:assert/strict";
import { parseRunLog } from "../../src/record/summary.ts";
import { parseResultsTsv } from "../../src/record/tsv.ts";
import { parseNvidiaSmi } from "../../src/record/platform.ts";
import { harnessBudget } from "../../src/record/hash.ts";
import { checkForkCard, forkPlatform } from "../../src/record/commons.ts";
import { UsageError } from "../../src/util/errors.ts";
import { SUMMARY_BLOCK, UPSTREAM_SUMMARY } from "./helpers.ts";

Deno.test("the summary block upstream prints is read exactly, with progress lines before it", () => {
  const log =
    `compiling...\rstep 00001 (0.1%) | loss: 9.01\rstep 00953 | loss: 3.2\n${SUMMARY_BLOCK}`;
  const outcome = parseRunLog(log);
  assert.equal(outcome.kind, "finished");
  if (outcome.kind !== "finished") return;
  assert.deepEqual(outcome.summary, UPSTREAM_SUMMARY);
  assert.deepEqual(outcome.warnings, []);
});

Deno.test("extra lines around the block and a second block: the last block wins", () => {
  const first = SUMMARY_BLOCK.replace("0.997900", "1.100000");
  const log = `warning: something\n${first}\nrerun\nUserWarning: x\n${SUMMARY_BLOCK}` +
    "\nwandb: done\n\nbye\n";
  const outcome = parseRunLog(log);
  assert.equal(outcome.kind, "finished");
  if (outcome.kind === "finished") assert.equal(outcome.summary.val_bpb, 0.9979);
});

Deno.test("a block line with a value that is not a number is a warning, not a result", () => {
  const outcome = parseRunLog(SUMMARY_BLOCK.replace("953", "n/a"));
  assert.equal(outcome.kind, "finished");
  if (outcome.kind !== "finished") return;
  assert.equal(outcome.summary.num_steps, undefined);
  assert.match(outcome.warnings.join("\n"), /num_steps: n\/a is not a number/);
});

Deno.test("FAIL, a traceback, no block, an empty log, a NaN val_bpb: crashes with a reason", () => {
  const fail = parseRunLog("step 00010 | loss: nan\nFAIL\n");
  assert.equal(fail.kind, "crash");
  if (fail.kind === "crash") {
    assert.match(fail.reason, /FAIL/);
    assert.match(fail.tail, /loss: nan\nFAIL/);
  }
  const traceback = parseRunLog(
    'step 1\nTraceback (most recent call last):\n  File "train.py", line 3, in <module>\n' +
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n",
  );
  assert.equal(traceback.kind, "crash");
  if (traceback.kind === "crash") {
    assert.match(traceback.reason, /OutOfMemoryError/);
    assert.ok(traceback.tail.startsWith("Traceback"));
  }
  const noBlock = parseRunLog("step 1 | loss 9\nstep 2 | loss 8\n");
  assert.equal(noBlock.kind, "crash");
  if (noBlock.kind === "crash") assert.match(noBlock.reason, /no summary block/);
  const empty = parseRunLog("\n\n");
  assert.equal(empty.kind, "crash");
  if (empty.kind === "crash") assert.match(empty.reason, /empty/);
  const nan = parseRunLog(SUMMARY_BLOCK.replace("0.997900", "nan"));
  assert.equal(nan.kind, "crash");
  if (nan.kind === "crash") assert.match(nan.reason, /val_bpb is nan/);
});

Deno.test("a traceback Python ignored (a destructor at exit) after the block is not a crash", () => {
  const log = `${SUMMARY_BLOCK}Exception ignored in: <function Loader.__del__ at 0x7f>\n` +
    'Traceback (most recent call last):\n  File "x.py", line 1\nOSError: handle closed\n';
  const outcome = parseRunLog(log);
  assert.equal(outcome.kind, "finished");
  if (outcome.kind === "finished") assert.equal(outcome.summary.val_bpb, 0.9979);
  // The same traceback without Python's "ignored" line is an uncaught error: a crash.
  assert.equal(parseRunLog(log.replace(/^Exception ignored in.*\n/m, "")).kind, "crash");
});

Deno.test("a crash's tail is bounded: the last 20 lines, at most 2,000 characters", () => {
  const lines = Array.from({ length: 100 }, (_, i) => `line ${i} ${"x".repeat(200)}`);
  const outcome = parseRunLog(`${lines.join("\n")}\nFAIL`);
  assert.equal(outcome.kind, "crash");
  if (outcome.kind !== "crash") return;
  assert.ok(outcome.tail.length <= 2003);
  assert.ok(outcome.tail.endsWith("FAIL"));
  assert.ok(!outcome.tail.includes("line 80 "));
});

Deno.test("results.tsv: rows in order, crash 0.000000 -> null, malformed rows by line number", () => {
  const text = [
    "commit\tval_bpb\tmemory_gb\tstatus\tdescription",
    "a1b2c3d\t0.997900\t44.0\tkeep\tbaseline",
    "b2c3d4e\t0.993200\t44.2\tkeep\tincrease LR to 0.04",
    "c3d4e5f\t1.005000\t44.0\tdiscard\tswitch to GeLU activation",
    "d4e5f6a\t0.000000\t0.0\tcrash\tdouble model width (OOM)",
    "",
    "e5f6a7b\t0.99\t44.0\tkept\ttypo in status",
    "zzzzzzz\t0.99\t44.0\tkeep\tnot a commit",
    "f6a7b8c\tabc\t44.0\tdiscard\tbad value",
    "a7b8c9d\t0.99\t44.0",
    "b8c9d0e\t0.000000\t44.0\tkeep\tzero on a keep",
    "c9d0e1f\t0.990000\t44.1\tdiscard\ttab\tin description",
  ].join("\n");
  const parsed = parseResultsTsv(new TextEncoder().encode(text));
  assert.deepEqual(parsed.rows.map((r) => [r.line, r.status, r.valBpb]), [
    [2, "keep", 0.9979],
    [3, "keep", 0.9932],
    [4, "discard", 1.005],
    [5, "crash", null],
    [12, "discard", 0.99],
  ]);
  assert.equal(parsed.rows[4].description, "tab in description");
  assert.deepEqual(parsed.problems.map((p) => p.line), [7, 8, 9, 10, 11]);
  assert.match(parsed.problems[0].reason, /status "kept"/);
  assert.match(parsed.problems[3].reason, /5 tab-separated columns, found 3/);
  assert.match(parsed.problems[4].reason, /only a crash has no result/);
});

Deno.test("a file that is not a results.tsv at all is refused as a whole", () => {
  const refuse = (bytes: Uint8Array, rule: RegExp) =>
    assert.throws(() => parseResultsTsv(bytes, "x.tsv"), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, rule);
      return true;
    });
  const enc = (s: string) => new TextEncoder().encode(s);
  refuse(enc("name,score\nfoo,1\n"), /not a results\.tsv/);
  refuse(enc("commit val_bpb memory_gb status description\n"), /not a results\.tsv/);
  refuse(enc(""), /empty/);
  refuse(new Uint8Array([0x63, 0xff, 0xfe, 0x00]), /not UTF-8/);
});

Deno.test("nvidia-smi CSV, the harness budget, the fork's platform", () => {
  assert.deepEqual(parseNvidiaSmi("NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559\n"), [
    { name: "NVIDIA H100 80GB HBM3", memoryMib: 81559 },
    { name: "NVIDIA H100 80GB HBM3", memoryMib: 81559 },
  ]);
  assert.deepEqual(parseNvidiaSmi("No devices were found\n"), []);
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(harnessBudget(enc("MAX_SEQ_LEN = 2048\nTIME_BUDGET = 300  # seconds\n")), 300);
  assert.equal(harnessBudget(enc("TIME_BUDGET: int = 120\n")), 120);
  assert.equal(harnessBudget(enc("budget = 300\n")), null);
  assert.deepEqual(forkPlatform({ gpu: "NVIDIA H100", ram_gb: 80, framework: "pytorch-cuda" }), {
    backend: "cuda",
    device: "NVIDIA H100",
    vendor: "NVIDIA",
    cores: 1,
    memory_gb: 80,
  });
  assert.equal(forkPlatform({ gpu: "Apple M2 Max", ram_gb: 32, framework: null }).backend, "mps");
  assert.equal(forkPlatform({ gpu: null, ram_gb: null, framework: "pytorch-cpu" }).backend, "cpu");
});

Deno.test("fork cards the fork would crash on are refused with the reason", () => {
  const good = {
    id: "card_1",
    timestamp: "2026-03-08T14:30:52",
    hypothesis: "h",
    status: "keep",
    results: { val_bpb: 0.99 },
    platform: { gpu: "NVIDIA H100", ram_gb: 80, framework: "pytorch-cuda" },
  };
  assert.equal(checkForkCard(good, "p").valBpb, 0.99);
  assert.equal(checkForkCard({ ...good, commit_id: "abc1234" }, "p").commitId, "abc1234");
  assert.equal(
    checkForkCard({ ...good, status: "crash", results: { val_bpb: 0 } }, "p").valBpb,
    null,
  );
  const refuse = (card: unknown, rule: RegExp) =>
    assert.throws(() => checkForkCard(card, "p"), rule);
  refuse({ ...good, hypothesis: undefined }, /hypothesis is missing/);
  refuse({ ...good, status: "maybe" }, /not a fork status/);
  refuse({ ...good, results: { val_bpb: "0.99" } }, /val_bpb must be a number/);
  refuse({ ...good, results: { val_bpb: 0 } }, /only a crash has no result/);
  refuse({ ...good, results: { val_bpb: 0.99, delta: "x" } }, /results.delta must be a number/);
  refuse({ ...good, platform: undefined }, /platform is missing/);
  refuse({ ...good, tags: "lr" }, /tags must be a list/);
});
