/**
 * `autoresearch record`: a scratch git repository with a small Python trainer printing upstream's
 * summary block, run for real (`python3 train.py > run.log 2>&1`), recorded after each run: the
 * right card every time (pending with the block's numbers, or a crash with the error), an edited
 * train.py in the same comparability class under another recipe hash, lineage to the card of
 * the parent commit, and a log recorded twice written once. The CLI runs end to end with a
 * stand-in `nvidia-smi` on PATH.
 */
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { classKeyOf, openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { recordRun } from "../../src/record/record.ts";
import { sha256Hex } from "../../src/record/hash.ts";
import { importResultsTsv, parseResultsTsv, recipesFromGit } from "../../src/record/tsv.ts";
import { runCli } from "../cli_helpers.ts";
import { git, HAS_PYTHON, runTrainer, scratchRepo } from "./helpers.ts";

const H100 = { backend: "cuda", device: "NVIDIA H100 80GB HBM3" };

function options(dir: string) {
  return {
    kb: openKnowledgeBase(join(dir, "knowledge")),
    log: "run.log",
    cwd: dir,
    platform: H100,
    agent: "agent-a",
    session: "nov27",
  };
}

Deno.test({
  name: "record: each run of a real trainer makes the right card; edits stay in one class",
  ignore: !HAS_PYTHON,
  fn: async () => {
    const dir = await scratchRepo();
    const opts = options(dir);
    // 1. The baseline: a pending card with the block's numbers, the commit and its message.
    await runTrainer(dir);
    const base = await recordRun(opts);
    assert.equal(base.existing, false);
    const c1 = base.card;
    assert.equal(c1.status, "pending");
    assert.equal(c1.hypothesis, "baseline");
    assert.equal(c1.commit, git(dir, "rev-parse", "HEAD"));
    assert.deepEqual(c1.results, {
      val_bpb: 0.9979,
      training_seconds: 300.1,
      peak_memory_mb: 45060.2,
      mfu_percent: 39.8,
      total_tokens: 499_600_000,
      num_steps: 953,
      num_params: 50_400_000,
    });
    assert.equal(c1.platform.backend, "cuda");
    assert.equal(c1.platform.device, "NVIDIA H100 80GB HBM3");
    assert.equal(c1.budget_s, 300);
    assert.equal(c1.recipe_hash, await sha256Hex(await Deno.readFile(join(dir, "train.py"))));
    assert.equal(c1.recipe_diff, undefined); // the root commit has no parent to differ from
    assert.equal(c1.source?.kind, "run-log");
    await opts.kb.completeCard(c1.id, { status: "keep", agent: "agent-a" });

    // 2. The same log again: found, nothing written.
    const again = await recordRun(opts);
    assert.equal(again.existing, true);
    assert.equal(again.card.id, c1.id);
    assert.equal((await opts.kb.listCards()).length, 1);

    // 3. An edited train.py, committed: same class, another recipe hash, the diff, lineage.
    const source = await Deno.readTextFile(join(dir, "train.py"));
    await Deno.writeTextFile(join(dir, "train.py"), source.replace("DEPTH = 8", "DEPTH = 12"));
    git(dir, "commit", "-q", "-am", "depth 12: more capacity in the same budget");
    await runTrainer(dir, { VAL_BPB: "0.9912" });
    const c2 = (await recordRun(opts)).card;
    assert.equal(c2.status, "pending");
    assert.equal(c2.results.val_bpb, 0.9912);
    assert.equal(c2.results.num_params, 75_600_000);
    assert.equal(c2.hypothesis, "depth 12: more capacity in the same budget");
    assert.equal(classKeyOf(c2), classKeyOf(c1));
    assert.notEqual(c2.recipe_hash, c1.recipe_hash);
    assert.match(c2.recipe_diff ?? "", /^-DEPTH = 8$/m);
    assert.match(c2.recipe_diff ?? "", /^\+DEPTH = 12$/m);
    assert.deepEqual(c2.prior_cards, [c1.id]);

    // 4. A rerun of the same recipe: a replicate (same class, same recipe hash).
    await runTrainer(dir, { VAL_BPB: "0.9915" });
    const c3 = (await recordRun(opts)).card;
    assert.equal(c3.recipe_hash, c2.recipe_hash);
    assert.equal(classKeyOf(c3), classKeyOf(c2));

    // 5. The ways a run fails: each a crash card with val_bpb null and the error in its lesson.
    const crashes: [string, RegExp][] = [
      ["fail", /FAIL/],
      ["traceback", /RuntimeError: CUDA out of memory/],
      ["noblock", /no summary block/],
    ];
    for (const [mode, lesson] of crashes) {
      await runTrainer(dir, { MODE: mode });
      const crash = (await recordRun(opts)).card;
      assert.equal(crash.status, "crash", mode);
      assert.equal(crash.results.val_bpb, null, mode);
      assert.match(crash.lesson ?? "", lesson, mode);
      assert.equal(classKeyOf(crash), classKeyOf(c1), mode);
    }

    // 6. Extra lines around the block: read exactly.
    await runTrainer(dir, { MODE: "noisy", VAL_BPB: "0.9931" });
    const noisy = (await recordRun(opts)).card;
    assert.equal(noisy.status, "pending");
    assert.equal(noisy.results.val_bpb, 0.9931);
    assert.equal(noisy.results.num_steps, 953);
    assert.equal((await opts.kb.listCards()).length, 7);

    // 7. An uncommitted edit: the card says dirty, and its diff and hash are of what ran.
    const committed = await Deno.readTextFile(join(dir, "train.py"));
    await Deno.writeTextFile(join(dir, "train.py"), committed.replace("DEPTH = 12", "DEPTH = 14"));
    await runTrainer(dir, { VAL_BPB: "0.9905" });
    const dirty = await recordRun(opts);
    assert.equal(dirty.card.dirty, true);
    assert.match(dirty.card.recipe_diff ?? "", /^\+DEPTH = 14$/m);
    assert.match(dirty.warnings.join("\n"), /uncommitted changes/);
    assert.notEqual(dirty.card.recipe_hash, c2.recipe_hash);
    assert.equal(c2.dirty, undefined);
    await Deno.writeTextFile(join(dir, "train.py"), committed);

    // 8. A results.tsv of the same repository imports with the same recipe hashes as record.
    const head = git(dir, "rev-parse", "--short", "HEAD");
    const root = git(dir, "rev-parse", "--short", "HEAD~1");
    const tsv = `commit\tval_bpb\tmemory_gb\tstatus\tdescription\n${root}\t0.997900\t44.0\t` +
      `keep\tbaseline\n${head}\t0.991200\t44.0\tkeep\tdepth 12\n`;
    const parsed = parseResultsTsv(new TextEncoder().encode(tsv));
    const recipes = await recipesFromGit(dir, parsed.rows.map((r) => r.commit), "train.py");
    assert.equal(recipes.get(root)?.hash, c1.recipe_hash);
    assert.equal(recipes.get(head)?.hash, c2.recipe_hash);
    assert.match(recipes.get(head)?.diff ?? "", /^\+DEPTH = 12$/m);
    const other = openKnowledgeBase(await Deno.makeTempDir({ prefix: "kb-tsv-git-" }));
    const report = await importResultsTsv(parsed, {
      kb: other,
      platform: c1.platform,
      harnessHash: c1.harness_hash,
      budgetS: 300,
      agent: "agent-a",
      session: "nov27",
      recipes,
    });
    assert.deepEqual(report.added.map((c) => c.recipe_hash), [c1.recipe_hash, c2.recipe_hash]);
    assert.equal(classKeyOf(report.added[1]), classKeyOf(c1));
  },
});

Deno.test({
  name: "record CLI: nvidia-smi names the GPU; bad input is one line and exit 2",
  ignore: !HAS_PYTHON,
  fn: async () => {
    const dir = await scratchRepo();
    await runTrainer(dir);
    const bin = await Deno.makeTempDir({ prefix: "fake-bin-" });
    await Deno.writeTextFile(
      join(bin, "nvidia-smi"),
      "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559'\n",
    );
    await Deno.chmod(join(bin, "nvidia-smi"), 0o755);
    const kb = join(dir, "knowledge");
    const env = { PATH: `${bin}:${Deno.env.get("PATH")}`, AUTORESEARCH_AGENT: "agent-a" };
    const cwdArgs = (args: string[]) => ["--kb", kb, ...args];
    // runCli runs in this process's cwd: give the files by path.
    const files = [
      "--trainer-file",
      join(dir, "train.py"),
      "--harness-file",
      join(dir, "prepare.py"),
    ];
    const ok = await runCli(["record", join(dir, "run.log"), ...cwdArgs(files), "--json"], { env });
    assert.equal(ok.code, 0, ok.stderr);
    const card = JSON.parse(ok.stdout);
    assert.equal(card.platform.backend, "cuda");
    assert.equal(card.platform.device, "NVIDIA H100 80GB HBM3");
    assert.equal(card.platform.vendor, "NVIDIA");
    assert.equal(card.hypothesis, "baseline");
    assert.equal(card.status, "pending");

    const missing = await runCli(["record", join(dir, "nope.log"), ...cwdArgs(files)], { env });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: RUN_LOG.*no such file\n$/);
    const noTrainer = await runCli(
      ["record", join(dir, "run.log"), "--kb", kb, "--trainer-file", join(dir, "x.py")],
      { env },
    );
    assert.equal(noTrainer.code, 2);
    assert.match(noTrainer.stderr, /^error: --trainer-file: cannot read .*x\.py: no such file\n$/);
    const badBackend = await runCli(
      ["record", join(dir, "run.log"), ...cwdArgs(files), "--backend", "tpu"],
      { env },
    );
    assert.equal(badBackend.code, 2);
    assert.match(badBackend.stderr, /^error: --backend: must be one of webgpu, cpu, cuda/);
    // Nothing but the first card was written.
    assert.equal([...Deno.readDirSync(join(kb, "cards"))].length, 1);
  },
});
