/**
 * Record ids unique without coordination: a prefix, then a ULID (48-bit millisecond time +
 * 80 random bits), so ids sort by creation time and two machines never collide.
 */
import { monotonicFactory } from "ulid";

const nextUlid = monotonicFactory();

/** A new id such as `card_01J9Z...`; sortable by time, 80 random bits. */
export function newId(prefix: string): string {
  return `${prefix}_${nextUlid()}`;
}

const ID_PATTERN = /^[a-z]+_[0-9A-HJKMNP-TV-Z]{26}$/;

/** True when `id` has the shape `newId` produces (so it is safe as a file name). */
export function isValidId(id: string, prefix?: string): boolean {
  return ID_PATTERN.test(id) && (prefix === undefined || id.startsWith(`${prefix}_`));
}
