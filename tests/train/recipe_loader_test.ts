/**
 * The recipe loaded at run time (recipe_loader.ts) and its config (C2): the embedded default
 * loads through the same path a workspace recipe takes, its config keys are dotted camelCase
 * paths, config changes are validated (unknown key, wrong type, the harness's rules and the
 * recipe's own), a recipe that does not load is one line naming the problem, and the shipped
 * default recipe builds and its loss falls.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCpuBackend } from "../../src/engine/cpu/backend.ts";
import { trainModel } from "../../src/train/loop.ts";
import {
  applyConfigChange,
  CPU_DEVICE,
  recipeConfigKeys,
  recipeName,
} from "../../src/train/recipe.ts";
import {
  DEFAULT_RECIPE_SOURCE,
  evaluateRecipe,
  loadRecipe,
  RecipeError,
  resolveRecipePath,
} from "../../src/train/recipe_loader.ts";
import { UsageError } from "../../src/util/errors.ts";
import { markovBatches } from "./model_helpers.ts";

/** Write `source` as a recipe file in a fresh directory; returns its path. */
async function recipeFile(source: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "recipe-test-" });
  const path = join(dir, "recipe.ts");
  await Deno.writeTextFile(path, source);
  return path;
}

/** The field of a UsageError thrown by `f`. */
function usageField(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (error instanceof UsageError) return `${error.field}: ${error.rule}`;
    throw error;
  }
  throw new Error("no UsageError thrown");
}

async function recipeErrorOf(source: string): Promise<string> {
  const path = await recipeFile(source);
  try {
    await loadRecipe(path);
  } catch (error) {
    assert.ok(error instanceof RecipeError, `expected a RecipeError, got ${error}`);
    assert.ok(!error.message.includes("\n"), "one line");
    return error.message;
  } finally {
    await Deno.remove(path.replace(/\/recipe\.ts$/, ""), { recursive: true });
  }
  throw new Error("the recipe loaded");
}

/**
 * The embedded default, whatever the working directory holds (a recipe.ts there, e.g. from
 * `autoresearch init .` in a clone, must not change what these tests check).
 */
function defaultRecipe(device = CPU_DEVICE) {
  return evaluateRecipe(DEFAULT_RECIPE_SOURCE, null, device);
}

Deno.test("recipe: the embedded default loads, with dotted camelCase config keys", async () => {
  const empty = await Deno.makeTempDir({ prefix: "no-recipe-" });
  try {
    assert.equal(resolveRecipePath(undefined, empty), null, "no recipe.ts: the default");
  } finally {
    await Deno.remove(empty);
  }
  const recipe = defaultRecipe();
  assert.equal(recipe.path, null);
  assert.equal(recipe.source, DEFAULT_RECIPE_SOURCE);
  const keys = recipeConfigKeys(recipe);
  for (const key of ["model.depth", "model.headDim", "optim.matrixLr", "totalBatchTokens"]) {
    assert.ok(keys.includes(key), `${key} in ${keys}`);
  }
  assert.equal(recipeName(recipe.config), "gpt-d4-w256-s256-b2048");
  const gpu = defaultRecipe({ backend: "webgpu", gpu: true });
  assert.equal(gpu.config.model.seqLen, 2048);
});

Deno.test("recipe: a config change is applied to a copy and named by its values", () => {
  const recipe = defaultRecipe();
  const changed = applyConfigChange(recipe, { "optim.matrixLr": 0.05, "model.depth": 2 });
  assert.equal((changed.config as unknown as { optim: { matrixLr: number } }).optim.matrixLr, 0.05);
  assert.equal(recipeName(changed.config), "gpt-d2-w256-s256-b2048");
  assert.equal(
    (recipe.config as unknown as { optim: { matrixLr: number } }).optim.matrixLr,
    0.04,
    "the original is unchanged",
  );
});

Deno.test("recipe: unknown keys, wrong types and broken rules name config.<key>", () => {
  const recipe = defaultRecipe();
  assert.match(
    usageField(() => applyConfigChange(recipe, { "optim.bogus": 1 })),
    /^config\.optim\.bogus: not a recipe key/,
  );
  assert.match(
    usageField(() => applyConfigChange(recipe, { "optim.matrix_lr": 1 })),
    /did you mean optim\.matrixLr/,
  );
  assert.match(
    usageField(() => applyConfigChange(recipe, { "model.depth": "4" })),
    /^config\.model\.depth: must be a finite number, got "4"/,
  );
  assert.match(
    usageField(() => applyConfigChange(recipe, { "model": 1 })),
    /^config\.model: not a recipe key/,
  );
  assert.match(
    usageField(() => applyConfigChange(recipe, { "optim.adamBetas": [0.9] })),
    /^config\.optim\.adamBetas: must be an array of 2/,
  );
  // The harness's own rule and the recipe's declared ones.
  assert.match(
    usageField(() => applyConfigChange(recipe, { deviceBatchRows: 0 })),
    /^config\.deviceBatchRows: must be an integer >= 1/,
  );
  assert.match(
    usageField(() => applyConfigChange(recipe, { "model.width": 100 })),
    /^config\.model\.width: must be a positive multiple of model\.headDim/,
  );
  assert.match(
    usageField(() => applyConfigChange(recipe, { "model.depth": 1.5 })),
    /^config\.model\.depth: must be an integer/,
  );
});

const MINIMAL = `
import { linear, crossEntropy, embedding, Parameter, AdamW, Rng, type Recipe, type Backend } from "autoresearch/recipe";
interface Mine extends Recipe { model: { seqLen: number; width: number }; lr: number }
export function hyperparameters(): Mine {
  return { model: { seqLen: 8, width: 16 }, lr: 0.01, totalBatchTokens: 16, deviceBatchRows: 2, warmupSteps: 0 };
}
export const constraints = [{ key: "lr", rule: "must be below 1", holds: (r: Mine) => r.lr < 1 }];
export function buildModel(backend: Backend, r: Mine, ctx: { vocabSize: number; seed: number }) {
  const rng = new Rng(ctx.seed);
  const init = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.1);
  const wte = new Parameter(backend, [ctx.vocabSize, r.model.width], init(ctx.vocabSize * r.model.width), { name: "wte" });
  const head = new Parameter(backend, [ctx.vocabSize, r.model.width], init(ctx.vocabSize * r.model.width), { name: "head" });
  return {
    params: [wte, head],
    forward: (_tape: unknown, ids: never, targets: never) => crossEntropy(linear(embedding(wte, ids), head), targets),
    dispose: () => { wte.dispose(); head.dispose(); },
  };
}
export function buildOptimizer(model: { params: Parameter[] }, r: Mine) {
  const adam = new AdamW(model.params[0].backend, [{ params: model.params, lr: r.lr, beta1: 0.9, beta2: 0.99, eps: 1e-8 }]);
  return { step: () => adam.step(), dispose: () => adam.dispose() };
}
export function flopsPerToken(r: Mine, vocab: number): number { return 6 * vocab * r.model.width; }
`;

Deno.test("recipe: a workspace recipe file loads, trains, and its declared rules hold", async () => {
  const path = await recipeFile(MINIMAL);
  try {
    const recipe = await loadRecipe(path);
    assert.equal(recipe.path, path);
    assert.deepEqual(recipeConfigKeys(recipe), [
      "deviceBatchRows",
      "lr",
      "model.seqLen",
      "model.width",
      "totalBatchTokens",
      "warmupSteps",
    ]);
    assert.equal(recipeName(recipe.config), "gpt-w16-s8-b16");
    assert.match(
      usageField(() => applyConfigChange(recipe, { lr: 2 })),
      /^config\.lr: must be below 1$/,
    );
    const backend = await createCpuBackend();
    try {
      const result = await trainModel({
        backend,
        recipe,
        vocabSize: 32,
        budgetSeconds: 60,
        seed: 1,
        nextBatch: markovBatches(32, 2, 8, 3),
        peakFlops: null,
        maxSteps: 40,
      });
      result.model.dispose();
      assert.equal(result.failure, null);
      assert.ok(result.losses.at(-1)! < result.losses[0], `loss fell: ${result.losses}`);
    } finally {
      backend.destroy();
    }
  } finally {
    await Deno.remove(path.replace(/\/recipe\.ts$/, ""), { recursive: true });
  }
});

Deno.test("recipe: a recipe that does not load is one line naming why", async () => {
  assert.match(await recipeErrorOf("export const x = ;"), /recipe\.ts: does not parse/);
  assert.match(
    await recipeErrorOf(`import { readFileSync } from "node:fs";\nexport const x = readFileSync;`),
    /imports "node:fs": a recipe may import only "autoresearch\/recipe"/,
  );
  assert.match(
    await recipeErrorOf("export function hyperparameters() { return {}; }"),
    /must export a function buildModel/,
  );
  const throwing = MINIMAL.replace(
    "export function hyperparameters(): Mine {",
    "export function hyperparameters(): Mine {\n  throw new TypeError('bad value');",
  );
  const message = await recipeErrorOf(throwing);
  assert.match(message, /hyperparameters threw: TypeError: bad value \(line 5\)/);
  assert.match(
    await recipeErrorOf(MINIMAL.replace("lr: 0.01,", "lr: 5,")),
    /its hyperparameters break a rule: config\.lr: must be below 1/,
  );
  assert.match(
    await recipeErrorOf(MINIMAL.replace("lr: 0.01,", "lr: 0.01, notes: 'x'.repeat(70000),")),
    /hyperparameters\(\) must fit a card/,
  );
  assert.match(
    await recipeErrorOf(MINIMAL.replace("deviceBatchRows: 2,", "deviceBatchRows: 0,")),
    /config\.deviceBatchRows: must be an integer >= 1/,
  );
});

Deno.test("recipe: --recipe must exist; ./recipe.ts in the working directory is found", async () => {
  assert.match(
    usageField(() => resolveRecipePath("/nonexistent/recipe.ts")),
    /^--recipe: no such file/,
  );
  const path = await recipeFile(MINIMAL);
  const dir = path.replace(/\/recipe\.ts$/, "");
  try {
    assert.equal(resolveRecipePath(undefined, dir), path);
    assert.equal(resolveRecipePath(undefined, join(dir, "..")), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recipe: the shipped default recipe builds and its loss falls (loaded as text)", async () => {
  const recipe = applyConfigChange(defaultRecipe(), {
    "model.depth": 2,
    "model.width": 64,
    "model.headDim": 32,
    "model.seqLen": 32,
    "model.veGateChannels": 16,
    totalBatchTokens: 256,
    deviceBatchRows: 8,
  });
  const backend = await createCpuBackend();
  try {
    const result = await trainModel({
      backend,
      recipe,
      vocabSize: 64,
      budgetSeconds: 60,
      seed: 1,
      nextBatch: markovBatches(64, 8, 32, 7),
      peakFlops: null,
      maxSteps: 40,
    });
    result.model.dispose();
    assert.equal(result.failure, null);
    const first = result.losses[0], last = Math.min(...result.losses.slice(-3));
    assert.ok(last < first - 0.5, `loss fell from ${first} to ${last}`);
  } finally {
    backend.destroy();
  }
});
