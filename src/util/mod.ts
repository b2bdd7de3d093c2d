/** Shared utilities: atomic writes, locks, ids, user-facing errors, safe terminal text. */
export { atomicWrite, atomicWriteSync, createExclusive } from "./atomic.ts";
export { withLock } from "./lock.ts";
export { isValidId, newId } from "./ids.ts";
export { DataError, exitCodeOf, UsageError } from "./errors.ts";
export { oneLine, truncate } from "./text.ts";
export { seededRandom } from "./random.ts";
