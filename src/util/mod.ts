/** Shared utilities: atomic and guarded writes, locks, ids, user-facing errors, safe text. */
export { atomicWrite, atomicWriteSync, createExclusive } from "./atomic.ts";
export { userCacheDir } from "./cache_dir.ts";
export {
  checkWritePath,
  guardedCreateExclusive,
  guardedMkdir,
  guardedMkdirSync,
  guardedWrite,
  guardedWriteSync,
  isInside,
  readTextLimited,
  TEXT_FILE_LIMIT,
  UnsafePathError,
} from "./guarded.ts";
export {
  DEFAULT_LOCK_TIMEOUT_S,
  describeHolder,
  type LockHolder,
  type LockOptions,
  readLockHolder,
  withLock,
} from "./lock.ts";
export { isValidId, newId } from "./ids.ts";
export { DataError, exitCodeOf, UsageError } from "./errors.ts";
export {
  hasUnsafeCharacters,
  htmlText,
  markdownText,
  oneLine,
  terminalText,
  truncate,
} from "./text.ts";
export { seededRandom } from "./random.ts";
