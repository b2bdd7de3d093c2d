/**
 * What makes a directory a knowledge base: the directory itself and its `.gitignore`, which keeps
 * the derived files (index, views, locks, temp files) out of git. Every code path that creates a
 * base or a derived file in it goes through `ensureBase`, so a base first touched by `read-brief`,
 * `director add` or `update-meta` never commits its index and `git pull --rebase` never conflicts
 * on derived files. `views` carries no trailing slash, so a `views` planted as a link (which git
 * does not see as a directory) is ignored too.
 */
import { join } from "node:path";
import { guardedCreateExclusive } from "../util/guarded.ts";

/** The `.gitignore` a new base gets: derived views and local locks stay local. */
export const BASE_GITIGNORE =
  `# derived files of this knowledge base are rebuilt locally: never commit them
index.sqlite*
views
.lock
.tmp-*
queue/.lock
`;

// Bases this process has already set up (a base directory is never removed under us).
const readyBases = new Set<string>();

/**
 * Create the base directory `dir` when missing and give it its `.gitignore` when it has none.
 * An existing `.gitignore` is left as it is (it may carry the owner's own lines).
 */
export async function ensureBase(dir: string): Promise<void> {
  if (readyBases.has(dir)) return;
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, ".gitignore");
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await guardedCreateExclusive(dir, path, BASE_GITIGNORE);
  }
  readyBases.add(dir);
}
