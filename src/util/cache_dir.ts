/**
 * Where autoresearch keeps per-user caches (prepared data, the platform and sgemm measurements):
 * one rule for every layer, so they all land in the same directory.
 */
import { join } from "node:path";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no env permission: the defaults below
  }
}

/** `$XDG_CACHE_HOME/autoresearch`, else `~/.cache/autoresearch` (`%USERPROFILE%` on Windows). */
export function userCacheDir(): string {
  const base = env("XDG_CACHE_HOME") || join(env("HOME") || env("USERPROFILE") || ".", ".cache");
  return join(base, "autoresearch");
}
