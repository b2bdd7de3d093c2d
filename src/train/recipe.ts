/**
 * The recipe's contract with the harness (docs/recipe.md). A recipe is one TypeScript file (the
 * workspace's `recipe.ts`, or the embedded default) loaded at run time by `recipe_loader.ts`;
 * it exports its hyperparameters, a model, an optimizer and its FLOPs per token, and may import
 * only the recipe API (`autoresearch/recipe`, src/train/recipe_api.ts). This module holds the
 * types of that contract and what the harness does with a recipe's hyperparameters: the config
 * keys (dotted camelCase paths, as the knowledge base's config keys), validated config changes,
 * and the name derived from the values.
 */
import type { Backend } from "../engine/backend.ts";
import { UsageError } from "../util/errors.ts";
import type { TrainableModel, TrainOptimizer } from "./model.ts";

/** Where a recipe runs: it may choose different hyperparameters for a real GPU. */
export interface Device {
  /** The backend that trains it. */
  backend: "cpu" | "webgpu";
  /** True on a real GPU; false on the CPU and on software WebGPU adapters (lavapipe). */
  gpu: boolean;
}

/** The device assumed when none is given (validating a config change, `director add`). */
export const CPU_DEVICE: Device = { backend: "cpu", gpu: false };

/**
 * A recipe's hyperparameters, as the harness sees them: a JSON object whose `model.seqLen`,
 * `totalBatchTokens`, `deviceBatchRows` and `warmupSteps` the harness reads (the data loader,
 * gradient accumulation and the time budget need them); every other value belongs to the
 * recipe.
 */
export interface Recipe {
  /** The model's hyperparameters; `seqLen` is the training context in tokens. */
  model: { seqLen: number };
  /** Tokens per optimizer step (gradient accumulation fills it). */
  totalBatchTokens: number;
  /** Rows of seqLen tokens per forward/backward (micro-batch). */
  deviceBatchRows: number;
  /** Optimizer steps at the start that are not counted against the time budget. */
  warmupSteps: number;
}

/** The model's shape as a checkpoint records it: the recipe's `model` plus the vocabulary. */
export interface ModelConfig {
  /** Training context, tokens. */
  seqLen: number;
  /** The tokenizer's vocabulary size. */
  vocabSize: number;
  /** The recipe's other model values. */
  [key: string]: unknown;
}

/** What the harness hands a recipe's `buildModel` besides the hyperparameters. */
export interface ModelContext {
  /** The tokenizer's vocabulary size. */
  vocabSize: number;
  /** Seed of the initialisation. */
  seed: number;
  /** Longest row the harness will feed (training or the fixed evaluation context). */
  maxSeqLen: number;
}

/** A rule a recipe declares over its own values; `key` is the config key it is reported on. */
export interface Constraint<R extends Recipe = Recipe> {
  /** Config key named in the error (`config.<key>: <rule>`). */
  key: string;
  /** The rule in words, e.g. "must be a multiple of model.headDim". */
  rule: string;
  /** True when `recipe` satisfies the rule. */
  holds: (recipe: R) => boolean;
}

/** What a recipe module exports (docs/recipe.md). */
export interface RecipeModule {
  /** The hyperparameters for `device`: a fresh JSON object per call. */
  hyperparameters(device: Device): Recipe;
  /** The model, its parameters created and initialised from `context.seed`. */
  buildModel(backend: Backend, recipe: Recipe, context: ModelContext): TrainableModel;
  /** The optimizer of `model`. */
  buildOptimizer(model: TrainableModel, recipe: Recipe): TrainOptimizer;
  /** Training FLOPs per token (forward + backward), for MFU and the card's FLOPs. */
  flopsPerToken(recipe: Recipe, vocabSize: number): number;
  /** Rules over the values, checked with every config change (optional). */
  constraints?: readonly Constraint[];
}

/** Rules the harness itself needs of every recipe. */
const HARNESS_CONSTRAINTS: readonly Constraint[] = [
  {
    key: "model.seqLen",
    rule: "must be an integer >= 2",
    holds: (r) => isInt(r.model?.seqLen) && r.model.seqLen >= 2,
  },
  {
    key: "deviceBatchRows",
    rule: "must be an integer >= 1",
    holds: (r) => isInt(r.deviceBatchRows) && r.deviceBatchRows >= 1,
  },
  {
    key: "totalBatchTokens",
    rule: "must be an integer >= 1",
    holds: (r) => isInt(r.totalBatchTokens) && r.totalBatchTokens >= 1,
  },
  {
    key: "warmupSteps",
    rule: "must be an integer >= 0",
    holds: (r) => isInt(r.warmupSteps) && r.warmupSteps >= 0,
  },
  {
    key: "totalBatchTokens",
    rule: "must be a multiple of deviceBatchRows x model.seqLen (whole micro-batches)",
    holds: (r) => r.totalBatchTokens % (r.deviceBatchRows * r.model.seqLen) === 0,
  },
];

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Every config key of `recipe`: the dotted paths to its leaves (numbers, strings, booleans and
 * arrays are leaves), sorted, e.g. `model.depth`, `optim.matrixLr`, `totalBatchTokens`.
 */
export function recipeConfigKeys(recipe: Recipe | LoadedRecipe): string[] {
  if (isLoaded(recipe)) recipe = recipe.config;
  const keys: string[] = [];
  const walk = (value: Record<string, unknown>, prefix: string) => {
    for (const [key, child] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (isPlainObject(child)) walk(child, path);
      else keys.push(path);
    }
  };
  walk(recipe as unknown as Record<string, unknown>, "");
  return keys.sort();
}

/** The value at dotted `key` of `recipe`, or undefined. */
export function configValue(recipe: Recipe, key: string): unknown {
  let value: unknown = recipe as unknown;
  for (const part of key.split(".")) {
    if (!isPlainObject(value) || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

/** Why `value` cannot replace `old` (same JSON type; finite numbers; same-length arrays). */
function typeProblem(old: unknown, value: unknown): string | null {
  const kind = (x: unknown) => Array.isArray(x) ? "array" : x === null ? "null" : typeof x;
  if (kind(old) === "number" && (typeof value !== "number" || !Number.isFinite(value))) {
    return `must be a finite number, got ${JSON.stringify(value)}`;
  }
  if (kind(old) !== kind(value)) return `must be a ${kind(old)}, got ${JSON.stringify(value)}`;
  if (Array.isArray(old) && Array.isArray(value)) {
    if (old.length !== value.length) return `must be an array of ${old.length} values`;
    for (let i = 0; i < old.length; i++) {
      const problem = typeProblem(old[i], value[i]);
      if (problem) return `[${i}] ${problem}`;
    }
  }
  return null;
}

/**
 * Check every rule (the harness's, then the recipe's own) and throw a UsageError naming the
 * first key that breaks one (`config.<key>`).
 */
export function checkRecipeConfig(recipe: Recipe, constraints: readonly Constraint[] = []): void {
  for (const c of [...HARNESS_CONSTRAINTS, ...constraints]) {
    let holds: boolean;
    try {
      holds = c.holds(recipe);
    } catch {
      holds = false;
    }
    if (!holds) throw new UsageError(`config.${c.key}`, c.rule);
  }
}

/** A recipe loaded at run time (recipe_loader.ts): its text, its module and its values. */
export interface LoadedRecipe {
  /** The file it was read from; null for the embedded default recipe. */
  path: string | null;
  /** Its source text (hashed into recipe_hash). */
  source: string;
  /** Its exports. */
  module: RecipeModule;
  /** The device its hyperparameters were chosen for. */
  device: Device;
  /** The effective hyperparameters (after any config change). */
  config: Recipe;
}

function isLoaded(recipe: Recipe | LoadedRecipe): recipe is LoadedRecipe {
  return "module" in recipe && "source" in recipe;
}

/**
 * A new recipe with `change` applied (C2). `recipe` is a loaded recipe (its own declared
 * constraints are checked too, and a loaded recipe is returned) or bare hyperparameters.
 */
export function applyConfigChange(
  recipe: LoadedRecipe,
  change: Record<string, unknown>,
): LoadedRecipe;
export function applyConfigChange(
  recipe: Recipe,
  change: Record<string, unknown>,
  constraints?: readonly Constraint[],
): Recipe;
export function applyConfigChange(
  recipe: Recipe | LoadedRecipe,
  change: Record<string, unknown>,
  constraints: readonly Constraint[] = [],
): Recipe | LoadedRecipe {
  if (isLoaded(recipe)) {
    const config = changeConfig(recipe.config, change, recipe.module.constraints ?? []);
    return { ...recipe, config };
  }
  return changeConfig(recipe, change, constraints);
}

/**
 * A new recipe with `change` applied: each key a dotted camelCase path to an existing leaf
 * (`optim.matrixLr`), each value of the same JSON type as the one it replaces; then every rule
 * is checked. Throws `UsageError("config.<key>", rule)` for an unknown key, a wrong type or a
 * broken rule. `recipe` is never modified.
 */
export function changeConfig(
  recipe: Recipe,
  change: Record<string, unknown>,
  constraints: readonly Constraint[] = [],
): Recipe {
  if (!isPlainObject(change)) throw new UsageError("config", "must be a JSON object");
  const next = structuredClone(recipe) as Recipe;
  const known = new Set(recipeConfigKeys(recipe));
  for (const [key, value] of Object.entries(change)) {
    if (!known.has(key)) {
      throw new UsageError(`config.${key}`, `not a recipe key${hint(key, [...known])}`);
    }
    const problem = typeProblem(configValue(recipe, key), value);
    if (problem) throw new UsageError(`config.${key}`, problem);
    const parts = key.split(".");
    let target = next as unknown as Record<string, unknown>;
    for (const part of parts.slice(0, -1)) target = target[part] as Record<string, unknown>;
    target[parts[parts.length - 1]] = structuredClone(value);
  }
  checkRecipeConfig(next, constraints);
  return next;
}

/** A pointer at the right spelling of an unknown key: the closest known key by edit distance. */
function hint(key: string, known: string[]): string {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j];
        const cost = a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1;
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + cost);
        previous = current;
      }
    }
    return row[b.length];
  };
  let best: string | null = null, bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (best !== null && bestDistance <= Math.max(2, Math.floor(key.length / 4))) {
    return ` (did you mean ${best}?)`;
  }
  return `; keys are dotted paths into the recipe such as ${known.slice(0, 6).join(", ")}`;
}

/**
 * The recipe's name, derived from its values (never a hand-kept string): `gpt` then depth,
 * width, context and batch when the recipe has them, e.g. `gpt-d4-w256-s256-b2048`.
 */
export function recipeName(recipe: Recipe): string {
  const parts = ["gpt"];
  const model = (recipe.model ?? {}) as Record<string, unknown>;
  if (typeof model.depth === "number") parts.push(`d${model.depth}`);
  if (typeof model.width === "number") parts.push(`w${model.width}`);
  parts.push(`s${model.seqLen}`, `b${recipe.totalBatchTokens}`);
  return parts.join("-");
}
