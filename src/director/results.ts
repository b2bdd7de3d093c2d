/**
 * What the queue commands tell people about results: what changed since an item's base was
 * chosen (so a worker does not run a stale hypothesis blindly), whether a run an agent chose on
 * its own matches a pending item (so it can complete it instead of the item being run again),
 * the result of a done item (val_bpb and verdict of its cards), and the queue's rates (worker
 * throughput, how long the queue has been empty).
 */
import {
  canonicalChange,
  changeHolds,
  configChange,
  type ConfigDifference,
  describeChange,
} from "../knowledge/config_keys.ts";
import type { TriedCards } from "./cards.ts";
import type { ItemState, QueueItem, QueueState } from "./queue.ts";

/** How an item's base compares with the current best of its class. */
export interface BaseNews {
  /** The item's base card. */
  base: string;
  /** The current best card of the base's class. */
  best: string;
  /** val_bpb of the base and of the best (their cards'). */
  baseValBpb: number | null;
  /** val_bpb of the current best. */
  bestValBpb: number | null;
  /** Keys whose values differ between the base and the best. */
  changes: ConfigDifference[];
}

/** The current best of `classKey` per the base's synthesis, or null. */
async function bestIn(cards: TriedCards, classKey: string): Promise<string | null> {
  const synthesis = await cards.base.synthesis();
  return synthesis.classes.find((row) => row.key === classKey)?.best?.id ?? null;
}

/**
 * What moved since `item`'s base was chosen: null when the item has no base card or its base is
 * still the best of its class.
 */
export async function baseNews(cards: TriedCards, item: QueueItem): Promise<BaseNews | null> {
  const baseId = item.base?.card;
  const base = baseId ? cards.byId.get(baseId) : undefined;
  if (!base) return null;
  const best = await bestIn(cards, base.class_key);
  if (best === null || best === base.id) return null;
  const bestCard = cards.byId.get(best);
  const a = cards.configOf(base.id);
  const b = cards.configOf(best);
  const changes = a && b ? configChange(a, b) : [];
  if (bestCard && bestCard.recipe_hash === base.recipe_hash) return null; // a seed twin of it
  return {
    base: base.id,
    best,
    baseValBpb: base.val_bpb,
    bestValBpb: bestCard?.val_bpb ?? null,
    changes,
  };
}

/** One line for a worker: what changed between the item's base and today's best. */
export function describeBaseNews(news: BaseNews): string {
  const values = (v: number | null) => (v === null ? "?" : String(v));
  const diff = news.changes.length === 0
    ? "same config keys"
    : news.changes.map((d) => `${d.key} ${JSON.stringify(d.from)} -> ${JSON.stringify(d.to)}`)
      .join(", ");
  return `base moved: the item was written against ${news.base} (val_bpb ` +
    `${values(news.baseValBpb)}); the best is now ${news.best} (val_bpb ` +
    `${values(news.bestValBpb)}), which differs in: ${diff}. Apply the change to the base it ` +
    `names, or release the item if it no longer makes sense.`;
}

/**
 * Why `cardIds` do not carry out `item` (null when they do): each card must hold the item's
 * change in its effective config and, when the item names a base card, agree with base + change
 * everywhere else; a replicate (no change) must have run the base's recipe hash.
 */
export function adoptionProblem(
  cards: TriedCards,
  item: QueueItem,
  cardIds: readonly string[],
): string | null {
  const change = canonicalChange(item.config);
  const baseConfig = item.base?.card ? cards.configOf(item.base.card) : null;
  for (const id of cardIds) {
    const summary = cards.byId.get(id);
    const config = cards.configOf(id);
    if (!summary || !config) return `card ${id} cannot be read`;
    if (change === null) {
      // Only a replicate (fixed seeds of a named recipe) says exactly what to run.
      if (!item.seeds || !item.base?.recipe_hash) {
        return `${item.id} names no config change to compare the cards with`;
      }
      if (summary.recipe_hash !== item.base.recipe_hash) {
        return `card ${id} ran recipe ${summary.recipe_hash}, not the item's ` +
          `${item.base.recipe_hash}`;
      }
      continue;
    }
    if (!changeHolds(change, config)) {
      return `card ${id} does not run the item's change ${describeChange(change)}`;
    }
    if (baseConfig) {
      const other = configChange({ ...baseConfig, ...change }, config);
      if (other.length > 0) {
        return `card ${id} also changes ${other.map((d) => d.key).join(", ")} from the base`;
      }
    }
  }
  return null;
}

/** The result of a completed item: its cards' mean val_bpb and their verdicts. */
export interface ItemResult {
  /** Mean val_bpb of the cards that have one, or null. */
  valBpb: number | null;
  /** Cards with a val_bpb. */
  n: number;
  /** Verdicts (judged status) of the cards, e.g. `keep`, `discard x2`, `pending`. */
  verdict: string;
}

/** The result of `state`'s cards (null for an item that is not completed). */
export function itemResult(cards: TriedCards, state: ItemState): ItemResult | null {
  if (state.status !== "completed") return null;
  const values: number[] = [];
  const verdicts = new Map<string, number>();
  for (const id of state.cards) {
    const card = cards.byId.get(id);
    const status = !card ? "missing" : card.retracted ? "retracted" : card.status;
    verdicts.set(status, (verdicts.get(status) ?? 0) + 1);
    if (card && !card.retracted && card.val_bpb !== null) values.push(card.val_bpb);
  }
  return {
    valBpb: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null,
    n: values.length,
    verdict: [...verdicts].map(([status, n]) => (n > 1 ? `${status} x${n}` : status)).join(", "),
  };
}

/** How fast workers take items and how long the queue has been dry. */
export interface QueueRates {
  /** Items completed per hour over the window (the last hour, or since the first completion). */
  itemsPerHour: number | null;
  /** Completions in the last hour. */
  completedLastHour: number;
  /** When the queue last ran out of pending items, while it still has none; else null. */
  emptySince: string | null;
  /** Minutes of the last hour with no pending item. */
  emptyMinutesLastHour: number;
}

/**
 * Throughput and dry spells, from the records' times: an item is pending from its creation
 * until claimed, completed or dropped, and again from a release until the next claim.
 */
export function queueRates(
  state: QueueState,
  events: Map<string, { kind: string; at: string }[]>,
  now: Date,
): QueueRates {
  const hour = 3_600_000;
  const end = now.getTime();
  const completions = state.items.filter((s) => s.status === "completed" && s.closedAt)
    .map((s) => Date.parse(s.closedAt!)).sort((a, b) => a - b);
  const lastHour = completions.filter((t) => t > end - hour).length;
  let itemsPerHour: number | null = null;
  if (completions.length > 0) {
    const window = Math.min(hour, Math.max(end - completions[0], 60_000));
    itemsPerHour = completions.filter((t) => t > end - window).length / (window / hour);
  }
  // +1 when an item becomes pending, -1 when it stops being pending.
  const steps: [number, number][] = [];
  for (const s of state.items) {
    steps.push([Date.parse(s.item.createdAt), +1]);
    const list = [...(events.get(s.item.id) ?? [])].sort((a, b) => (a.at < b.at ? -1 : 1));
    let pending = true;
    for (const event of list) {
      const at = Date.parse(event.at);
      if (
        pending && (event.kind === "claim" || event.kind === "complete" || event.kind === "drop")
      ) {
        steps.push([at, -1]);
        pending = false;
      } else if (!pending && event.kind === "release") {
        steps.push([at, +1]);
        pending = true;
      }
    }
    if (pending && s.status !== "pending") {
      // Folded state disagrees with the raw order (e.g. a lost claim): trust the fold.
      steps.push([Date.parse(s.closedAt ?? s.claim?.claimedAt ?? s.item.createdAt), -1]);
    }
  }
  steps.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let pending = 0;
  let emptyFrom: number | null = state.items.length === 0 ? null : -Infinity;
  let emptyMs = 0;
  const from = end - hour;
  for (const [at, delta] of steps) {
    if (pending === 0 && emptyFrom !== null && delta > 0) {
      emptyMs += Math.max(0, Math.min(at, end) - Math.max(emptyFrom, from));
    }
    pending += delta;
    if (pending === 0 && delta < 0) emptyFrom = at;
    if (pending > 0) emptyFrom = null;
  }
  if (pending <= 0 && emptyFrom !== null && emptyFrom !== -Infinity) {
    emptyMs += Math.max(0, end - Math.max(emptyFrom, from));
  }
  return {
    itemsPerHour,
    completedLastHour: lastHour,
    emptySince: pending <= 0 && emptyFrom !== null && emptyFrom !== -Infinity
      ? new Date(emptyFrom).toISOString()
      : null,
    emptyMinutesLastHour: Math.round(emptyMs / 60_000),
  };
}
