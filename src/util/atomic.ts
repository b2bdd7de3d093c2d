/**
 * Crash-safe file writes. A reader sees either the old file or the whole new one, never a
 * partial write: data goes to a temp file in the same directory, is fsynced, then renamed.
 * `createExclusive` is the primitive for records two processes must never both create.
 */
import { dirname, join } from "node:path";

const encoder = new TextEncoder();

function tempPathFor(path: string): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return join(dirname(path), `.tmp-${Deno.pid}-${random[0].toString(36)}${random[1].toString(36)}`);
}

/**
 * Write `data` to a fresh temp file beside `path` (parent dirs created), fsynced, and return
 * the temp file's path. The caller renames or links it into place.
 */
async function writeTempBeside(path: string, data: string | Uint8Array): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const temp = tempPathFor(path);
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  try {
    using file = await Deno.open(temp, { write: true, createNew: true });
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
    return temp;
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/** Write `data` to `path` atomically (temp file + fsync + rename). Creates parent dirs. */
export async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const temp = await writeTempBeside(path, data);
  try {
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/** Synchronous twin of `atomicWrite`, for short CLI paths. */
export function atomicWriteSync(path: string, data: string | Uint8Array): void {
  Deno.mkdirSync(dirname(path), { recursive: true });
  const temp = tempPathFor(path);
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  try {
    using file = Deno.openSync(temp, { write: true, createNew: true });
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    file.syncSync();
    Deno.renameSync(temp, path);
  } catch (error) {
    try {
      Deno.removeSync(temp);
    } catch { /* already gone */ }
    throw error;
  }
}

/**
 * Create `path` with `data` only if it does not exist yet, atomically: the content is written
 * to a temp file first and then hard-linked into place, so the name never points at a partial
 * file and exactly one of several racing creators wins. Returns false when `path` exists.
 */
export async function createExclusive(path: string, data: string | Uint8Array): Promise<boolean> {
  const temp = await writeTempBeside(path, data);
  try {
    await Deno.link(temp, path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}
