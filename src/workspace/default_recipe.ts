/**
 * The default recipe's source, as `autoresearch init` writes it into a workspace. Until the
 * train layer exports DEFAULT_RECIPE_SOURCE (the recipe written for the installed tool), this is
 * the repository's recipe file, embedded at build time.
 */
import recipeSource from "../train/recipe.ts" with { type: "text" };

/** The default recipe, as text. */
export const DEFAULT_RECIPE_SOURCE: string = recipeSource;
