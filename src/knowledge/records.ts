/**
 * Reading one record file from disk: strict UTF-8, JSON, then the schema, and the file name
 * must agree with the id inside. Anything else is a reported skip (path + reason), never a
 * crash, never silently treated as empty.
 */
import { basename } from "node:path";
import { isValidId } from "../util/ids.ts";
import {
  type Card,
  checkCard,
  checkCompletion,
  type Checked,
  checkRetraction,
  type Completion,
  type Retraction,
} from "./schema.ts";

/** The three kinds of record a knowledge base stores, each in its own directory. */
export type RecordKind = "card" | "completion" | "retraction";

/** Directory of each record kind under the base directory. */
export const RECORD_DIRS: Record<RecordKind, string> = {
  card: "cards",
  completion: "completions",
  retraction: "retractions",
};

/**
 * Kinds of event in the director's queue log (queue/events/), which travels with the base; the
 * director owns their schema, the sync layer counts them, so the list lives in the lower layer.
 */
export const QUEUE_EVENT_KINDS = [
  "claim",
  "heartbeat",
  "release",
  "complete",
  "drop",
  "lost",
] as const;

/** One kind of queue event. */
export type QueueEventKind = typeof QUEUE_EVENT_KINDS[number];

const decoder = new TextDecoder("utf-8", { fatal: true });

/** File name of a card. */
export function cardFileName(id: string): string {
  return `${id}.json`;
}

/** File name of a completion or retraction: `<card id>.<record id>.json`. */
export function linkedFileName(cardId: string, recordId: string): string {
  return `${cardId}.${recordId}.json`;
}

/** The ids a record's file name encodes, or null when the name is not a record name. */
export function parseFileName(
  kind: RecordKind,
  name: string,
): { id: string; cardId: string } | null {
  if (!name.endsWith(".json")) return null;
  const parts = name.slice(0, -5).split(".");
  if (kind === "card") {
    return parts.length === 1 && isValidId(parts[0], "card")
      ? { id: parts[0], cardId: parts[0] }
      : null;
  }
  const prefix = kind === "completion" ? "done" : "retr";
  return parts.length === 2 && isValidId(parts[0], "card") && isValidId(parts[1], prefix)
    ? { id: parts[1], cardId: parts[0] }
    : null;
}

/** True for names a writer leaves behind mid-write (temp files), which are never records. */
export function isTempName(name: string): boolean {
  return name.startsWith(".tmp-") || name.endsWith(".tmp");
}

/** Largest record file read; anything bigger is hostile or broken, not a record. */
export const RECORD_MAX_BYTES = 8 << 20;

/** A record file's bytes as text: an empty file or bytes that are not UTF-8 are a reason. */
export function recordText(bytes: Uint8Array): Checked<string> {
  if (bytes.length === 0) return { ok: false, reason: "empty file" };
  try {
    return { ok: true, value: decoder.decode(bytes) };
  } catch {
    return { ok: false, reason: "not valid UTF-8" };
  }
}

function parseJson(path: string): Checked<unknown> {
  let bytes: Uint8Array;
  try {
    // A record is a regular file: a link could point anywhere, a directory is no record.
    const info = Deno.lstatSync(path);
    if (info.isSymlink) {
      return { ok: false, reason: "is a symbolic link; a record must be a regular file" };
    }
    if (info.isDirectory) return { ok: false, reason: "is a directory, not a record file" };
    if (!info.isFile) return { ok: false, reason: "is not a regular file" };
    if (info.size > RECORD_MAX_BYTES) {
      return { ok: false, reason: `larger than ${RECORD_MAX_BYTES} bytes` };
    }
  } catch (error) {
    return { ok: false, reason: `cannot read: ${(error as Error).message}` };
  }
  try {
    bytes = Deno.readFileSync(path);
  } catch (error) {
    return { ok: false, reason: `cannot read: ${(error as Error).message}` };
  }
  const text = recordText(bytes);
  if (!text.ok) return text;
  try {
    return { ok: true, value: JSON.parse(text.value) };
  } catch (error) {
    return { ok: false, reason: `invalid JSON (${(error as Error).message.split("\n")[0]})` };
  }
}

function readChecked<T extends { id: string }>(
  path: string,
  check: (value: unknown) => Checked<T>,
  expectedId: string,
  expectedCardId?: string,
): Checked<T> {
  const parsed = parseJson(path);
  if (!parsed.ok) return parsed;
  if (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value)) {
    const what = Array.isArray(parsed.value) ? "a JSON list" : `JSON ${typeof parsed.value}`;
    return { ok: false, reason: `expected a JSON object, found ${what}` };
  }
  const checked = check(parsed.value);
  if (!checked.ok) return checked;
  if (checked.value.id !== expectedId) {
    return {
      ok: false,
      reason: `id ${checked.value.id} does not match file name ${basename(path)}`,
    };
  }
  const linked = checked.value as unknown as { card_id?: string };
  if (expectedCardId !== undefined && linked.card_id !== expectedCardId) {
    return { ok: false, reason: `card_id does not match file name ${basename(path)}` };
  }
  return checked;
}

/** Read and check a card file. */
export function readCardFile(path: string, id: string): Checked<Card> {
  return readChecked(path, checkCard, id);
}

/** Read and check a completion file. */
export function readCompletionFile(path: string, id: string, cardId: string): Checked<Completion> {
  return readChecked(path, checkCompletion, id, cardId);
}

/** Read and check a retraction file. */
export function readRetractionFile(path: string, id: string, cardId: string): Checked<Retraction> {
  return readChecked(path, checkRetraction, id, cardId);
}
