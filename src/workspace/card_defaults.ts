/**
 * The card fields a run's context determines, for commands that record a card without running
 * it (`write-card`): the recipe hash of the recipe that would run here (C3: `--recipe`, else
 * ./recipe.ts, else the embedded default), the harness hash of the prepared data in the cache
 * with the CPU evaluation settings and this machine's CPU matmul kernels, and the default budget.
 * They are computed exactly as `autoresearch train` computes them on this machine, so a
 * hand-written card lands in the same comparability class as a trained one
 * (tests/workspace/install_test.ts compares them). A field that cannot be derived says why.
 */
import { TIME_BUDGET_SECONDS } from "../train/harness.ts";
import { loadPrepared } from "../train/prepare.ts";
import { harnessHash, recipeHash, sgemmKernels, trainingDataFrom } from "../train/run.ts";
import { sgemmChoice } from "../engine/cpu/gemm/mod.ts";
import { evalSettings } from "../train/evaluation.ts";
import { CPU_DEVICE } from "../train/recipe.ts";
import { loadRecipe } from "../train/recipe_loader.ts";
import { UsageError } from "../util/errors.ts";

/** What the context of a run on this machine determines, and why a field could not be. */
export interface CardContext {
  /** the harness hash a CPU run here would record, when data is prepared */
  harness_hash?: string;
  /** the recipe hash of the recipe that would run here */
  recipe_hash?: string;
  /** the default budget, seconds */
  budget_s: number;
  /** field -> why it could not be derived */
  unavailable: Record<string, string>;
}

/** Options of `cardContext`. */
export interface CardContextOptions {
  /** the recipe file (`--recipe`); default ./recipe.ts when it exists, else the embedded one */
  recipe?: string;
  /** the prepared-data cache root (`--cache`) */
  cache?: string;
  /** which fields are wanted (computing the harness hash reads the prepared data) */
  want?: ("harness_hash" | "recipe_hash")[];
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

/** The card fields this machine and workspace determine (CPU backend, like write-card's). */
export async function cardContext(options: CardContextOptions = {}): Promise<CardContext> {
  const want = new Set(options.want ?? ["harness_hash", "recipe_hash"]);
  const context: CardContext = { budget_s: TIME_BUDGET_SECONDS, unavailable: {} };
  if (want.has("recipe_hash")) {
    try {
      const recipe = await loadRecipe(options.recipe, CPU_DEVICE);
      context.recipe_hash = await recipeHash(recipe.source, recipe.config);
    } catch (error) {
      if (error instanceof UsageError) throw error; // --recipe names no file
      context.unavailable.recipe_hash = `the recipe does not load: ${reason(error)}`;
    }
  }
  if (want.has("harness_hash")) {
    try {
      const data = await trainingDataFrom(await loadPrepared({ cacheRoot: options.cache }));
      const evaluation = evalSettings(CPU_DEVICE.gpu, data.val.tokens.length);
      // The CPU kernels this machine's trainer would use (the cached sgemm choice).
      const kernels = sgemmKernels(await sgemmChoice(navigator.hardwareConcurrency ?? 1));
      context.harness_hash = await harnessHash(data.identity, evaluation, kernels);
    } catch (error) {
      context.unavailable.harness_hash = reason(error);
    }
  }
  return context;
}
