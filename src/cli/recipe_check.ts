/**
 * The config validator the director commands use: a change is checked against the recipe it
 * applies to (unknown keys, types, and the constraints a trainable recipe must meet), so no
 * invalid config ever reaches the queue. The director layer cannot import the train layer, so
 * the CLI builds this check from the recipe and hands it down as a callback.
 */
import { CPU_RECIPE, type Recipe } from "../train/recipe.ts";
import { UsageError } from "../util/errors.ts";
import {
  type ConfigValidator,
  type FlatConfig,
  flattenConfig,
  sameValue,
} from "../knowledge/config_keys.ts";

/** Keys whose values must be positive integers. */
const POSITIVE_INTEGERS = new Set([
  "model.depth",
  "model.width",
  "model.headDim",
  "model.seqLen",
  "optim.orthoSteps",
  "optim.muonMomentumRampSteps",
  "totalBatchTokens",
  "deviceBatchRows",
]);

/** Keys whose values are fractions in [0, 1]. */
const FRACTIONS = new Set([
  "optim.warmupRatio",
  "optim.warmdownRatio",
  "optim.finalLrFrac",
  "optim.residLrFrac",
  "optim.muonMomentumStart",
  "optim.muonMomentumEnd",
  "optim.muonBeta2",
]);

/** The closest known key by edit distance (for "did you mean"), or null when none is close. */
function closestKey(key: string, known: string[]): string | null {
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
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}

function checkValue(key: string, value: unknown, reference: unknown): void {
  const field = `config.${key}`;
  if (Array.isArray(reference)) {
    if (
      !Array.isArray(value) || value.length !== reference.length ||
      !value.every((x) => typeof x === "number" && Number.isFinite(x))
    ) {
      throw new UsageError(field, `must be a list of ${reference.length} numbers`);
    }
    return;
  }
  if (typeof reference === "number") {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new UsageError(field, `must be a finite number, got ${JSON.stringify(value)}`);
    }
    if (POSITIVE_INTEGERS.has(key) && (!Number.isInteger(value) || value < 1)) {
      throw new UsageError(field, `must be a positive integer, got ${value}`);
    }
    if (FRACTIONS.has(key) && (value < 0 || value > 1)) {
      throw new UsageError(field, `must be between 0 and 1, got ${value}`);
    }
    if (value < 0) throw new UsageError(field, `must not be negative, got ${value}`);
    return;
  }
  if (typeof value !== typeof reference) {
    throw new UsageError(field, `must be a ${typeof reference}, got ${JSON.stringify(value)}`);
  }
}

/** The constraints a whole recipe must meet; throws a UsageError on the key that breaks one. */
function checkConstraints(config: FlatConfig, changed: Set<string>): void {
  const n = (key: string) => config[key] as number;
  // Name the changed key when the constraint involves several.
  const blame = (...keys: string[]) => keys.find((key) => changed.has(key)) ?? keys[0];
  if (n("model.width") % n("model.headDim") !== 0) {
    const key = blame("model.width", "model.headDim");
    throw new UsageError(
      `config.${key}`,
      `model.width (${n("model.width")}) must be a multiple of model.headDim ` +
        `(${n("model.headDim")})`,
    );
  }
  if (n("model.headDim") % 2 !== 0) {
    throw new UsageError("config.model.headDim", "must be even (rotary embeddings)");
  }
  if (!/^[SL]+$/.test(String(config["model.windowPattern"]))) {
    throw new UsageError("config.model.windowPattern", 'must be letters S and L, e.g. "SSSL"');
  }
  if (n("optim.orthoSteps") > 5) {
    throw new UsageError("config.optim.orthoSteps", "must be at most 5 (Polar Express)");
  }
  if (n("optim.warmupRatio") + n("optim.warmdownRatio") > 1) {
    throw new UsageError(
      `config.${blame("optim.warmupRatio", "optim.warmdownRatio")}`,
      "optim.warmupRatio + optim.warmdownRatio must be at most 1",
    );
  }
  if (n("model.veGateChannels") > n("model.width")) {
    throw new UsageError("config.model.veGateChannels", "must be at most model.width");
  }
  const perMicro = n("deviceBatchRows") * n("model.seqLen");
  if (n("totalBatchTokens") % perMicro !== 0) {
    throw new UsageError(
      `config.${blame("totalBatchTokens", "deviceBatchRows", "model.seqLen")}`,
      `totalBatchTokens (${n("totalBatchTokens")}) must be a multiple of deviceBatchRows x ` +
        `model.seqLen (${n("deviceBatchRows")} x ${n("model.seqLen")} = ${perMicro})`,
    );
  }
}

/**
 * A validator for changes to `recipe`: the change is applied to the recipe (overlaid with the
 * base's effective config when the item names a base card) and the result must be a recipe the
 * trainer accepts. With `keysOnly`, only keys and value types are checked (the base is not known
 * yet).
 */
export function recipeValidator(
  recipe: Recipe = CPU_RECIPE,
  options: { keysOnly?: boolean } = {},
): ConfigValidator {
  const reference = flattenConfig(recipe as unknown as Record<string, unknown>);
  const known = Object.keys(reference).filter((key) => key !== "name");
  return (change: FlatConfig, base?: FlatConfig): void => {
    for (const [key, value] of Object.entries(change)) {
      if (!(key in reference) || key === "name") {
        const hint = closestKey(key, known);
        throw new UsageError(
          `config.${key}`,
          `not a recipe key${hint ? ` (did you mean ${hint}?)` : ""}; keys are dotted paths ` +
            `into the recipe such as model.width, optim.matrixLr, totalBatchTokens`,
        );
      }
      checkValue(key, value, reference[key]);
    }
    if (options.keysOnly) return;
    const merged: FlatConfig = { ...reference };
    for (const [key, value] of Object.entries(base ?? {})) {
      if (key in reference && typeof value === typeof reference[key]) merged[key] = value;
    }
    const changed = new Set(
      Object.keys(change).filter((key) => !sameValue(merged[key], change[key])),
    );
    checkConstraints({ ...merged, ...change }, changed);
  };
}
