/**
 * The documented install from a clone (README "Install"): `deno install -g -A -f -n autoresearch
 * --config deno.json main.ts` into a scratch DENO_INSTALL_ROOT, then, from outside the
 * repository: `autoresearch init`, an edit of the workspace recipe (one hyperparameter and one
 * line of the forward), committed, a few seconds of training, and the edit found in the card:
 * its config holds the new value and its recipe hash is the edited recipe's, not the default's.
 * A card written by hand in the same workspace gets the same recipe and harness hashes.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import {
  DEFAULT_RECIPE_SOURCE,
  evaluateRecipe,
  loadRecipe,
} from "../../src/train/recipe_loader.ts";
import { recipeHash } from "../../src/train/run.ts";
import { CPU_DEVICE } from "../../src/train/recipe.ts";
import { git } from "./helpers.ts";

const REPO = new URL("../..", import.meta.url).pathname;
const decoder = new TextDecoder();

async function run(cmd: string, args: string[], cwd: string, env: Record<string, string>) {
  const output = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("installed the documented way, autoresearch trains an edited workspace recipe", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "ar-install-" });
  try {
    const root = join(scratch, "install-root");
    // The installed shim runs `deno`: put this test's own Deno first on the PATH.
    const env = {
      DENO_INSTALL_ROOT: root,
      PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
      AUTORESEARCH_CACHE: join(scratch, "cache"),
      AUTORESEARCH_AGENT: "installer",
    };
    const installed = await run(
      Deno.execPath(),
      ["install", "-g", "-A", "-f", "-n", "autoresearch", "--config", "deno.json", "main.ts"],
      REPO,
      env,
    );
    assert.equal(installed.code, 0, installed.stderr);
    const bin = join(root, "bin", "autoresearch");
    const tool = (args: string[], cwd: string) => run(bin, args, cwd, env);

    assert.equal((await tool(["init", "ws"], scratch)).code, 0);
    const ws = join(scratch, "ws");
    assert.equal((await tool(["prepare", "--embedded"], ws)).code, 0);

    // One hyperparameter of the CPU recipe and one line of the forward.
    const path = join(ws, "recipe.ts");
    const original = await Deno.readTextFile(path);
    const hyper = /(export const CPU_RECIPE: Recipe = \{[\s\S]*?warmupSteps: )1,/;
    const forward = "const logits = linear(rmsnorm(x), this.#lmHead);";
    assert.match(original, hyper);
    assert.ok(original.includes(forward), "the forward line to edit");
    const edited = original.replace(hyper, "$13,").replace(
      forward,
      "const logits = linear(scale(rmsnorm(x), 0.5), this.#lmHead);",
    );
    await Deno.writeTextFile(path, edited);
    await git(ws, "commit", "-q", "-am", "try: 3 warmup steps, logits from half the final norm");

    const trained = await tool(
      // The default evaluation, so write-card's derived harness hash can be compared below.
      ["train", "--budget", "2", "--results", "run.json"],
      ws,
    );
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stdout, /^val_bpb:\s+\d/m);
    const report = JSON.parse(await Deno.readTextFile(join(ws, "run.json")));
    const shown = await tool(["show-card", report.card_id, "--json"], ws);
    assert.equal(shown.code, 0, shown.stderr);
    const card = JSON.parse(shown.stdout).card;
    assert.equal(card.config.warmupSteps, 3, "the edited hyperparameter is in the card");
    const editedRecipe = await loadRecipe(path, CPU_DEVICE);
    assert.equal(card.recipe_hash, await recipeHash(editedRecipe.source, editedRecipe.config));
    const builtIn = evaluateRecipe(DEFAULT_RECIPE_SOURCE, null, CPU_DEVICE);
    assert.notEqual(card.recipe_hash, await recipeHash(builtIn.source, builtIn.config));
    assert.equal(card.commit, await git(ws, "rev-parse", "HEAD"));
    // A card written by hand here lands in the same class with the same recipe hash.
    const written = await tool(
      ["write-card", "--hypothesis", "by hand", "--result", "2.5", "--status", "discard", "--json"],
      ws,
    );
    assert.equal(written.code, 0, written.stderr);
    const byHand = JSON.parse(written.stdout);
    assert.equal(byHand.recipe_hash, card.recipe_hash);
    assert.equal(byHand.harness_hash, card.harness_hash);
    assert.equal(byHand.budget_s, 300);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
