/**
 * What the director needs from the knowledge layer's card store: the tried cards (for dedup
 * and planning) and a check that a card named on the command line exists and is not retracted.
 */
import { UsageError } from "../util/errors.ts";
import { isValidId } from "../util/ids.ts";
import { type KnowledgeBase, openKnowledgeBase } from "../knowledge/store.ts";
import type { CardSummary } from "../knowledge/index.ts";
import type { Card } from "../knowledge/schema.ts";
import { effectiveConfig, type FlatConfig } from "../knowledge/config_keys.ts";
import type { Comparable } from "./dedup.ts";
import type { Problem } from "./store.ts";

/** The cards of a base, loaded once per command. */
export interface TriedCards {
  /** The open base (full cards are read lazily through it). */
  base: KnowledgeBase;
  /** Every readable card, retracted ones flagged, oldest first. */
  summaries: CardSummary[];
  /** Cards by id. */
  byId: Map<string, CardSummary>;
  /** Non-retracted cards in the form dedup compares (configs loaded on demand). */
  comparables: Comparable[];
  /** Card files that could not be used. */
  problems: Problem[];
  /** The effective config of card `id` (flat, canonical keys; read once), or null. */
  configOf: (id: string) => FlatConfig | null;
  /** The full card `id` (read once), or null when unreadable. */
  cardOf: (id: string) => Card | null;
}

/** The full config snapshot of card `id`, or null when unreadable. */
export function cardConfig(base: KnowledgeBase, id: string): Record<string, unknown> | null {
  try {
    return base.getCard(id).card.config;
  } catch {
    return null;
  }
}

// Parsed cards by base directory and id (a long-running director plans many times).
const parsedCards = new Map<string, Card>();

/** Load the cards of the base at `kb` through the knowledge layer's index. */
export async function loadTriedCards(kb: string): Promise<TriedCards> {
  const base = openKnowledgeBase(kb);
  try {
    const summaries = await base.listCards();
    const problems = (await base.skipped()).map((s) => ({ path: s.path, reason: s.reason }));
    const full = new Map<string, Card | null>();
    const cardOf = (id: string): Card | null => {
      if (!full.has(id)) {
        // Card files never change once written: a parse is kept for the life of the process.
        const key = `${base.dir}\0${id}`;
        let card = parsedCards.get(key) ?? null;
        if (card === null) {
          try {
            card = base.getCard(id).card;
            parsedCards.set(key, card);
          } catch {
            card = null;
          }
        }
        full.set(id, card);
      }
      return full.get(id)!;
    };
    const configs = new Map<string, FlatConfig | null>();
    const configOf = (id: string): FlatConfig | null => {
      if (!configs.has(id)) {
        const card = cardOf(id);
        configs.set(id, card ? effectiveConfig(card) : null);
      }
      return configs.get(id)!;
    };
    const comparables: Comparable[] = summaries
      .filter((card) => !card.retracted)
      .map((card) => ({
        kind: "card" as const,
        id: card.id,
        hypothesis: card.hypothesis,
        categories: card.categories,
        config: null,
        loadConfig: () => configOf(card.id),
      }));
    return {
      base,
      summaries,
      byId: new Map(summaries.map((card) => [card.id, card])),
      comparables,
      problems,
      configOf,
      cardOf,
    };
  } catch (error) {
    base.close();
    throw error;
  }
}

/** Throw a UsageError naming `field` unless `id` is an existing, non-retracted card. */
export function requireCard(cards: TriedCards, id: string, field: string): CardSummary {
  if (!isValidId(id, "card")) {
    throw new UsageError(field, `must be a card id like card_01J..., got ${JSON.stringify(id)}`);
  }
  const card = cards.byId.get(id);
  if (!card) throw new UsageError(field, `no card ${id} in ${cards.base.dir}`);
  if (card.retracted) {
    throw new UsageError(
      field,
      `card ${id} is retracted (${card.retraction_reason ?? "no reason"})`,
    );
  }
  return card;
}
