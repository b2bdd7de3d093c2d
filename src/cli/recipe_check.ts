/**
 * The config validator the director commands use: a change is checked against the recipe it
 * applies to through the train layer's `applyConfigChange` (unknown keys, types, the harness's
 * constraints and those the recipe declares), with the base card's values overlaid first, so no
 * invalid config ever reaches the queue. The director layer cannot import the train layer, so
 * the CLI builds this check and hands it down as a callback.
 */
import { applyConfigChange, changeConfig, recipeConfigKeys } from "../train/recipe.ts";
import type { LoadedRecipe } from "../train/recipe.ts";
import { loadRecipeSync } from "../train/recipe_loader.ts";
import { type ConfigValidator, type FlatConfig, flattenConfig } from "../knowledge/config_keys.ts";

/** The workspace recipe (else the embedded one) as a flat config; undefined when it cannot load. */
export function workspaceRecipeConfig(): FlatConfig | undefined {
  try {
    return flattenConfig(loadRecipeSync().config as unknown as Record<string, unknown>);
  } catch {
    return undefined; // a broken recipe.ts is reported by train, not by the planner
  }
}

/**
 * A validator for changes to `recipe` (default: the workspace recipe, else the embedded one).
 * With `keysOnly`, only keys and value types are checked (the base is not known yet).
 */
export function recipeValidator(
  recipe?: LoadedRecipe,
  options: { keysOnly?: boolean } = {},
): ConfigValidator {
  let loaded = recipe ?? null;
  const get = (): LoadedRecipe => (loaded ??= loadRecipeSync());
  return (change: FlatConfig, base?: FlatConfig): void => {
    const current = get();
    const keys = new Set(recipeConfigKeys(current));
    if (options.keysOnly) {
      for (const [key, value] of Object.entries(change)) {
        if (!keys.has(key)) applyConfigChange(current.config, { [key]: value }); // throws
      }
      return;
    }
    let start = current.config;
    const overlay = Object.fromEntries(
      Object.entries(base ?? {}).filter(([key]) => keys.has(key) && key !== "name"),
    );
    try {
      start = changeConfig(current.config, overlay);
    } catch {
      // The base does not fit today's recipe (older keys or rules): judge against the recipe.
    }
    applyConfigChange({ ...current, config: start }, change);
  };
}
