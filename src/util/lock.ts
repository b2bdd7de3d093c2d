/**
 * An exclusive advisory lock between processes on one machine (`Deno.FsFile.lock`, flock on
 * Unix). Hold it only around read-modify-write sections; the OS drops it if the holder dies,
 * so a killed process never leaves the base locked.
 */
import { dirname } from "node:path";

/** Run `body` while holding an exclusive lock on `lockPath` (created if missing). */
export async function withLock<T>(lockPath: string, body: () => Promise<T> | T): Promise<T> {
  await Deno.mkdir(dirname(lockPath), { recursive: true });
  using file = await Deno.open(lockPath, { read: true, write: true, create: true });
  await file.lock(true);
  try {
    return await body();
  } finally {
    await file.unlock();
  }
}
