/**
 * The guarded writer: every write into a knowledge base goes through here. A base arrives
 * through git from other people's agents, so it may hold symbolic links planted to redirect
 * writes (`views -> /home/you/.ssh`), or names that climb out of it. A guarded write resolves
 * the target lexically inside the base, refuses when any existing component below the base
 * (the target included) is a symbolic link or not what it must be, and never replaces a record
 * (records are created exclusively). The base directory itself may be a link: the user named it.
 *
 * The check and the write are separate system calls, so a process racing inside the base could
 * still swap a directory for a link in between; the guard stops links that are already there,
 * which is what arrives through git.
 */
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { atomicWrite, atomicWriteSync, createExclusive } from "./atomic.ts";
import { DataError, UsageError } from "./errors.ts";

/** A write refused because its path leaves the base or passes through a symbolic link. */
export class UnsafePathError extends DataError {
  /** A refused write of `path`, and why (exit code 1, like any unusable file on disk). */
  constructor(path: string, reason: string) {
    super(path, reason);
    this.name = "UnsafePathError";
  }
}

/** Whether `path` lies lexically inside `base` (or is `base`). */
export function isInside(base: string, path: string): boolean {
  const rel = relative(resolve(base), resolve(path));
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Check that writing `path` stays inside `base`: lexically inside, and no existing component
 * between the base and `path` (inclusive) is a symbolic link; parents must be directories.
 * `kind` says what the final component must be when it exists. Returns the absolute path.
 * Throws an `UnsafePathError` naming the offending path.
 */
export function checkWritePath(
  base: string,
  path: string,
  kind: "file" | "directory" = "file",
): string {
  // `path` already includes the base (join(base, ...)), relative to the working directory.
  const absBase = resolve(base);
  const absPath = resolve(path);
  if (!isInside(absBase, absPath)) {
    throw new UnsafePathError(absPath, `is outside the base ${absBase}; refusing to write`);
  }
  const parts = relative(absBase, absPath).split(sep).filter((part) => part !== "");
  let current = absBase;
  for (let i = 0; i < parts.length; i++) {
    current = join(current, parts[i]);
    const info = lstatOrNull(current);
    if (info === null) return absPath; // the rest is created as real directories
    if (info.isSymlink) {
      throw new UnsafePathError(
        current,
        "is a symbolic link inside the base; refusing to write through it (remove it)",
      );
    }
    const last = i === parts.length - 1;
    if ((!last || kind === "directory") && !info.isDirectory) {
      throw new UnsafePathError(current, "is not a directory; refusing to write below it");
    }
    if (last && kind === "file" && !info.isFile) {
      throw new UnsafePathError(current, "is not a regular file; refusing to write over it");
    }
  }
  return absPath;
}

/** Create directory `dir` (and missing parents) inside `base`, never through a link. */
export async function guardedMkdir(base: string, dir: string): Promise<void> {
  checkWritePath(base, dir, "directory");
  await Deno.mkdir(resolve(dir), { recursive: true });
  checkWritePath(base, dir, "directory"); // a link swapped in meanwhile is caught before use
}

/** Synchronous twin of `guardedMkdir`. */
export function guardedMkdirSync(base: string, dir: string): void {
  checkWritePath(base, dir, "directory");
  Deno.mkdirSync(resolve(dir), { recursive: true });
  checkWritePath(base, dir, "directory");
}

/** Atomically write (replace) a derived file inside `base`; see `checkWritePath`. */
export async function guardedWrite(
  base: string,
  path: string,
  data: string | Uint8Array,
): Promise<void> {
  const target = checkWritePath(base, path);
  await guardedMkdir(base, dirname(target));
  await atomicWrite(target, data);
}

/** Synchronous twin of `guardedWrite`. */
export function guardedWriteSync(base: string, path: string, data: string | Uint8Array): void {
  const target = checkWritePath(base, path);
  guardedMkdirSync(base, dirname(target));
  atomicWriteSync(target, data);
}

/**
 * Create a record file inside `base` only if no file of that name exists (never replaces one);
 * false when it exists. See `checkWritePath` and `createExclusive`.
 */
export async function guardedCreateExclusive(
  base: string,
  path: string,
  data: string | Uint8Array,
): Promise<boolean> {
  const target = resolve(path);
  const existing = lstatOrNull(target);
  if (existing !== null && existing.isFile) {
    checkWritePath(base, dirname(target), "directory");
    return false;
  }
  checkWritePath(base, target);
  await guardedMkdir(base, dirname(target));
  return await createExclusive(target, data);
}

/** Default cap of `readTextLimited`: 1 MiB. */
export const TEXT_FILE_LIMIT = 1 << 20;

/**
 * Read a user-named text file (a `--*-file` option) with a size limit, so `/dev/zero` or a huge
 * file fails at once with a UsageError instead of filling memory; the file must be UTF-8.
 */
export async function readTextLimited(
  field: string,
  path: string,
  maxBytes = TEXT_FILE_LIMIT,
): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw new UsageError(field, `cannot read ${JSON.stringify(path)}: ${(error as Error).name}`);
  }
  try {
    const info = await file.stat();
    if (info.isDirectory) throw new UsageError(field, `${JSON.stringify(path)} is a directory`);
    return await readUtf8Limited(field, JSON.stringify(path), chunksOf(file), maxBytes, {
      notUtf8: "is not valid UTF-8 text",
    });
  } finally {
    file.close();
  }
}

/** The bytes of an open file, 64 KiB at a time. */
async function* chunksOf(file: Deno.FsFile): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) return;
    yield buffer.slice(0, n);
  }
}

/**
 * Read a stream of bytes (a file, stdin) as UTF-8 text, stopping with a UsageError
 * (`<field>: <what> is larger than <maxBytes> bytes`) as soon as it passes `maxBytes`, so an
 * endless input never fills memory; bytes that are not UTF-8 are a UsageError too.
 */
export async function readUtf8Limited(
  field: string,
  what: string,
  chunks: AsyncIterable<Uint8Array>,
  maxBytes: number,
  rules: { notUtf8: string } = { notUtf8: "is not valid UTF-8" },
): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.length;
    if (total > maxBytes) throw new UsageError(field, `${what} is larger than ${maxBytes} bytes`);
    parts.push(chunk);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(field, `${what} ${rules.notUtf8}`);
  }
}
