/**
 * No finished run is lost to a user's mistake: `train` checks everything it will write and every
 * numeric flag before training (a file as `--kb`, a directory as `--results`, `--eval-tokens 1.5`
 * fail at once, exit 2, no checkpoint written); `--eval-tokens` beyond the val split is capped as
 * documented; old checkpoints are pruned to the newest N and the pruning is said. One short real
 * run on the embedded corpus.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pruneCheckpoints } from "../../src/train/checkpoint.ts";
import { assertRefused, cli, listTree, scratch } from "./helpers.ts";

Deno.test("train: bad targets and numbers fail before training, nothing written", async () => {
  const { root, kb } = await scratch();
  const cache = join(root, "cache");
  const prepared = await cli(["prepare", "--embedded", "--cache", cache]);
  assert.equal(prepared.code, 0, prepared.stderr);
  await Deno.writeTextFile(join(root, "a-file"), "x");
  const cases: [string[], RegExp][] = [
    [["--kb", join(root, "a-file")], /^error: --kb: .*is not a directory/],
    [["--kb", kb, "--results", root], /^error: --results: .*is a directory/],
    [["--kb", kb, "--eval-tokens", "1.5"], /^error: --eval-tokens: must be a positive integer/],
    [["--kb", kb, "--eval-tokens", "0x10"], /^error: --eval-tokens: /],
    [["--kb", kb, "--keep-checkpoints", "-1"], /^error: --keep-checkpoints: /],
  ];
  for (const [args, pattern] of cases) {
    const started = Date.now();
    const result = await cli([
      "train",
      "--budget",
      "30",
      "--backend",
      "cpu",
      "--cache",
      cache,
      ...args,
    ]);
    assertRefused(result, 2, pattern);
    assert.ok(Date.now() - started < 20_000, "refused before a 30 s budget was trained");
  }
  assert.deepEqual(await listTree(join(cache, "checkpoints")), []);
  assert.deepEqual(await listTree(kb), []);
});

/** A tiny local corpus (a small val split keeps the one real run short). */
async function tinyCorpus(root: string): Promise<string> {
  const docs = join(root, "docs");
  await Deno.mkdir(docs);
  for (let i = 0; i < 40; i++) {
    await Deno.writeTextFile(
      join(docs, `d${i}.txt`),
      `Call me Ishmael, number ${i}. Some years ago, never mind how long precisely, having ` +
        "little or no money in my purse, I thought I would sail about a little.",
    );
  }
  return docs;
}

Deno.test("train: --eval-tokens is capped at the val split; old checkpoints are pruned", async () => {
  const { root } = await scratch();
  const cache = join(root, "cache");
  const docs = await tinyCorpus(root);
  const prepared = await cli(["prepare", "--text", docs, "--vocab-size", "300", "--cache", cache]);
  assert.equal(prepared.code, 0, prepared.stderr);
  const checkpoints = join(cache, "checkpoints");
  const old = ["run_01J00000000000000000000000", "run_01J00000000000000000000001"];
  for (const name of old) await Deno.mkdir(join(checkpoints, name), { recursive: true });
  await Deno.mkdir(join(checkpoints, "not-a-run")); // left alone: not named like a run
  const result = await cli([
    "train",
    "--budget",
    "1",
    "--backend",
    "cpu",
    "--cache",
    cache,
    "--no-card",
    "--eval-tokens",
    "1e15",
    "--keep-checkpoints",
    "1",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^val_bpb:/m);
  assert.match(result.stderr, /--eval-tokens 1000000000000000 capped at the val split: \d+ tokens/);
  assert.match(
    result.stderr,
    new RegExp(`pruned 2 old checkpoints \\(keeping the newest 1\\): ${old[0]}, ${old[1]}`),
  );
  const left = await listTree(checkpoints);
  assert.ok(left.includes("not-a-run"));
  const runs = left.filter((p) => /^run_[^/]+$/.test(p));
  assert.equal(runs.length, 1);
  assert.ok(!old.includes(runs[0]));
});

Deno.test("pruneCheckpoints keeps the newest N run folders and names what it removed", async () => {
  const root = await Deno.makeTempDir();
  const names = [
    "run_01J00000000000000000000003",
    "run_01J00000000000000000000001",
    "run_01J00000000000000000000002",
  ];
  for (const name of names) await Deno.mkdir(join(root, name));
  await Deno.writeTextFile(join(root, "run_01J00000000000000000000000"), "a file, not a run");
  assert.deepEqual(await pruneCheckpoints(root, 2), ["run_01J00000000000000000000001"]);
  assert.deepEqual(await pruneCheckpoints(root, 2), []);
  assert.deepEqual(await pruneCheckpoints(join(root, "missing"), 1), []);
  assert.deepEqual((await listTree(root)).length, 3);
});
