/**
 * Public API of the director layer (re-exported by the top-level mod.ts): the experiment queue
 * with exclusive claims, duplicate detection, and the planner.
 */
export {
  type ClaimInfo,
  claimNext,
  type ClaimResult,
  complete,
  countQueue,
  DEFAULT_STALE_MINUTES,
  drop,
  foldItem,
  heartbeat,
  isStale,
  type ItemState,
  type ItemStatus,
  type NewItem,
  pickOrder,
  type Problem,
  type QueueCounts,
  type QueueEvent,
  type QueueItem,
  type QueueOptions,
  type QueueState,
  readQueue,
  release,
  releaseStale,
} from "./queue.ts";
export {
  addItem,
  type AddOptions,
  type AddResult,
  duplicateMessage,
  ITEM_LIMITS,
  parseConfig,
  validateAgent,
  validateNewItem,
  validateReason,
} from "./add.ts";
export {
  canonicalConfig,
  type Comparable,
  type Duplicate,
  findDuplicate,
  type Normalized,
  normalizeHypothesis,
  similarity,
  SIMILARITY_THRESHOLD,
} from "./dedup.ts";
export { planExperiments, type PlanOptions, type PlanResult, type Suggestion } from "./plan.ts";
export { loadTriedCards, requireCard, type TriedCards } from "./cards.ts";
export { queueSection } from "./brief.ts";
