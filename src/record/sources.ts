/**
 * What a base already holds from other tools: the `source` key of every card (so an import
 * skips records it has seen and a second import adds nothing) and the commit of every card (so
 * a recorded run links to the card of the commit it was built on). Read from the card files
 * themselves, through the same checked reader as everything else; unusable files are the
 * index's to report.
 */
import { join } from "node:path";
import type { KnowledgeBase } from "../knowledge/store.ts";
import { parseFileName, readCardFile } from "../knowledge/records.ts";
import type { Card, CardSource } from "../knowledge/schema.ts";

/** The lookup key of a source. */
export function sourceKey(source: Pick<CardSource, "kind" | "ref">): string {
  return `${source.kind}\u0000${source.ref}`;
}

/** The readable cards of a base with the fields imports look at, oldest first. */
export function readCards(kb: KnowledgeBase): Card[] {
  const cards: Card[] = [];
  let names: string[];
  try {
    names = [...Deno.readDirSync(join(kb.dir, "cards"))].filter((e) => e.isFile).map((e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  for (const name of names.sort()) {
    const parsed = parseFileName("card", name);
    if (!parsed) continue;
    const result = readCardFile(join(kb.dir, "cards", name), parsed.id);
    if (result.ok) cards.push(result.value);
  }
  return cards;
}

/** Card id per source key, over the readable cards of the base. */
export function sourceIndex(cards: Card[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const card of cards) {
    if (card.source && !index.has(sourceKey(card.source))) {
      index.set(sourceKey(card.source), card.id);
    }
  }
  return index;
}

/** True when two commit spellings name the same commit (one a prefix of the other, >= 7 hex). */
export function sameCommit(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (Math.min(x.length, y.length) < 7) return x === y;
  return x.startsWith(y) || y.startsWith(x);
}
