/**
 * Adding an item to the queue: the input is validated (a bad field is a UsageError and nothing
 * is written), then compared with every pending and in-progress item and every tried card, and
 * refused with the name of what it duplicates unless forced. The check and the write happen
 * under the queue lock, so two agents adding the same idea at once get one item, not two.
 */
import { UsageError } from "../util/errors.ts";
import { withLock } from "../util/lock.ts";
import { CATEGORIES, isCategory } from "../knowledge/taxonomy.ts";
import {
  canonicalChange,
  changeHolds,
  type ConfigValidator,
  describeChange,
  type FlatConfig,
} from "../knowledge/config_keys.ts";
import { type Comparable, type Duplicate, findDuplicate } from "./dedup.ts";
import { createItem, type NewItem, type QueueOptions, readQueue } from "./queue.ts";
import { ensureQueueDirs, type QueueItem } from "./store.ts";
import { oneLine } from "../util/text.ts";
import { isValidId } from "../util/ids.ts";

/** Size limits of queue item fields. */
export const ITEM_LIMITS = {
  /** characters of a hypothesis */
  hypothesis: 4_000,
  /** characters of the config change as JSON */
  configJson: 8_192,
  /** prior cards per item */
  priorCards: 64,
  /** characters of an agent name */
  agent: 64,
  /** characters of a drop or release reason */
  reason: 2_000,
  /** seeds per item */
  seeds: 64,
  /** characters of a base recipe hash */
  recipeHash: 128,
} as const;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Check an agent name: 1-64 characters, no control characters. Returns it trimmed. */
export function validateAgent(agent: string, field = "agent"): string {
  const trimmed = agent.trim();
  if (trimmed === "") throw new UsageError(field, "must not be empty");
  if (trimmed.length > ITEM_LIMITS.agent) {
    throw new UsageError(field, `must be at most ${ITEM_LIMITS.agent} characters`);
  }
  if (CONTROL.test(trimmed)) throw new UsageError(field, "must not contain control characters");
  return trimmed;
}

/** Check a free-text reason (drop, release): non-empty, bounded. Returns it trimmed. */
export function validateReason(reason: string, field = "reason"): string {
  const trimmed = reason.trim();
  if (trimmed === "") throw new UsageError(field, "must not be empty or whitespace");
  if (trimmed.length > ITEM_LIMITS.reason) {
    throw new UsageError(field, `must be at most ${ITEM_LIMITS.reason} characters`);
  }
  return trimmed;
}

/** Check the fields of a new item; throws a UsageError naming the first bad field. */
export function validateNewItem(fields: NewItem): NewItem {
  const hypothesis = fields.hypothesis.trim();
  if (hypothesis === "") throw new UsageError("hypothesis", "must not be empty or whitespace");
  if (hypothesis.length > ITEM_LIMITS.hypothesis) {
    throw new UsageError("hypothesis", `must be at most ${ITEM_LIMITS.hypothesis} characters`);
  }
  if (!isCategory(fields.category)) {
    throw new UsageError("category", `must be one of ${CATEGORIES.join(", ")}`);
  }
  if (!Number.isInteger(fields.priority) || fields.priority < 1 || fields.priority > 5) {
    throw new UsageError("priority", "must be an integer from 1 (most urgent) to 5");
  }
  const raw = fields.config ?? null;
  if (raw !== null) {
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new UsageError("config", 'must be a JSON object such as {"optim.matrixLr": 0.06}');
    }
    if (JSON.stringify(raw).length > ITEM_LIMITS.configJson) {
      throw new UsageError(
        "config",
        `must be at most ${ITEM_LIMITS.configJson} characters of JSON`,
      );
    }
  }
  // One spelling everywhere: dotted recipe keys (config_keys.ts), old card spellings mapped.
  const config = canonicalChange(raw);
  const base = fields.base ?? null;
  if (base?.card !== undefined && !isValidId(base.card, "card")) {
    throw new UsageError("base", `must be a card id like card_01J..., got ${oneLine(base.card)}`);
  }
  if (
    base?.recipe_hash !== undefined &&
    !/^[0-9A-Za-z_-]{1,128}$/.test(base.recipe_hash)
  ) {
    throw new UsageError("base.recipe_hash", "must be 1-128 letters, digits, - or _");
  }
  const seeds = fields.seeds ?? null;
  if (seeds !== null) {
    if (seeds.length > ITEM_LIMITS.seeds) {
      throw new UsageError("seeds", `must list at most ${ITEM_LIMITS.seeds} seeds`);
    }
    if (!seeds.every((seed) => Number.isSafeInteger(seed) && seed >= 0)) {
      throw new UsageError("seeds", "must be non-negative integers");
    }
  }
  const priorCards = fields.priorCards ?? [];
  if (priorCards.length > ITEM_LIMITS.priorCards) {
    throw new UsageError("prior-cards", `must name at most ${ITEM_LIMITS.priorCards} cards`);
  }
  for (const card of priorCards) {
    if (!isValidId(card, "card")) {
      throw new UsageError(
        "prior-cards",
        `must be card ids like card_01J..., got ${oneLine(card)}`,
      );
    }
  }
  return {
    ...fields,
    hypothesis,
    config,
    base,
    seeds: seeds === null ? null : [...new Set(seeds)],
    priorCards: [...new Set(priorCards)],
    createdBy: fields.createdBy ? validateAgent(fields.createdBy, "agent") : null,
  };
}

/** Parse `--config`: a JSON object, or a UsageError. */
export function parseConfig(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new UsageError("config", `must be valid JSON, got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError("config", 'must be a JSON object such as {"lr": 0.02}');
  }
  return value as Record<string, unknown>;
}

/**
 * The pending and in-progress items of the queue, in the form dedup compares, and the completed
 * ones (their result cards may be newer than the cards a caller loaded). `configOf` gives a
 * card's effective config, so an item with a base card is compared by its resulting config.
 */
export async function openItemsForDedup(
  kb: string,
  configOf?: (card: string) => FlatConfig | null,
): Promise<Comparable[]> {
  const state = await readQueue(kb);
  return state.items
    .filter((item) => item.status !== "dropped")
    .map(({ item, status }) => ({
      ...itemComparable(item, configOf),
      ...(status === "completed" ? { closed: true } : {}),
    }));
}

/** An item in the form dedup compares (its change, its resulting config when the base is known). */
export function itemComparable(
  item: Pick<
    QueueItem,
    "id" | "hypothesis" | "category" | "config" | "base" | "seeds"
  >,
  configOf?: (card: string) => FlatConfig | null,
): Comparable {
  const change = canonicalChange(item.config);
  const baseConfig = item.base?.card && configOf ? configOf(item.base.card) : null;
  return {
    kind: "item",
    id: item.id,
    hypothesis: item.hypothesis,
    categories: [item.category],
    config: change,
    target: change && baseConfig ? { ...baseConfig, ...change } : null,
    replicates: change === null && item.seeds && item.base?.recipe_hash
      ? item.base.recipe_hash
      : null,
  };
}

/** How `addItem` treats duplicates and where tried cards come from. */
export interface AddOptions extends QueueOptions {
  /** Add even when it duplicates an item or a card. */
  force?: boolean;
  /** Tried cards to compare with (live, non-retracted cards of the base). */
  triedCards?: Comparable[];
  /**
   * Checks the change against the recipe (unknown keys, types, constraints); throws a
   * UsageError `config.<key>`. The CLI builds it from the train layer.
   */
  validateChange?: ConfigValidator;
  /** Effective config of the base card, when the item names one. */
  baseConfig?: FlatConfig | null;
  /** A card's effective config (to compare open items that name a base card). */
  configOf?: (card: string) => FlatConfig | null;
}

/** What `addItem` did. */
export interface AddResult {
  /** The new item, or null when refused as a duplicate. */
  item: QueueItem | null;
  /** The duplicate found (also reported when forced). */
  duplicate: Duplicate | null;
}

/** The one-line message for a refused duplicate, naming the existing item or card. */
export function duplicateMessage(duplicate: Duplicate): string {
  const what = duplicate.existing.kind === "item" ? "queue item" : "card";
  return `duplicates ${what} ${duplicate.existing.id} (${duplicate.why}): ` +
    `"${oneLine(duplicate.existing.hypothesis).slice(0, 120)}"; add --force to add it anyway`;
}

/**
 * Check a validated item's config change against the recipe (through `validateChange`) and its
 * base: a change the base already has is no experiment. Returns the item; throws a UsageError.
 */
export function checkChange(options: AddOptions, valid: NewItem): NewItem {
  const change = valid.config as FlatConfig | null;
  if (change === null) return valid;
  options.validateChange?.(change, options.baseConfig ?? undefined);
  if (options.baseConfig && changeHolds(change, options.baseConfig)) {
    throw new UsageError(
      "config",
      `no change: the base${valid.base?.card ? ` ${valid.base.card}` : ""} already has ` +
        describeChange(change),
    );
  }
  return valid;
}

/**
 * Validate and add one item, refusing a duplicate of an open item or a tried card unless
 * `force`. Dedup and write hold the queue lock.
 */
export async function addItem(options: AddOptions, fields: NewItem): Promise<AddResult> {
  return (await addItems([{ options, fields }], options.kb))[0];
}

/**
 * Add several items under one hold of the queue lock (the planner's batch): each is validated,
 * checked against the open items, the tried cards of its options and the items added before it
 * in the batch, and written unless it duplicates one. Results in input order.
 */
export async function addItems(
  batch: readonly { options: AddOptions; fields: NewItem }[],
  kb: string,
): Promise<AddResult[]> {
  const valid = batch.map(({ options, fields }) => checkChange(options, validateNewItem(fields)));
  const paths = await ensureQueueDirs(kb);
  return await withLock(paths.lock, async () => {
    const open = await openItemsForDedup(kb, batch[0]?.options.configOf);
    const results: AddResult[] = [];
    for (const [i, { options }] of batch.entries()) {
      const item = valid[i];
      const change = item.config as FlatConfig | null;
      const duplicate = findDuplicate({
        hypothesis: item.hypothesis,
        category: item.category,
        config: change,
        target: change && options.baseConfig ? { ...options.baseConfig, ...change } : null,
        replicates: change === null && item.seeds && item.base?.recipe_hash
          ? item.base.recipe_hash
          : null,
      }, [...open, ...(options.triedCards ?? [])]);
      if (duplicate && !options.force) {
        results.push({ item: null, duplicate });
        continue;
      }
      const created = await createItem(options, item);
      open.push(itemComparable(created, options.configOf));
      results.push({ item: created, duplicate });
    }
    return results;
  }, { base: kb });
}
