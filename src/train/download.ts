/**
 * Shard downloads for `prepare`, as upstream: up to 5 tries with exponential backoff, each into
 * `<name>.tmp` renamed into place only when complete. On top of upstream, every shard's sha256
 * is recorded in `manifest.json` on first download and checked on every reuse; a file that no
 * longer matches is reported and fetched again, and a fresh download that differs from the
 * recorded hash is refused (the source changed or is corrupt).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { atomicWrite } from "../util/atomic.ts";
import { DataError } from "../util/errors.ts";
import { DOWNLOAD_ATTEMPTS, shardName } from "./harness.ts";

/** One shard's record in the manifest. */
export interface ManifestEntry {
  /** Hex sha256 of the file. */
  sha256: string;
  /** Size in bytes. */
  bytes: number;
  /** Where it was downloaded from. */
  url: string;
  /** When it was first recorded (ISO time). */
  recorded_at: string;
}

/** The sha256 manifest of a data folder. */
export interface Manifest {
  /** File name -> record. */
  files: Record<string, ManifestEntry>;
}

/** Options of `ensureShard`. */
export interface DownloadOptions {
  /** Folder with the shards and `manifest.json`. */
  dataDir: string;
  /** Base URL; the shard URL is `${baseUrl}/${shardName(index)}`. */
  baseUrl: string;
  /** Tries per shard (default 5). */
  attempts?: number;
  /** Backoff before retry k (1-based) is `retryDelayMs * 2^(k-1)` (default 1000 ms). */
  retryDelayMs?: number;
  /** Give up on a connection that sends nothing for this long (default 60 s). */
  idleTimeoutMs?: number;
  /** Progress and warnings, one line each. */
  log?: (line: string) => void;
  /** Give up at once when no connection can be made at all (used to detect "offline"). */
  failFastWhenUnreachable?: boolean;
}

/** What `ensureShard` did. */
export interface ShardResult {
  /** Shard file name. */
  name: string;
  /** Full path of the verified file. */
  path: string;
  /** Its sha256. */
  sha256: string;
  /** Its size. */
  bytes: number;
  /** downloaded: new; verified: reused, hash matched; redownloaded: hash mismatch fixed. */
  status: "downloaded" | "verified" | "redownloaded";
}

/** A download that failed for good (after retries, or at once for a 4xx answer). */
/**
 * `url` without credentials (`https://user:secret@host/` -> `https://***@host/`) and without
 * query secrets (`?token=...` values): what may be printed or recorded in a manifest.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username !== "" || parsed.password !== "") {
      parsed.username = "***";
      parsed.password = "";
    }
    for (const key of [...parsed.searchParams.keys()]) parsed.searchParams.set(key, "***");
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^/@\s]*@/, "//***@").replace(/\?.*$/, "?***");
  }
}

export class DownloadError extends Error {
  /** Whether the network itself was unreachable (no HTTP answer at all). */
  readonly unreachable: boolean;
  /** The URL that failed, credentials redacted. */
  readonly url: string;
  /** A failed download of `url`, with the reason. */
  constructor(url: string, readonly reason: string, unreachable = false) {
    super(`download ${redactUrl(url)}: ${reason}`);
    this.url = redactUrl(url);
    this.name = "DownloadError";
    this.unreachable = unreachable;
  }
}

const MANIFEST = "manifest.json";

/** Read the manifest of `dataDir`; missing = empty, corrupt = DataError (never overwritten). */
export async function readManifest(dataDir: string): Promise<Manifest> {
  const path = join(dataDir, MANIFEST);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { files: {} };
    throw new DataError(path, `cannot read: ${(error as Error).message}`);
  }
  try {
    const data = JSON.parse(text);
    if (typeof data !== "object" || data === null || typeof data.files !== "object") {
      throw new Error("no `files` object");
    }
    for (const [name, entry] of Object.entries(data.files as Record<string, ManifestEntry>)) {
      if (typeof entry?.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(entry.sha256)) {
        throw new Error(`${name}: sha256 missing or malformed`);
      }
    }
    return data as Manifest;
  } catch (error) {
    throw new DataError(
      path,
      `corrupt manifest (${(error as Error).message}); fix or remove it to re-record hashes`,
    );
  }
}

async function writeManifest(dataDir: string, manifest: Manifest): Promise<void> {
  await atomicWrite(join(dataDir, MANIFEST), JSON.stringify(manifest, null, 1) + "\n");
}

/** Hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

const PARQUET_MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1", at both ends of a parquet file

/** Whether the file at `path` starts and ends with the parquet magic. */
async function looksLikeParquet(path: string): Promise<boolean> {
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  if (size < 12) return false;
  const head = new Uint8Array(4), tail = new Uint8Array(4);
  await file.read(head);
  await file.seek(size - 4, Deno.SeekMode.Start);
  await file.read(tail);
  return PARQUET_MAGIC.every((byte, i) => head[i] === byte && tail[i] === byte);
}

/** Fetch `url` into `temp` once; resolves with sha256 and size, throws on any failure. */
async function fetchOnce(
  url: string,
  temp: string,
  idleTimeoutMs: number,
): Promise<{ sha256: string; bytes: number }> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), idleTimeoutMs);
  const resetTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), idleTimeoutMs);
  };
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (error) {
      const message = String((error as Error).message).split("\n")[0];
      throw new DownloadError(url, `no connection (${message})`, true);
    }
    if (!response.ok) {
      await response.body?.cancel();
      const permanent = response.status >= 400 && response.status < 500 &&
        response.status !== 408 && response.status !== 429;
      const error = new DownloadError(url, `HTTP ${response.status} ${response.statusText}`);
      (error as { permanent?: boolean }).permanent = permanent;
      throw error;
    }
    const expected = Number(response.headers.get("content-length") ?? NaN);
    const hash = createHash("sha256");
    let bytes = 0;
    {
      using file = await Deno.open(temp, { write: true, create: true, truncate: true });
      for await (const chunk of response.body!) {
        resetTimer();
        hash.update(chunk);
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        bytes += chunk.length;
      }
      await file.sync();
    }
    if (Number.isFinite(expected) && bytes !== expected) {
      throw new DownloadError(url, `connection dropped after ${bytes} of ${expected} bytes`);
    }
    if (!(await looksLikeParquet(temp))) {
      throw new DownloadError(url, "the received file is not parquet (no PAR1 magic)");
    }
    return { sha256: hash.digest("hex"), bytes };
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    const message = String((error as Error).message).split("\n")[0];
    throw new DownloadError(url, `transfer failed (${message})`);
  } finally {
    clearTimeout(timer);
  }
}

/** Download `url` to `path` with retries and backoff; `.tmp` then rename. */
async function download(
  url: string,
  path: string,
  options: DownloadOptions,
): Promise<{ sha256: string; bytes: number }> {
  const { attempts = DOWNLOAD_ATTEMPTS, retryDelayMs = 1000, idleTimeoutMs = 60_000 } = options;
  const log = options.log ?? (() => {});
  const temp = `${path}.tmp`;
  for (let attempt = 1;; attempt++) {
    try {
      const result = await fetchOnce(url, temp, idleTimeoutMs);
      await Deno.rename(temp, path);
      return result;
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      const permanent = (error as { permanent?: boolean }).permanent === true ||
        (options.failFastWhenUnreachable === true && error instanceof DownloadError &&
          error.unreachable);
      if (permanent || attempt >= attempts) {
        if (error instanceof DownloadError && attempt > 1) {
          throw new DownloadError(url, `${error.reason} (${attempt} tries)`, error.unreachable);
        }
        throw error;
      }
      const delay = retryDelayMs * 2 ** (attempt - 1);
      log(
        `  try ${attempt}/${attempts} failed: ${(error as Error).message}; retrying in ${delay} ms`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * Make sure shard `index` is in `dataDir` and matches its recorded sha256: reuse a verified
 * file, re-download a mismatching one (reported through `log`), download a missing one, and
 * record the hash of a new one. The caller holds the cache lock.
 */
export async function ensureShard(index: number, options: DownloadOptions): Promise<ShardResult> {
  const { dataDir, baseUrl } = options;
  const log = options.log ?? (() => {});
  await Deno.mkdir(dataDir, { recursive: true });
  const name = shardName(index);
  const path = join(dataDir, name);
  const url = `${baseUrl.replace(/\/+$/, "")}/${name}`;
  const manifest = await readManifest(dataDir);
  const recorded = manifest.files[name];
  let status: ShardResult["status"] = "downloaded";

  const exists = await Deno.stat(path).then((info) => info.isFile, () => false);
  if (exists) {
    const sha256 = await sha256File(path);
    if (recorded && recorded.sha256 === sha256) {
      return { name, path, sha256, bytes: recorded.bytes, status: "verified" };
    }
    if (recorded) {
      log(
        `${name}: sha256 mismatch (recorded ${recorded.sha256.slice(0, 12)}…, file has ` +
          `${sha256.slice(0, 12)}…): the file is corrupt, downloading it again`,
      );
      await Deno.remove(path);
      status = "redownloaded";
    } else if (await looksLikeParquet(path)) {
      // A shard from before the manifest (e.g. upstream's own prepare): record it as found.
      const bytes = (await Deno.stat(path)).size;
      manifest.files[name] = {
        sha256,
        bytes,
        url: redactUrl(url),
        recorded_at: new Date().toISOString(),
      };
      await writeManifest(dataDir, manifest);
      log(`${name}: found without a recorded hash; recorded sha256 ${sha256.slice(0, 12)}…`);
      return { name, path, sha256, bytes, status: "verified" };
    } else {
      log(`${name}: not a parquet file and no recorded hash; downloading it again`);
      await Deno.remove(path);
      status = "redownloaded";
    }
  }

  const { sha256, bytes } = await download(url, path, options);
  if (recorded && recorded.sha256 !== sha256) {
    await Deno.remove(path).catch(() => {});
    throw new DataError(
      path,
      `downloaded sha256 ${sha256.slice(0, 12)}… differs from the recorded ` +
        `${recorded.sha256.slice(0, 12)}… (source changed or corrupt); not used. Remove its ` +
        `entry from ${join(dataDir, MANIFEST)} to accept the new file`,
    );
  }
  if (!recorded) {
    manifest.files[name] = {
      sha256,
      bytes,
      url: redactUrl(url),
      recorded_at: new Date().toISOString(),
    };
    await writeManifest(dataDir, manifest);
  }
  log(`${name}: ${status} (${(bytes / 1e6).toFixed(1)} MB, sha256 ${sha256.slice(0, 12)}…)`);
  return { name, path, sha256, bytes, status };
}
