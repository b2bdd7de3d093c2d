/**
 * Loads a recipe at run time, by a path that also holds in a compiled binary (which cannot
 * resolve new modules): read the file, strip its types with sucrase (ES imports become
 * `require` calls), and evaluate it as a function whose only import, "autoresearch/recipe", is
 * the recipe API (recipe_api.ts) handed in by the harness. `deno run` and the binary take the
 * same path. Where the recipe comes from (C3): `--recipe FILE`, else `./recipe.ts` in the
 * working directory, else the embedded default (`DEFAULT_RECIPE_SOURCE`, the text
 * `autoresearch init` copies). Anything wrong with a recipe is a `RecipeError` of one line.
 */
import { transform } from "sucrase";
import defaultRecipeSource from "./default_recipe.ts" with { type: "text" };
import * as recipeApi from "./recipe_api.ts";
import { UsageError } from "../util/errors.ts";
import { LIMITS } from "../knowledge/schema.ts";
import {
  checkRecipeConfig,
  CPU_DEVICE,
  type Device,
  type LoadedRecipe,
  type Recipe,
  type RecipeModule,
} from "./recipe.ts";

/** The shipped default recipe, as text: what `autoresearch init` writes to `recipe.ts`. */
export const DEFAULT_RECIPE_SOURCE: string = defaultRecipeSource;

/** The one module specifier a recipe may import. */
export const RECIPE_API_SPECIFIER = "autoresearch/recipe";

/** The file name of a workspace's recipe (`./recipe.ts`). */
export const WORKSPACE_RECIPE = "recipe.ts";

/** A recipe that does not load, misses an export, or throws: one line, no stack trace. */
export class RecipeError extends Error {
  constructor(message: string) {
    super(message.split("\n")[0]);
    this.name = "RecipeError";
  }
}

/** The name recipe code carries in stack traces (to find the recipe's line). */
const SOURCE_URL = "autoresearch-recipe";

const REQUIRED_EXPORTS = ["hyperparameters", "buildModel", "buildOptimizer", "flopsPerToken"];

/**
 * Where the recipe comes from: `path` when given (it must exist: a UsageError naming
 * `--recipe` otherwise), else `./recipe.ts` in `cwd` when it exists, else null (the embedded
 * default).
 */
export function resolveRecipePath(path?: string, cwd: string = Deno.cwd()): string | null {
  if (path !== undefined) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      throw new UsageError("--recipe", `no such file: ${path}`);
    }
    if (!info.isFile) throw new UsageError("--recipe", `not a file: ${path}`);
    return path;
  }
  const local = `${cwd.replace(/\/+$/, "")}/${WORKSPACE_RECIPE}`;
  try {
    return Deno.statSync(local).isFile ? local : null;
  } catch {
    return null;
  }
}

/**
 * Load the recipe (C2/C3): `path`, else `./recipe.ts` in the working directory, else the
 * embedded default; evaluated with the recipe API and its hyperparameters chosen for `device`.
 * Throws a UsageError for a missing `--recipe` file, a RecipeError for a recipe that does not
 * load.
 */
export async function loadRecipe(
  path?: string,
  device: Device = CPU_DEVICE,
): Promise<LoadedRecipe> {
  const file = resolveRecipePath(path);
  if (file === null) return evaluateRecipe(DEFAULT_RECIPE_SOURCE, null, device);
  let source: string;
  try {
    source = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(file));
  } catch (error) {
    throw new RecipeError(`${file}: cannot be read: ${messageOf(error)}`);
  }
  return evaluateRecipe(source, file, device);
}

/** `loadRecipe`, synchronously (for validators that cannot wait). */
export function loadRecipeSync(path?: string, device: Device = CPU_DEVICE): LoadedRecipe {
  const file = resolveRecipePath(path);
  if (file === null) return evaluateRecipe(DEFAULT_RECIPE_SOURCE, null, device);
  let source: string;
  try {
    source = new TextDecoder("utf-8", { fatal: true }).decode(Deno.readFileSync(file));
  } catch (error) {
    throw new RecipeError(`${file}: cannot be read: ${messageOf(error)}`);
  }
  return evaluateRecipe(source, file, device);
}

/** Evaluate recipe `source` (from `path`, null for the default) and pick its values for `device`. */
export function evaluateRecipe(source: string, path: string | null, device: Device): LoadedRecipe {
  const label = path ?? "default recipe";
  const module = evaluateModule(source, label);
  return { path, source, module, device, config: recipeValues(module, label, device) };
}

/** The same recipe with its hyperparameters chosen for another device (no config change kept). */
export function recipeForDevice(recipe: LoadedRecipe, device: Device): LoadedRecipe {
  const label = recipe.path ?? "default recipe";
  return { ...recipe, device, config: recipeValues(recipe.module, label, device) };
}

function recipeValues(module: RecipeModule, label: string, device: Device): Recipe {
  const config = callRecipe(label, "hyperparameters", () => module.hyperparameters(device));
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new RecipeError(`${label}: hyperparameters() must return an object`);
  }
  let json: string;
  try {
    json = JSON.stringify(config);
  } catch (error) {
    throw new RecipeError(
      `${label}: hyperparameters() must return plain data: ${messageOf(error)}`,
    );
  }
  if (json.length > LIMITS.configJson) {
    // The card stores these values: refuse now, not after the budget is spent.
    throw new RecipeError(
      `${label}: hyperparameters() must fit a card (at most ${LIMITS.configJson} characters of JSON)`,
    );
  }
  const copy = JSON.parse(json) as Recipe;
  try {
    checkRecipeConfig(copy, module.constraints ?? []);
  } catch (error) {
    throw new RecipeError(`${label}: its hyperparameters break a rule: ${messageOf(error)}`);
  }
  return copy;
}

/** Strip types, turn imports into `require`, evaluate; the exports as a RecipeModule. */
function evaluateModule(source: string, label: string): RecipeModule {
  let code: string;
  try {
    code = transform(source, {
      transforms: ["typescript", "imports"],
      production: true,
      filePath: label,
    }).code;
  } catch (error) {
    throw new RecipeError(`${label}: does not parse: ${messageOf(error)}`);
  }
  const exports: Record<string, unknown> = {};
  const module = { exports };
  const require = (specifier: string): unknown => {
    if (specifier === RECIPE_API_SPECIFIER) return recipeApi;
    throw new RecipeError(
      `${label}: imports "${specifier}": a recipe may import only "${RECIPE_API_SPECIFIER}"`,
    );
  };
  try {
    // The recipe's own code runs here: it is the workspace's file, trusted like train.py is.
    const run = new Function(
      "exports",
      "require",
      "module",
      `${code}\n//# sourceURL=${SOURCE_URL}`,
    );
    run(exports, require, module);
  } catch (error) {
    if (error instanceof RecipeError) throw error;
    throw new RecipeError(`${label}: failed while loading: ${describeError(error)}`);
  }
  const loaded = module.exports as Record<string, unknown>;
  for (const name of REQUIRED_EXPORTS) {
    if (typeof loaded[name] !== "function") {
      throw new RecipeError(`${label}: must export a function ${name} (docs/recipe.md)`);
    }
  }
  if (loaded.constraints !== undefined && !isConstraintList(loaded.constraints)) {
    throw new RecipeError(`${label}: constraints must be a list of {key, rule, holds}`);
  }
  return loaded as unknown as RecipeModule;
}

function isConstraintList(value: unknown): boolean {
  return Array.isArray(value) &&
    value.every((c) =>
      typeof c === "object" && c !== null && typeof c.key === "string" &&
      typeof c.rule === "string" && typeof c.holds === "function"
    );
}

/** Run one call into the recipe, turning what it throws into a RecipeError naming the export. */
export function callRecipe<T>(label: string, what: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof RecipeError) throw error;
    throw new RecipeError(`${label}: ${what} threw: ${describeError(error)}`);
  }
}

/**
 * One line for an error thrown by recipe code: its name and message, plus the recipe line it
 * came from when the stack shows one (the evaluated function adds two header lines).
 */
export function describeError(error: unknown): string {
  const text = messageOf(error);
  const stack = error instanceof Error ? error.stack ?? "" : "";
  const at = new RegExp(`${SOURCE_URL}(?:, <anonymous>)?:(\\d+):(\\d+)`).exec(stack);
  const where = at ? ` (line ${Number(at[1]) - 2})` : "";
  const name = error instanceof Error && error.name !== "Error" ? `${error.name}: ` : "";
  return `${name}${text}${where}`;
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0];
}
