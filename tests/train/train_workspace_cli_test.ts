/**
 * `autoresearch train` on a workspace recipe, as real processes: a recipe file outside the
 * repository (a git workspace with an uncommitted edit) trains with `--recipe`, a `--config`
 * change and `--seeds 2`, and its cards record the edit (dirty, recipe_diff), the change
 * (config), the group, the fixed evaluation and the load; `--item` runs a queue item (its
 * change on top of its base card's values, its fixed seeds, prior cards, group and item id); a bad `--config` key exits 2 before training; a run
 * whose val_bpb is NaN prints FAIL, exits 1, records a crash card and writes `--results` for
 * that run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCli } from "../cli_helpers.ts";
import { REFERENCE_RECIPE_TEXT } from "./model_helpers.ts";
import { git } from "../workspace/helpers.ts";

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { XDG_RUNTIME_DIR: "/tmp", AUTORESEARCH_AGENT: "tester" } });
}

// deno-lint-ignore no-explicit-any
type AnyCard = Record<string, any>;

function cards(kb: string): AnyCard[] {
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(join(kb, "cards"))].map((e) => e.name).sort();
  } catch {
    return [];
  }
  return names.map((n) => JSON.parse(Deno.readTextFileSync(join(kb, "cards", n))));
}

/** Small values of the reference recipe so a run takes seconds. */
const SMALL = JSON.stringify({
  "model.depth": 1,
  "model.width": 64,
  "model.headDim": 32,
  "model.seqLen": 64,
  "model.veGateChannels": 16,
  totalBatchTokens: 512,
  deviceBatchRows: 8,
});

Deno.test("train CLI: a workspace recipe with an edit, --config and --seeds 2; --item; NaN; bad key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "train-ws-" });
  try {
    const cache = join(dir, "cache"), kb = join(dir, "kb"), ws = join(dir, "ws");
    const prep = await cli(["prepare", "--embedded", "--cache", cache]);
    assert.equal(prep.code, 0, prep.stderr);
    await Deno.mkdir(ws);
    const recipe = join(ws, "recipe.ts");
    await Deno.writeTextFile(recipe, REFERENCE_RECIPE_TEXT.source);
    await git(ws, "init", "-q");
    await git(ws, "add", "recipe.ts");
    await git(ws, "commit", "-qm", "baseline recipe");
    // An uncommitted edit of the forward: one line.
    const edited = REFERENCE_RECIPE_TEXT.source.replace(
      "x = add(x, linear(y, blk.attnProj));",
      "x = add(x, scale(linear(y, blk.attnProj), 0.5));",
    );
    assert.notEqual(edited, REFERENCE_RECIPE_TEXT.source);
    await Deno.writeTextFile(recipe, edited);
    const common = ["--backend", "cpu", "--budget", "1", "--eval-tokens", "4096", "--cache", cache];

    // A bad key is bad input: exit 2, nothing trained or written.
    const bad = await cli([
      "train",
      ...common,
      "--kb",
      kb,
      "--recipe",
      recipe,
      "--config",
      '{"optim.bogus":1}',
    ]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^error: config\.optim\.bogus: not a recipe key/m);
    assert.equal(cards(kb).length, 0);

    const results = join(dir, "seeds.json");
    const r = await cli([
      "train",
      ...common,
      "--kb",
      kb,
      "--recipe",
      recipe,
      "--config",
      SMALL,
      "--seeds",
      "2",
      "--results",
      results,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: uncommitted changes/);
    assert.equal(r.stdout.match(/^val_bpb:/gm)?.length, 2, "two summary blocks");
    const seeded = cards(kb);
    assert.equal(seeded.length, 2);
    assert.deepEqual(seeded.map((c) => c.seed).sort(), [42, 43]);
    assert.match(seeded[0].group, /^grp_/);
    assert.equal(seeded[0].group, seeded[1].group);
    for (const card of seeded) {
      assert.equal(card.dirty, true);
      assert.match(card.recipe_diff, /\+.*scale\(linear\(y, blk\.attnProj\), 0\.5\)/);
      assert.match(card.commit, /^[0-9a-f]{40}$/);
      assert.equal(card.config.model.depth, 1);
      assert.equal(card.config.optim.matrixLr, 0.04);
      assert.deepEqual(card.eval, { tokens: 4096, seq_len: 256 });
      assert.equal(typeof card.results.load_avg, "number");
      assert.equal(card.status, "pending");
    }
    assert.equal(seeded[0].recipe_hash, seeded[1].recipe_hash, "seeds share the recipe hash");
    const summary = JSON.parse(await Deno.readTextFile(results));
    assert.equal(summary.group, seeded[0].group);
    assert.equal(summary.runs.length, 2);

    // A queue item: its change applies to its base card's values (the small model of the seeded
    // runs), its fixed seeds run as one group, its prior cards are linked; no edit needed.
    const add = await cli([
      "director",
      "add",
      "--kb",
      kb,
      "--category",
      "learning_rate",
      "--hypothesis",
      "a higher matrix LR on the small model",
      "--config",
      '{"optim.matrixLr":0.06}',
      "--base",
      seeded[0].id,
      "--seeds",
      "7,8",
      "--prior-cards",
      seeded[0].id,
      "--json",
    ]);
    assert.equal(add.code, 0, add.stderr);
    const itemId = (add.stdout.match(/item_[0-9A-Z]{26}/) ?? [])[0];
    assert.ok(itemId, add.stdout);
    const itemRun = await cli([
      "train",
      ...common,
      "--kb",
      kb,
      "--recipe",
      recipe,
      "--item",
      itemId,
    ]);
    assert.equal(itemRun.code, 0, itemRun.stderr);
    const itemCards = cards(kb).filter((c) => c.item === itemId);
    assert.deepEqual(itemCards.map((c) => c.seed).sort(), [7, 8]);
    for (const itemCard of itemCards) {
      assert.equal(itemCard.group, itemId);
      assert.equal(itemCard.config.optim.matrixLr, 0.06);
      assert.equal(itemCard.config.model.depth, 1, "the base card's values");
      assert.deepEqual(itemCard.prior_cards, [seeded[0].id]);
      assert.equal(itemCard.hypothesis, "a higher matrix LR on the small model");
      assert.notEqual(itemCard.recipe_hash, seeded[0].recipe_hash);
    }

    // NaN val_bpb: FAIL, exit 1, a crash card, and --results names THIS run's card.
    const nanRecipe = join(dir, "nan_recipe.ts");
    await Deno.writeTextFile(
      nanRecipe,
      edited.replace(
        "      adam.step();\n      muon.step();",
        "      adam.step();\n      muon.step();\n      for (const p of model.params) p.set(new Float32Array(p.size).fill(NaN));",
      ),
    );
    const nanResults = join(dir, "nan.json");
    const nan = await cli([
      "train",
      ...common,
      "--kb",
      kb,
      "--recipe",
      nanRecipe,
      "--config",
      JSON.stringify({ ...JSON.parse(SMALL), warmupSteps: 0 }),
      "--results",
      nanResults,
    ]);
    assert.equal(nan.code, 1, nan.stderr);
    assert.match(nan.stdout, /^FAIL$/m);
    const nanReport = JSON.parse(await Deno.readTextFile(nanResults));
    const crash = cards(kb).find((c) => c.id === nanReport.card_id);
    assert.ok(crash, "--results names the crash card of this run");
    assert.equal(crash.status, "crash");
    assert.equal(crash.results.val_bpb, null);
    assert.match(crash.error, /NaN/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
