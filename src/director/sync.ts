/**
 * What a sync means for the queue and the judgements, resolved by rule after every pull:
 *
 * - claims: the order of claim files in the linear git history is recorded
 *   (`views/claim-order.json`); of two claims of one (item, generation) the first wins, and a
 *   losing claim made on this clone is acknowledged with a `lost` record (its agent is told);
 * - duplicate ideas added on two machines: the later item (by id, the same choice on every
 *   machine) is dropped with a reason naming the earlier, using the director's dedup; a claimed
 *   item is never dropped (then the earlier, unclaimed one goes);
 * - two judgements of one card that do not supersede each other: both are kept and the card is
 *   reported as disputed.
 */
import { basename, relative, sep } from "node:path";
import { openKnowledgeBase } from "../knowledge/store.ts";
import { effectiveJudgement } from "../knowledge/index.ts";
import { addedInHistoryOrder, type RecordChange, type SyncReport } from "../knowledge/sync.ts";
import { type Comparable, findDuplicate } from "./dedup.ts";
import {
  drop,
  type ItemState,
  type LostClaim,
  type QueueOptions,
  readQueue,
  recordLost,
} from "./queue.ts";
import { type Problem, queuePaths, writeClaimOrder } from "./store.ts";
import { withLock } from "../util/lock.ts";

/** A claim that lost its generation, as a sync reports it. */
export interface LostReport {
  /** The item. */
  item: string;
  /** Its hypothesis. */
  hypothesis: string;
  /** The losing claim. */
  claim: LostClaim;
  /** True when the losing claim was made on this clone (its agent is told here). */
  local: boolean;
}

/** A duplicate item dropped in favour of an earlier one. */
export interface MergedDuplicate {
  /** The item dropped (the later one). */
  dropped: string;
  /** The item kept (the earlier one). */
  kept: string;
  /** Why they are the same idea. */
  why: string;
}

/** A card judged twice (two machines), both judgements kept. */
export interface DisputedCard {
  /** The card. */
  card: string;
  /** Its judgements, oldest first. */
  judgements: { id: string; status: string; agent: string }[];
}

/** What the resolution after a sync found and did. */
export interface Resolution {
  /** Claims that lost their generation (this sync's news: new or local ones). */
  lost: LostReport[];
  /** Duplicate ideas merged (a drop record written for each). */
  merged: MergedDuplicate[];
  /** Cards judged on two machines. */
  disputed: DisputedCard[];
  /** Incoming queue records that are unusable (reported, skipped). */
  corrupt: Problem[];
  /** Records written by the resolution (lost, drop): they need one more push. */
  written: number;
}

function idOfClaimPath(path: string): string | null {
  const match = /\.claim\.[A-Za-z0-9_-]+\.(claim_[0-9A-Z]{26})\.json$/.exec(path);
  return match ? match[1] : null;
}

/** Record the claim order of the history at HEAD (after a pull, before anything reads it). */
export async function recordClaimOrder(kb: string, head: string): Promise<void> {
  const names = (await addedInHistoryOrder(kb, "queue/events")).map((path) => basename(path));
  await writeClaimOrder(kb, head, names);
}

function comparable(state: ItemState): Comparable {
  return {
    kind: "item",
    id: state.item.id,
    hypothesis: state.item.hypothesis,
    categories: [state.item.category],
    config: state.item.config,
  };
}

/**
 * Resolve the queue and judgements after `report` (one `syncBase`): record the claim order, tell
 * the local losers (a `lost` record each), merge duplicate ideas that met in this sync, and list
 * disputed cards. Writes only new records; `written` says how many (sync pushes them).
 */
export async function resolveAfterSync(
  options: QueueOptions,
  report: SyncReport,
): Promise<Resolution> {
  const { kb } = options;
  await recordClaimOrder(kb, report.head);
  const local: RecordChange[] = [...report.committed, ...report.outgoing, ...report.unpushed];
  const incomingPaths = new Set(report.incoming.map((change) => change.path));
  const localClaims = new Set(
    local.map((change) => idOfClaimPath(change.path)).filter((id) => id !== null),
  );
  const incomingClaims = new Set(
    report.incoming.map((change) => idOfClaimPath(change.path)).filter((id) => id !== null),
  );
  const resolution: Resolution = { lost: [], merged: [], disputed: [], corrupt: [], written: 0 };
  const state = await readQueue(kb);
  resolution.corrupt = state.problems.filter((problem) =>
    incomingPaths.has(relativeTo(kb, problem.path))
  );

  // Claims: every loss that involves a claim of this sync, and acknowledge the local ones.
  for (const item of state.items) {
    for (const lost of item.lostClaims) {
      const mine = localClaims.has(lost.id);
      const news = incomingClaims.has(lost.id) || incomingClaims.has(lost.winner.id);
      // Another machine's loss is news only until its agent acknowledged it.
      if (!mine && (!news || lost.told)) continue;
      resolution.lost.push({
        item: item.item.id,
        hypothesis: item.item.hypothesis,
        claim: lost,
        local: mine,
      });
      if (mine && !lost.told) {
        await recordLost(options, item.item.id, lost);
        resolution.written++;
      }
    }
  }

  // Duplicate ideas that met in this sync: one side came in, the other was added here.
  const incomingItems = new Set(
    report.incoming.filter((c) => c.kind === "item").map((c) => c.id),
  );
  const localItems = new Set(local.filter((c) => c.kind === "item").map((c) => c.id));
  if (incomingItems.size > 0 && localItems.size > 0) {
    const open = state.items.filter((s) => s.status === "pending" || s.status === "in_progress");
    const kept: ItemState[] = [];
    for (const candidate of open) {
      const id = candidate.item.id;
      const side = incomingItems.has(id) ? "in" : localItems.has(id) ? "local" : null;
      const others = kept.filter((other) => {
        const otherSide = incomingItems.has(other.item.id)
          ? "in"
          : localItems.has(other.item.id)
          ? "local"
          : null;
        return side !== null && otherSide !== null && otherSide !== side;
      });
      const duplicate = others.length > 0
        ? findDuplicate(
          {
            hypothesis: candidate.item.hypothesis,
            category: candidate.item.category,
            config: candidate.item.config,
          },
          others.map(comparable),
        )
        : null;
      const existing = duplicate ? kept.find((s) => s.item.id === duplicate.existing.id)! : null;
      // The later one goes; but a claimed item is never dropped: then the earlier one goes.
      const [loser, winner] = !duplicate || !existing
        ? [null, null]
        : candidate.status === "pending"
        ? [candidate, existing]
        : existing.status === "pending"
        ? [existing, candidate]
        : [null, null];
      if (!loser || !winner) {
        kept.push(candidate);
        continue;
      }
      const reason = `duplicate of ${winner.item.id} (${duplicate!.why}), added on another ` +
        `machine; merged by sync`;
      await drop(options, loser.item.id, reason);
      resolution.written++;
      resolution.merged.push({ dropped: loser.item.id, kept: winner.item.id, why: duplicate!.why });
      if (loser === existing) kept.splice(kept.indexOf(existing), 1, candidate);
    }
  }

  // Judgements: cards with two or more judgements that came together in this sync.
  const judgedCards = new Set(
    [...report.incoming, ...local].filter((c) => c.kind === "completion").map((c) => c.id),
  );
  if (judgedCards.size > 0) resolution.disputed = disputedCards(kb, judgedCards);
  return resolution;
}

function relativeTo(kb: string, path: string): string {
  return relative(kb, path).split(sep).join("/");
}

/**
 * Of `cards`, those with two or more judgements none of which supersedes another (C5): both are
 * kept; the card is disputed. Judged through the knowledge base's own rule.
 */
export function disputedCards(kb: string, cards: Set<string>): DisputedCard[] {
  const base = openKnowledgeBase(kb);
  const disputed: DisputedCard[] = [];
  try {
    for (const card of [...cards].sort()) {
      let completions;
      try {
        completions = base.getCard(card).completions;
      } catch {
        continue; // an unknown or unreadable card: reported by the index, skipped here
      }
      const judgement = effectiveJudgement(completions);
      if (!judgement?.disputed) continue;
      disputed.push({
        card,
        judgements: judgement.heads.map(({ id, status, agent }) => ({ id, status, agent })),
      });
    }
  } finally {
    base.close();
  }
  return disputed;
}

/**
 * Run `body` holding the queue's pick lock, so no claim, completion or add reads the queue while
 * a rebase briefly removes and re-creates local record files.
 */
export async function withQueueLock<T>(kb: string, body: () => Promise<T>): Promise<T> {
  const paths = queuePaths(kb);
  try {
    Deno.statSync(paths.root);
  } catch {
    return await body(); // no queue yet: nothing to protect
  }
  return await withLock(paths.lock, body, { base: kb });
}
