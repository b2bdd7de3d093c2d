/**
 * The seed README's commands (autoresearch-commons: `uv run commons.py <command>`) run as written
 * inside a workspace: write-card without hashes or budget (they come from the workspace's recipe,
 * the prepared data and the default budget; the platform from this machine), read-brief,
 * read-meta, coverage, synthesize, update-meta and retract. Missing required fields are named
 * together in one error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, scratchWithData } from "./helpers.ts";

Deno.test("the seed's knowledge commands run as written in a workspace", async () => {
  const { root, cache } = await scratchWithData();
  try {
    const ws = join(root, "ws");
    assert.equal((await cli(root, ["init", "ws"])).code, 0);
    const env = { AUTORESEARCH_CACHE: cache, AUTORESEARCH_SESSION: "mar8" };
    const run = (args: string[]) => cli(ws, args, env);

    // The brief's form and the seed README's full form (the seed's card_001-style prior ids
    // are replaced by a real one: ids here are generated).
    const first = await run([
      "write-card",
      "--commit",
      "a1b2c3d",
      "--hypothesis",
      "halve the batch: more steps in the budget",
      "--result",
      "0.986",
      "--status",
      "keep",
      "--lesson",
      "more steps beat bigger batches at this size",
      "--tags",
      "batch_size",
    ]);
    assert.equal(first.code, 0, first.stderr);
    const firstId = first.stdout.trim();
    const second = await run([
      "write-card",
      "--commit",
      "abc1234",
      "--hypothesis",
      "Halve batch size",
      "--result",
      "0.986",
      "--delta",
      "-0.012",
      "--status",
      "keep",
      "--lesson",
      "More steps in fixed time budget",
      "--tags",
      "batch_size,optimization",
      "--prior-cards",
      firstId,
      "--estimated-flops",
      "1.2e15",
      "--num-params",
      "124000000",
    ]);
    assert.equal(second.code, 0, second.stderr);
    const secondId = second.stdout.trim();

    const card = JSON.parse((await run(["show-card", firstId, "--json"])).stdout).card;
    assert.match(card.harness_hash, /^[0-9a-f]{64}$/);
    assert.match(card.recipe_hash, /^[0-9a-f]{64}$/);
    assert.equal(card.budget_s, 300);
    assert.equal(card.platform.backend, "cpu");
    assert.ok(card.platform.cores >= 1);
    assert.equal(card.commit, "a1b2c3d");

    const brief = await run(["read-brief"]);
    assert.equal(brief.code, 0, brief.stderr);
    assert.ok(brief.stdout.includes("more steps beat bigger batches"), brief.stdout);
    for (
      const args of [["read-meta"], ["coverage"], ["synthesize", "--session", "mar8"], [
        "update-meta",
      ]]
    ) {
      const result = await run(args);
      assert.equal(result.code, 0, `${args[0]}: ${result.stderr}`);
      assert.ok(result.stdout.trim().length > 0, `${args[0]} printed nothing`);
    }
    const coverage = await run(["coverage"]);
    assert.match(coverage.stdout, /batch_size/);
    const retract = await run([
      "retract",
      "--id",
      secondId,
      "--reason",
      "Baseline was misconfigured",
    ]);
    assert.equal(retract.code, 0, retract.stderr);
    const listed = JSON.parse((await run(["list-cards", "--json"])).stdout);
    assert.deepEqual(
      listed.map((c: { id: string; retracted: boolean }) => [c.id, c.retracted]),
      [[firstId, false], [secondId, true]],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("write-card names every missing required field in one error and writes nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "ar-ws-" });
  try {
    assert.equal((await cli(root, ["init"])).code, 0);
    // No prepared data in this cache: the harness hash cannot be derived either.
    const result = await cli(root, ["write-card", "--lesson", "x"], {
      AUTORESEARCH_CACHE: join(root, "empty-cache"),
    });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      new RegExp(
        "^error: hypothesis \\(--hypothesis\\), status \\(--status\\), results.val_bpb \\(--result\\), " +
          "harness_hash \\(--harness-hash\\): required; --harness-hash cannot be derived here: .*prepare",
      ),
    );
    assert.equal(result.stderr.trim().split("\n").length, 1);
    // A GPU card's hashes are never guessed from this machine's CPU run.
    const gpu = await cli(root, [
      "write-card",
      "--hypothesis",
      "h",
      "--result",
      "1",
      "--status",
      "keep",
      "--backend",
      "webgpu",
      "--device",
      "NVIDIA H100",
      "--vendor",
      "nvidia",
    ]);
    assert.equal(gpu.code, 2);
    assert.match(
      gpu.stderr,
      /harness_hash \(--harness-hash\), recipe_hash \(--recipe-hash\): required; .*CPU cards only/,
    );
    assert.deepEqual([...Deno.readDirSync(join(root, "knowledge"))].map((e) => e.name).sort(), [
      ".git",
      ".gitignore",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
