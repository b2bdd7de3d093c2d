/**
 * An exclusive advisory lock between processes on one machine (`Deno.FsFile.lock`, flock on
 * Unix). Hold it only around read-modify-write sections; the OS drops it if the holder dies,
 * so a killed process never leaves the base locked. A holder that hangs (stopped, not dead)
 * is another matter: the wait is bounded. The holder writes who it is (pid, host, agent, since)
 * into the lock file, a waiter says after a moment whom it waits for, and gives up with an
 * error naming the lock and its holder when the wait runs out. A lock file that is a symbolic
 * link is refused (a base is hostile input).
 */
import { dirname } from "node:path";
import { checkWritePath, UnsafePathError } from "./guarded.ts";
import { DataError } from "./errors.ts";

/** Default bound of a lock wait, seconds (`$AUTORESEARCH_LOCK_TIMEOUT_S` overrides it). */
export const DEFAULT_LOCK_TIMEOUT_S = 60;

/** How long a waiter stays quiet before saying whom it waits for, milliseconds. */
const QUIET_MS = 2000;

/** Who holds a lock, as written into the lock file by the holder. */
export interface LockHolder {
  /** process id */
  pid: number;
  /** host name */
  host: string;
  /** agent name, when known */
  agent: string | null;
  /** when it took the lock, ISO 8601 */
  since: string;
}

/** Options of `withLock`. */
export interface LockOptions {
  /** give up after this many seconds (default `$AUTORESEARCH_LOCK_TIMEOUT_S`, else 60) */
  timeoutS?: number;
  /** the base directory the lock lives in: its path is checked like a guarded write */
  base?: string;
  /** agent name recorded as the holder (default `$AUTORESEARCH_AGENT`) */
  agent?: string;
  /** where waiting messages go (default stderr); null for none */
  onWait?: ((message: string) => void) | null;
}

/** The bound of a lock wait in seconds: `$AUTORESEARCH_LOCK_TIMEOUT_S`, else the default. */
export function lockTimeoutSeconds(): number {
  return envTimeout();
}

function envTimeout(): number {
  const raw = Deno.env.get("AUTORESEARCH_LOCK_TIMEOUT_S");
  const value = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_LOCK_TIMEOUT_S;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** The holder recorded in a lock file, or null when it says nothing usable. */
export function readLockHolder(lockPath: string): LockHolder | null {
  try {
    const bytes = Deno.readFileSync(lockPath);
    if (bytes.length === 0 || bytes.length > 4096) return null;
    const value = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof value?.pid !== "number") return null;
    return {
      pid: value.pid,
      host: String(value.host ?? "unknown"),
      agent: typeof value.agent === "string" ? value.agent : null,
      since: String(value.since ?? "unknown"),
    };
  } catch {
    return null;
  }
}

/** One line describing a holder (its fields escaped: the lock file may be hostile). */
export function describeHolder(holder: LockHolder | null): string {
  if (holder === null) return "an unknown process";
  const clean = (text: string) => text.replace(/[^\x20-\x7e]/g, "?").slice(0, 80);
  const agent = holder.agent === null ? "" : `, agent ${clean(holder.agent)}`;
  return `pid ${holder.pid} on ${clean(holder.host)}${agent}, since ${clean(holder.since)}`;
}

function checkLockPath(lockPath: string, base: string | undefined): void {
  if (base !== undefined) {
    checkWritePath(base, lockPath);
    return;
  }
  try {
    if (Deno.lstatSync(lockPath).isSymlink) {
      throw new UnsafePathError(lockPath, "is a symbolic link; refusing to use it as a lock");
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Run `body` while holding an exclusive lock on `lockPath` (created if missing). Waits at most
 * `options.timeoutS` seconds, then throws a DataError naming the lock and its holder.
 */
export async function withLock<T>(
  lockPath: string,
  body: () => Promise<T> | T,
  options: LockOptions = {},
): Promise<T> {
  checkLockPath(lockPath, options.base);
  await Deno.mkdir(dirname(lockPath), { recursive: true });
  checkLockPath(lockPath, options.base);
  using file = await Deno.open(lockPath, { read: true, write: true, create: true });
  const timeoutMs = (options.timeoutS ?? envTimeout()) * 1000;
  const onWait = options.onWait === undefined
    ? (message: string) => console.error(message)
    : options.onWait;
  const start = Date.now();
  let delay = 2;
  let told = false;
  while (!await file.tryLock(true)) {
    const waited = Date.now() - start;
    if (waited >= timeoutMs) {
      const holder = describeHolder(readLockHolder(lockPath));
      throw new DataError(
        lockPath,
        `lock still held by ${holder} after ${Math.round(waited / 1000)} s; ` +
          "if that process is stopped or hung, resume or end it (the lock frees itself when it exits)",
      );
    }
    if (!told && waited >= Math.min(QUIET_MS, timeoutMs / 2) && onWait !== null) {
      told = true;
      onWait(
        `waiting for lock ${lockPath} held by ${describeHolder(readLockHolder(lockPath))} ` +
          `(gives up after ${Math.round(timeoutMs / 1000)} s)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 50);
  }
  try {
    const holder: LockHolder = {
      pid: Deno.pid,
      host: hostName(),
      agent: options.agent ?? Deno.env.get("AUTORESEARCH_AGENT") ?? null,
      since: new Date().toISOString(),
    };
    try {
      await file.truncate(0);
      await file.seek(0, Deno.SeekMode.Start);
      await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
    } catch { /* who holds it is a courtesy; the lock itself is what counts */ }
    return await body();
  } finally {
    await file.unlock();
  }
}
