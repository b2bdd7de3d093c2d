/**
 * What both importers (results.tsv rows, a commons fork's cards) do when they write: check the
 * fields every imported card shares once, up front (a bad flag is one error and nothing is
 * written, not one skipped record per row), and write each card so that a record the schema
 * refuses is a reported skip (where + reason) rather than the end of the import.
 */
import type { KnowledgeBase } from "../knowledge/store.ts";
import { type Card, type CardInput, validateCardInput } from "../knowledge/schema.ts";
import { UsageError } from "../util/errors.ts";

/** The fields an importer sets alike on every card it writes. */
export type SharedCardFields = Pick<
  CardInput,
  "agent" | "session" | "platform" | "harness_hash" | "budget_s"
>;

/** Check the shared fields once (throws the UsageError a bad one gives). */
export function checkSharedCardFields(shared: SharedCardFields): void {
  validateCardInput({
    agent: shared.agent,
    session: shared.session,
    hypothesis: "check",
    platform: shared.platform,
    harness_hash: shared.harness_hash,
    recipe_hash: "check",
    budget_s: shared.budget_s,
    seed: 0,
    config: {},
    results: { val_bpb: 1 },
    status: "keep",
  });
}

/** Write one imported card; one the schema refuses goes to `skipped` under `where` (null). */
export async function writeOrSkip(
  kb: KnowledgeBase,
  input: CardInput,
  where: string,
  skipped: { where: string; reason: string }[],
): Promise<Card | null> {
  try {
    return await kb.writeCard(input);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    skipped.push({ where, reason: error.message });
    return null;
  }
}
