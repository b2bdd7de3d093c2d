/**
 * The known response surface of the all-night simulation: val_bpb of a recipe as a smooth bowl
 * over a few knobs (others have no effect), and the optimizer steps a 20-second run gets.
 */
import { type FlatConfig, flattenConfig } from "../../src/knowledge/config_keys.ts";
import { loadRecipeSync } from "../../src/train/recipe_loader.ts";

/** The CPU recipe, flat: the baseline every run starts from. */
export const BASELINE: FlatConfig = flattenConfig(
  loadRecipeSync().config as unknown as Record<string, unknown>,
);

const num = (config: FlatConfig, key: string) => config[key] as number;

/** Steps a run gets: 60 at the baseline's cost, fewer for bigger models or batches. */
export function stepsFor(config: FlatConfig): number {
  const cost = (num(config, "model.depth") / 4) * (num(config, "model.width") / 256) ** 2 *
    (num(config, "totalBatchTokens") / 2048);
  return Math.max(1, Math.round(60 / cost));
}

/** True val_bpb: optimum near matrixLr 0.08, depth 6, warmdown 0.7; starved runs pay. */
export function surface(config: FlatConfig): number {
  const lr = Math.log2(num(config, "optim.matrixLr") / 0.08);
  const depth = num(config, "model.depth") - 6;
  const warmdown = num(config, "optim.warmdownRatio") - 0.7;
  const steps = stepsFor(config);
  return 2.0 + 0.03 * lr * lr + 0.01 * depth * depth + 0.05 * warmdown * warmdown +
    (steps < 30 ? 0.01 * (30 - steps) : 0);
}

/** A stable recipe hash of a flat config (the same recipe always gets the same hash). */
export function recipeHashOf(config: FlatConfig): string {
  const text = JSON.stringify(Object.keys(config).sort().map((key) => [key, config[key]]));
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return `sim${h.toString(16).padStart(8, "0")}`;
}

/** A flat config back into the nested Recipe layout cards store. */
export function nested(config: FlatConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const parts = key.split(".");
    let at = out;
    for (const part of parts.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
    at[parts[parts.length - 1]] = value;
  }
  return out;
}
