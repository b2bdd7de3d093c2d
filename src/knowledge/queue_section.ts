/**
 * The director's part of the brief, as plain data. The knowledge layer renders it; the
 * director layer (above) fills it, so the knowledge layer never imports the director.
 */

/** A queue item waiting for an agent. */
export interface PendingItem {
  id: string;
  hypothesis: string;
  category: string;
  priority: number;
}

/** A queue item an agent has claimed and is working on. */
export interface InProgressItem {
  id: string;
  hypothesis: string;
  category: string;
  agent: string;
  claimedAt: string;
  heartbeatAt: string;
}

/** What read-brief shows of the experiment queue. */
export interface QueueSection {
  pending: PendingItem[];
  inProgress: InProgressItem[];
  /** Queue records that could not be read (reported by `director status`, skipped here). */
  unreadable?: number;
}

/** The section for a base with no queue yet. */
export const EMPTY_QUEUE_SECTION: QueueSection = { pending: [], inProgress: [] };
