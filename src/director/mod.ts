/**
 * Public API of the director layer (re-exported by the top-level mod.ts): the experiment queue
 * with exclusive claims, duplicate detection, the planner, and what a git sync means for them
 * (`resolveAfterSync`: claim winners, merged duplicate ideas, disputed judgements).
 */
export {
  type ClaimInfo,
  claimNext,
  type ClaimOptions,
  type ClaimResult,
  complete as completeItem,
  type CompleteOptions,
  countQueue,
  DEFAULT_STALE_MINUTES,
  drop as dropItem,
  type EventKind,
  foldItem,
  heartbeat as heartbeatItem,
  isStale,
  type ItemBase,
  type ItemState,
  type ItemStatus,
  type LostClaim,
  type NewItem,
  pickOrder,
  type Problem as QueueProblem,
  type QueueCounts,
  type QueueEvent,
  type QueueItem,
  type QueueOptions,
  type QueueState,
  readQueue,
  recordLost,
  release as releaseItem,
  releaseStale,
} from "./queue.ts";
export {
  addItem,
  addItems,
  type AddOptions,
  type AddResult,
  checkChange,
  duplicateMessage,
  ITEM_LIMITS,
  itemComparable,
  parseConfig,
  validateAgent,
  validateNewItem,
  validateReason,
} from "./add.ts";
export {
  type Candidate,
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
export { queueSection, readBriefWithQueue } from "./brief.ts";
export {
  type DisputedCard,
  type LostReport,
  type MergedDuplicate,
  type Resolution,
  resolveAfterSync,
} from "./sync.ts";
