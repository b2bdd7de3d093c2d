/**
 * Adding an item to the queue: the input is validated (a bad field is a UsageError and nothing
 * is written), then compared with every pending and in-progress item and every tried card, and
 * refused with the name of what it duplicates unless forced. The check and the write happen
 * under the queue lock, so two agents adding the same idea at once get one item, not two.
 */
import { UsageError } from "../util/errors.ts";
import { withLock } from "../util/lock.ts";
import { CATEGORIES, isCategory } from "../knowledge/taxonomy.ts";
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
  const config = fields.config ?? null;
  if (config !== null) {
    if (typeof config !== "object" || Array.isArray(config)) {
      throw new UsageError("config", 'must be a JSON object such as {"lr": 0.02}');
    }
    if (JSON.stringify(config).length > ITEM_LIMITS.configJson) {
      throw new UsageError(
        "config",
        `must be at most ${ITEM_LIMITS.configJson} characters of JSON`,
      );
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
    config: config && Object.keys(config).length > 0 ? config : null,
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

/** The pending and in-progress items of the queue, in the form dedup compares. */
export async function openItemsForDedup(kb: string): Promise<Comparable[]> {
  const state = await readQueue(kb);
  return state.items
    .filter((item) => item.status === "pending" || item.status === "in_progress")
    .map((item) => ({
      kind: "item" as const,
      id: item.item.id,
      hypothesis: item.item.hypothesis,
      categories: [item.item.category],
      config: item.item.config,
    }));
}

/** How `addItem` treats duplicates and where tried cards come from. */
export interface AddOptions extends QueueOptions {
  /** Add even when it duplicates an item or a card. */
  force?: boolean;
  /** Tried cards to compare with (live, non-retracted cards of the base). */
  triedCards?: Comparable[];
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
 * Validate and add one item, refusing a duplicate of an open item or a tried card unless
 * `force`. Dedup and write hold the queue lock.
 */
export async function addItem(options: AddOptions, fields: NewItem): Promise<AddResult> {
  const valid = validateNewItem(fields);
  const paths = await ensureQueueDirs(options.kb);
  return await withLock(paths.lock, async () => {
    const existing = [...await openItemsForDedup(options.kb), ...(options.triedCards ?? [])];
    const duplicate = findDuplicate(
      { hypothesis: valid.hypothesis, category: valid.category, config: valid.config },
      existing,
    );
    if (duplicate && !options.force) return { item: null, duplicate };
    return { item: await createItem(options, valid), duplicate };
  }, { base: options.kb });
}
