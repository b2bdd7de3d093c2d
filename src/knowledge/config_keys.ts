/**
 * One vocabulary of config keys for the whole program: dotted paths into the Recipe object,
 * spelled exactly as the recipe spells them (`model.width`, `optim.warmdownRatio`,
 * `totalBatchTokens`). Cards written before this vocabulary stored some keys in snake_case
 * (`total_batch_tokens`, `device_batch_rows`, `warmup_steps`) and the recipe name as `recipe`;
 * `canonicalKey` maps those, so an old card and a new queue item name a knob the same way.
 *
 * The planner, dedup, the queue, cards and reports compare configs only through this module.
 * It lives in the knowledge layer and imports no train code: whether a key exists in the recipe
 * and whether a value is allowed is the train layer's to say (a validator passed in from above).
 */

/** A flat config: canonical dotted key -> leaf value (numbers, strings, booleans, arrays). */
export type FlatConfig = Record<string, unknown>;

/** Old card spellings whose canonical name is not simply their camelCase form. */
const ALIASES: Record<string, string> = {
  recipe: "name",
};

function camel(segment: string): string {
  return segment.replace(/_+([a-z0-9])/g, (_, next: string) => next.toUpperCase());
}

/**
 * The canonical spelling of a config key: every dotted segment in camelCase, old aliases mapped
 * (`total_batch_tokens` -> `totalBatchTokens`, `optim.matrix_lr` -> `optim.matrixLr`,
 * `recipe` -> `name`). Canonical keys come back unchanged.
 */
export function canonicalKey(key: string): string {
  const mapped = ALIASES[key] ?? key;
  return mapped.split(".").map(camel).join(".");
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Flatten a nested config into canonical dotted keys (`{optim: {matrixLr: 1}}` ->
 * `{"optim.matrixLr": 1}`). Keys that are already dotted are kept as paths, so a change written
 * either way (`{"optim.matrixLr": 1}` or `{optim: {matrixLr: 1}}`) flattens to the same map.
 * Arrays are leaves (`optim.adamBetas`).
 */
export function flattenConfig(config: Record<string, unknown>, prefix = ""): FlatConfig {
  const flat: FlatConfig = {};
  for (const [rawKey, value] of Object.entries(config)) {
    const key = prefix ? `${prefix}.${rawKey}` : rawKey;
    if (isPlainObject(value)) Object.assign(flat, flattenConfig(value, key));
    else flat[canonicalKey(key)] = value;
  }
  return flat;
}

/**
 * The effective config of a card as one flat canonical map, whichever format wrote it (the
 * nested Recipe object, or the older layout with snake_case batch keys and `recipe` for the
 * name). A card without a config object gives an empty map.
 */
export function effectiveConfig(card: { config?: unknown }): FlatConfig {
  return isPlainObject(card.config) ? flattenConfig(card.config) : {};
}

/** A config change in canonical form (keys canonical and flat); null for an empty change. */
export function canonicalChange(
  change: Record<string, unknown> | null | undefined,
): FlatConfig | null {
  if (!change) return null;
  const flat = flattenConfig(change);
  return Object.keys(flat).length === 0 ? null : flat;
}

/**
 * Equality of two config values: numbers within a relative 1e-9 (so 0.1 * 3 equals 0.3),
 * arrays element-wise, anything else strictly.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") {
    if (a === b) return true;
    return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((value, i) => sameValue(value, b[i]));
  }
  return a === b;
}

/** One key that differs between two configs. */
export interface ConfigDifference {
  /** canonical dotted key */
  key: string;
  /** value in the first config (undefined when absent there) */
  from: unknown;
  /** value in the second config (undefined when absent there) */
  to: unknown;
}

/** Keys that never make two runs different experiments (the recipe's display name). */
const IGNORED_IN_COMPARISON = new Set(["name"]);

/**
 * The keys that differ between configs `a` and `b` (nested or flat, any spelling), sorted by key.
 * Only keys present in both are compared, so a card format that records an extra field (or
 * lacks one) does not make two identical recipes differ; the recipe name is ignored.
 */
export function configChange(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): ConfigDifference[] {
  const flatA = flattenConfig(a);
  const flatB = flattenConfig(b);
  const out: ConfigDifference[] = [];
  for (const key of Object.keys(flatB).sort()) {
    if (IGNORED_IN_COMPARISON.has(key) || !(key in flatA)) continue;
    if (!sameValue(flatA[key], flatB[key])) out.push({ key, from: flatA[key], to: flatB[key] });
  }
  return out;
}

/**
 * True when two flat canonical configs agree on every key both have (the name aside): the
 * comparison of `configChange` without flattening, for hot loops over many cards.
 */
export function sameFlatConfig(a: FlatConfig, b: FlatConfig): boolean {
  for (const key in b) {
    if (IGNORED_IN_COMPARISON.has(key) || !(key in a)) continue;
    if (!sameValue(a[key], b[key])) return false;
  }
  return true;
}

/** True when every key of `change` has the same value in the flat config `config`. */
export function changeHolds(change: FlatConfig, config: FlatConfig): boolean {
  for (const [key, value] of Object.entries(change)) {
    if (!(key in config) || !sameValue(config[key], value)) return false;
  }
  return true;
}

/** `config` with `change` applied (both flat and canonical). */
export function applyFlatChange(config: FlatConfig, change: FlatConfig): FlatConfig {
  return { ...config, ...change };
}

/** A config change as compact text: `optim.warmdownRatio=0.7, model.depth=6`. */
export function describeChange(change: FlatConfig): string {
  return Object.entries(change).map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(", ");
}

/**
 * Checks a config change against the recipe it applies to; throws a UsageError with field
 * `config.<key>` for an unknown key, a wrong type or a violated constraint. `base` is the flat
 * effective config the change is applied to, when known (else the workspace recipe). The train
 * layer builds one (the director layer never imports train).
 */
export type ConfigValidator = (change: FlatConfig, base?: FlatConfig) => void;
