/**
 * The config validator the director commands use: a change is checked against the recipe it
 * applies to (C2: the workspace's recipe, loaded as the trainer loads it), so no invalid config
 * ever reaches the queue: unknown keys, wrong types, the harness's rules and the rules the recipe
 * declares itself. The director layer cannot import the train layer, so the CLI builds this check
 * from the recipe and hands it down as a callback.
 */
import { applyConfigChange, changeConfig, type LoadedRecipe } from "../train/recipe.ts";
import { loadRecipeSync } from "../train/recipe_loader.ts";
import type { ConfigValidator, FlatConfig } from "../knowledge/config_keys.ts";

/**
 * A validator for changes to `recipe` (default: the workspace's, C3): the change is applied to
 * the recipe (overlaid with the base's effective config when the item names a base card) and the
 * result must be a recipe the trainer accepts. With `keysOnly`, only keys, value types and
 * single-value rules are checked (the base is not known yet).
 */
export function recipeValidator(
  recipe?: LoadedRecipe,
  options: { keysOnly?: boolean } = {},
): ConfigValidator {
  let loaded = recipe;
  const current = (): LoadedRecipe => loaded ??= loadRecipeSync();
  return (change: FlatConfig, base?: FlatConfig): void => {
    const target = current();
    if (options.keysOnly) {
      changeConfig(target.config, change);
      return;
    }
    // The base card's values, where they are keys of this recipe with values it accepts.
    let withBase = target;
    for (const [key, value] of Object.entries(base ?? {})) {
      try {
        withBase = { ...withBase, config: changeConfig(withBase.config, { [key]: value }) };
      } catch {
        // A key of an older recipe, or a value the rules reject alone: not this change's fault.
      }
    }
    applyConfigChange(withBase, change);
  };
}
