/**
 * Where prepared data lives: `~/.cache/autoresearch/{data,tokenizer}` like upstream, or the
 * directory given by `--cache` / `AUTORESEARCH_CACHE`. One place computes every path so the
 * preparer and the trainer always agree.
 */
import { join } from "node:path";
import { userCacheDir } from "../util/cache_dir.ts";

/** The cache layout of one cache root. */
export interface CachePaths {
  /** The cache root. */
  root: string;
  /** Downloaded parquet shards and their sha256 manifest. */
  data: string;
  /** Trained tokenizers, one folder per prepared dataset. */
  tokenizer: string;
  /** Tokenized train/val splits, one folder per prepared dataset. */
  tokens: string;
  /** Names the dataset the last successful `prepare` produced. */
  current: string;
  /** Held while preparing, so two processes never prepare into the same cache at once. */
  lock: string;
}

/** The default cache root: `$AUTORESEARCH_CACHE`, else `~/.cache/autoresearch`. */
export function defaultCacheRoot(): string {
  return Deno.env.get("AUTORESEARCH_CACHE") || userCacheDir();
}

/** All paths under the cache root `root` (default: `defaultCacheRoot()`). */
export function cachePaths(root: string = defaultCacheRoot()): CachePaths {
  return {
    root,
    data: join(root, "data"),
    tokenizer: join(root, "tokenizer"),
    tokens: join(root, "tokens"),
    current: join(root, "current.json"),
    lock: join(root, ".prepare.lock"),
  };
}
