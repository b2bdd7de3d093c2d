/**
 * Duplicate detection for new queue items. A hypothesis is a duplicate when it is in the same
 * category as a pending or in-progress item, or an already tried card, and either names the same
 * config change or says the same thing in other words (normalised text similarity). Numbers are
 * part of the idea: "lr 0.02" and "lr 0.03" are two experiments. Open questions are compared
 * like any other text, so different questions never collapse into one (an upstream defect).
 */

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

/** Canonical JSON of a config change: keys sorted, so key order never matters. */
export function canonicalConfig(config: Record<string, unknown> | null | undefined): string | null {
  if (!config || Object.keys(config).length === 0) return null;
  const sortKeys = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value && typeof value === "object") {
      return Object.fromEntries(
        Object.keys(value).sort().map((key) => [
          key,
          sortKeys((value as Record<string, unknown>)[key]),
        ]),
      );
    }
    return value;
  };
  return JSON.stringify(sortKeys(config));
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
  /** Its config change (items) or full config snapshot (cards); null when unknown. */
  config: Record<string, unknown> | null;
  /** Loads the config when `config` is null and it is needed (cards read lazily). */
  loadConfig?: () => Record<string, unknown> | null;
}

/** A found duplicate and why it counts as one. */
export interface Duplicate {
  /** What the new hypothesis duplicates. */
  existing: Comparable;
  /** `same config change` or `similar text (0.83)`. */
  why: string;
}

// Normalised form of each compared record, computed once (the planner compares many
// candidates with the same thousands of cards).
const normalizedCache = new WeakMap<Comparable, Normalized>();

function normalizedOf(other: Comparable): Normalized {
  let normalized = normalizedCache.get(other);
  if (!normalized) {
    normalized = normalizeHypothesis(other.hypothesis);
    normalizedCache.set(other, normalized);
  }
  return normalized;
}

/** True when every key of `change` has the same value in `snapshot`. */
function configAgrees(change: Record<string, unknown>, snapshot: Record<string, unknown>) {
  for (const [key, value] of Object.entries(change)) {
    if (!(key in snapshot)) return false;
    if (canonicalConfig({ v: snapshot[key] }) !== canonicalConfig({ v: value })) return false;
  }
  return true;
}

/**
 * The first of `existing` that `candidate` duplicates, or null. Same category is required.
 * Items: an equal config change is a duplicate; a different one never is; without configs the
 * text decides. Cards (full config snapshots): the text decides, and a card whose config
 * disagrees with the proposed change is a different experiment.
 */
export function findDuplicate(
  candidate: { hypothesis: string; category: string; config?: Record<string, unknown> | null },
  existing: Iterable<Comparable>,
  threshold: number = SIMILARITY_THRESHOLD,
): Duplicate | null {
  const normalized = normalizeHypothesis(candidate.hypothesis);
  const config = canonicalConfig(candidate.config);
  for (const other of existing) {
    if (!other.categories.includes(candidate.category)) continue;
    if (other.kind === "item") {
      const otherConfig = canonicalConfig(other.config);
      if (config !== null && otherConfig !== null) {
        if (config === otherConfig) return { existing: other, why: "same config change" };
        continue;
      }
    }
    const score = similarity(normalized, normalizedOf(other));
    if (score < threshold) continue;
    if (other.kind === "card" && candidate.config && config !== null) {
      const snapshot = other.config ?? other.loadConfig?.() ?? null;
      if (snapshot && !configAgrees(candidate.config, snapshot)) continue;
    }
    return { existing: other, why: `similar text (${score.toFixed(2)})` };
  }
  return null;
}
