/** The queue section of read-brief, built from the director's queue (stub until it exists). */
import { EMPTY_QUEUE_SECTION, type QueueSection } from "../knowledge/queue_section.ts";

/** Pending and in-progress queue items of the base at `kb`, for read-brief. */
export function queueSection(_kb: string): Promise<QueueSection> {
  return Promise.resolve(EMPTY_QUEUE_SECTION);
}
