/**
 * Duplicate detection for new queue items. A config change is compared with every tried card's
 * effective config and every open item's change (one key vocabulary, config_keys.ts), whatever
 * the text says; an idea without a config is a duplicate when it says the same thing as an open
 * item or tried card of its category in other words (normalised text similarity). Numbers are
 * part of the idea: "lr 0.02" and "lr 0.03" are two experiments. Open questions are compared
 * like any other text, so different questions never collapse into one (an upstream defect).
 */
import {
  canonicalChange,
  changeHolds,
  describeChange,
  type FlatConfig,
  flattenConfig,
  sameFlatConfig,
} from "../knowledge/config_keys.ts";

/** Words that carry no experiment meaning. */
const STOPWORDS = new Set(
  ("a an and are as at be by for from in into is it its of on or the this that to with " +
    "try trying test testing use using see whether if does do we our vs versus than then " +
    "should would could can may might will again more less instead get take make so").split(" "),
);

/** Words that mean the same thing (abbreviations and change verbs). */
const SYNONYMS: Record<string, string> = {
  lr: "learning_rate",
  lrs: "learning_rate",
  bs: "batch_size",
  wd: "weight_decay",
  attn: "attention",
  init: "initialization",
  initialisation: "initialization",
  optim: "optimizer",
  optimiser: "optimizer",
  norm: "normalization",
  normalisation: "normalization",
  layer: "depth",
  layers: "depth",
  increase: "raise",
  higher: "raise",
  larger: "raise",
  bigger: "raise",
  double: "raise",
  decrease: "lower",
  reduce: "lower",
  smaller: "lower",
  halve: "lower",
};

/** Multi-word names folded into one token before splitting. */
const PHRASES: [RegExp, string][] = [
  [/learning[\s_-]*rates?/g, "learning_rate"],
  [/batch[\s_-]*size/g, "batch_size"],
  [/weight[\s_-]*decay/g, "weight_decay"],
  [/sliding[\s_-]*window/g, "sliding_window"],
  [/head[\s_-]*dim(?:ension)?/g, "head_dim"],
  [/warm[\s_-]*up/g, "warmup"],
  [/warm[\s_-]*down/g, "warmdown"],
  [/(?:sequence|seq)[\s_-]*len(?:gth)?/g, "seq_len"],
  [/vocab(?:ulary)?[\s_-]*size/g, "vocab_size"],
];

function stem(word: string): string {
  if (/^\d/.test(word)) return word;
  if (word.length > 5 && word.endsWith("ing")) return word.slice(0, -3);
  if (word.length > 4 && word.endsWith("ed")) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word;
}

/** What a hypothesis is reduced to for comparison. */
export interface Normalized {
  /** Meaningful words, aliased and stemmed. */
  words: Set<string>;
  /** Numbers mentioned, canonical (`0.020` -> `0.02`, `1e-3` -> `0.001`). */
  numbers: Set<string>;
}

/** Reduce `text` to its meaningful words and numbers. */
export function normalizeHypothesis(text: string): Normalized {
  const words = new Set<string>();
  const numbers = new Set<string>();
  let lower = text.toLowerCase();
  for (const [pattern, replacement] of PHRASES) lower = lower.replace(pattern, replacement);
  for (const match of lower.matchAll(/\d+(?:\.\d+)?(?:e[-+]?\d+)?|[a-z_][a-z0-9_]*/g)) {
    const token = match[0];
    if (/^\d/.test(token)) {
      numbers.add(String(Number(token)));
      continue;
    }
    if (STOPWORDS.has(token)) continue;
    const word = SYNONYMS[token] ?? token;
    words.add(SYNONYMS[stem(word)] ?? stem(word));
  }
  return { words, numbers };
}

/**
 * Similarity of two normalised hypotheses in [0, 1]: the Dice coefficient of their words, or 1
 * when one has at least three words and they are all in the other. 0 when the numbers conflict
 * (neither hypothesis's numbers are all among the other's: "lr 0.02" vs "lr 0.03").
 */
export function similarity(a: Normalized, b: Normalized): number {
  if (!subset(a.numbers, b.numbers) && !subset(b.numbers, a.numbers)) return 0;
  if (a.words.size === 0 || b.words.size === 0) return 0;
  let shared = 0;
  for (const word of a.words) if (b.words.has(word)) shared++;
  const smaller = Math.min(a.words.size, b.words.size);
  if (smaller >= 3 && shared === smaller) return 1;
  return (2 * shared) / (a.words.size + b.words.size);
}

function subset(a: Set<string>, b: Set<string>): boolean {
  for (const value of a) if (!b.has(value)) return false;
  return true;
}

/** Similarity at or above which two hypotheses are the same idea. */
export const SIMILARITY_THRESHOLD = 0.65;

/** Canonical JSON of a config change: keys canonical and sorted, so spelling and order never matter. */
export function canonicalConfig(config: Record<string, unknown> | null | undefined): string | null {
  const flat = canonicalChange(config);
  if (flat === null) return null;
  return JSON.stringify(Object.keys(flat).sort().map((key) => [key, flat[key]]));
}

/** Something a new hypothesis is compared with: a queue item or a tried card. */
export interface Comparable {
  /** `item` (pending or in progress) or `card` (already tried). */
  kind: "item" | "card";
  /** Item or card id. */
  id: string;
  /** Its hypothesis. */
  hypothesis: string;
  /** The categories it belongs to (one for items; cards may span several). */
  categories: readonly string[];
  /**
   * Items: the config change (canonical keys). Cards: the effective config (flat, canonical).
   * Null when unknown (cards are then read through `loadConfig`).
   */
  config: Record<string, unknown> | null;
  /** Items with a known base: the base's effective config with the change applied. */
  target?: FlatConfig | null;
  /** Items that rerun a recipe unchanged (replicates): that recipe's hash. */
  replicates?: string | null;
  /**
   * A completed item: its result cards may not be indexed yet when a plan started, so it counts
   * by its resulting config only (base known on both sides); its text and replicates do not.
   */
  closed?: boolean;
  /** Loads the config when `config` is null and it is needed (cards read lazily). */
  loadConfig?: () => Record<string, unknown> | null;
}

/** What is checked for duplicates: a proposed item. */
export interface Candidate {
  /** The hypothesis text. */
  hypothesis: string;
  /** Its taxonomy category. */
  category: string;
  /** The config change (any spelling), or null. */
  config?: Record<string, unknown> | null;
  /** The base's effective config with the change applied, when the base is known. */
  target?: FlatConfig | null;
  /** For a replicate (no change): the recipe hash it reruns. */
  replicates?: string | null;
}

/** A found duplicate and why it counts as one. */
export interface Duplicate {
  /** What the new hypothesis duplicates. */
  existing: Comparable;
  /** `same config change`, `card ran this config` or `similar text (0.83)`. */
  why: string;
}

// Normalised form of each compared record, computed once (the planner compares many
// candidates with the same thousands of cards).
const normalizedCache = new WeakMap<Comparable, Normalized>();
const flatCache = new WeakMap<Comparable, FlatConfig | null>();

function normalizedOf(other: Comparable): Normalized {
  let normalized = normalizedCache.get(other);
  if (!normalized) {
    normalized = normalizeHypothesis(other.hypothesis);
    normalizedCache.set(other, normalized);
  }
  return normalized;
}

/** The flat effective config of a card (loaded once), or null when unknown. */
function cardConfigOf(card: Comparable): FlatConfig | null {
  if (flatCache.has(card)) return flatCache.get(card)!;
  const raw = card.config ?? card.loadConfig?.() ?? null;
  const flat = raw === null ? null : flattenConfig(raw);
  flatCache.set(card, flat);
  return flat;
}

/** True when the two full configs agree on every key both have (the name aside). */
function sameRecipe(a: FlatConfig, b: FlatConfig): boolean {
  return sameFlatConfig(a, b);
}

/**
 * The first of `existing` that `candidate` duplicates, or null.
 *
 * A config change is compared by config, whatever the text or category says:
 * - with a tried card: the card's effective config already holds every key of the change (and,
 *   when the candidate's base is known, the card ran exactly base + change: a seed twin);
 * - with an open item: the same change (or, both bases known, the same resulting config).
 * A replicate (no change, a recipe hash) duplicates an open replicate of the same recipe.
 * Otherwise the text decides, within one category (normalised similarity).
 */
export function findDuplicate(
  candidate: Candidate,
  existing: Iterable<Comparable>,
  threshold: number = SIMILARITY_THRESHOLD,
): Duplicate | null {
  const change = canonicalChange(candidate.config);
  const changeKey = canonicalConfig(change);
  const target = change && candidate.target ? candidate.target : null;
  let normalized: Normalized | null = null;
  for (const other of existing) {
    if (other.closed) {
      if (target && other.target && sameRecipe(target, other.target)) {
        return { existing: other, why: "a completed item ran this exact config" };
      }
      continue;
    }
    if (change !== null) {
      if (other.kind === "card") {
        const snapshot = cardConfigOf(other);
        if (!snapshot || !changeHolds(change, snapshot)) continue;
        if (target && !sameRecipe(target, snapshot)) continue;
        return {
          existing: other,
          why: target ? "card ran this exact config" : `card ran ${describeChange(change)}`,
        };
      }
      const otherChange = canonicalChange(other.config);
      if (otherChange === null) {
        if (other.replicates) continue;
      } else {
        const same = target && other.target
          ? sameRecipe(target, other.target) && changeHolds(change, other.target)
          : canonicalConfig(otherChange) === changeKey;
        if (same) return { existing: other, why: "same config change" };
        continue;
      }
    } else if (candidate.replicates) {
      if (other.kind === "item" && other.replicates === candidate.replicates) {
        return { existing: other, why: `same replicate of recipe ${candidate.replicates}` };
      }
      continue;
    } else if (other.replicates) continue;
    // Text decides only where a config could not: within one category.
    if (!other.categories.includes(candidate.category)) continue;
    normalized ??= normalizeHypothesis(candidate.hypothesis);
    const score = similarity(normalized, normalizedOf(other));
    if (score < threshold) continue;
    return { existing: other, why: `similar text (${score.toFixed(2)})` };
  }
  return null;
}
