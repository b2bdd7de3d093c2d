/**
 * The queue section of read-brief: what is waiting (best first) and what is in progress by
 * whom. The knowledge layer renders it; it is filled here so the knowledge layer never imports
 * the director.
 */
import type { QueueSection } from "../knowledge/queue_section.ts";
import { pickOrder, readQueue } from "./queue.ts";
import { type BriefResult, type KnowledgeBase, readBrief } from "../knowledge/mod.ts";

/** Pending and in-progress queue items of the base at `kb`, for read-brief. */
export async function queueSection(kb: string): Promise<QueueSection> {
  const state = await readQueue(kb);
  const pending = state.items.filter((item) => item.status === "pending").sort(pickOrder);
  const inProgress = state.items.filter((item) => item.status === "in_progress" && item.claim);
  return {
    pending: pending.map(({ item }) => ({
      id: item.id,
      hypothesis: item.hypothesis,
      category: item.category,
      priority: item.priority,
    })),
    inProgress: inProgress.map(({ item, claim }) => ({
      id: item.id,
      hypothesis: item.hypothesis,
      category: item.category,
      agent: claim!.agent,
      claimedAt: claim!.claimedAt,
      heartbeatAt: claim!.heartbeatAt,
    })),
    unreadable: state.problems.length,
  };
}

/**
 * The brief of a base with its queue section filled in: what `autoresearch read-brief` prints.
 * The knowledge layer's `readBrief(kb, queue)` cannot read the queue itself (it never imports
 * the director), so the library exports this one as `readBrief`.
 */
export async function readBriefWithQueue(
  kb: KnowledgeBase,
  queue?: QueueSection,
): Promise<BriefResult> {
  return await readBrief(kb, queue ?? await queueSection(kb.dir));
}
