/**
 * What git says about the code a run trains: the commit of HEAD, whether the workspace has
 * uncommitted changes (`dirty`), and the uncommitted diff of the recipe, so a card never claims
 * a commit whose recipe is not the one that ran (a run from an edited tree is recorded as HEAD,
 * flagged dirty, with the edit stored). Untracked files other than the recipe do not count: a
 * workspace holds notes, logs and its knowledge base beside the recipe.
 */
import { basename, dirname, resolve } from "node:path";

/** The git state of a run's recipe. */
export interface GitState {
  /** HEAD's commit, when the directory is a git checkout with a commit. */
  commit?: string;
  /** True when tracked files differ from HEAD or the recipe file is not committed. */
  dirty: boolean;
  /** The recipe's uncommitted diff (or, for the embedded default, the tree's), when dirty. */
  diff?: string;
}

async function git(
  dir: string,
  args: string[],
): Promise<{ ok: boolean; code: number; out: string }> {
  try {
    const out = await new Deno.Command("git", {
      args: ["-C", dir, ...args],
      stdout: "piped",
      stderr: "null",
      env: { GIT_OPTIONAL_LOCKS: "0" },
    }).output();
    return { ok: out.success, code: out.code, out: new TextDecoder().decode(out.stdout) };
  } catch {
    return { ok: false, code: -1, out: "" };
  }
}

/**
 * The git state of the recipe at `recipePath` (its directory's repository), or of the working
 * directory for the embedded default recipe (null).
 */
export async function gitState(
  recipePath: string | null,
  cwd: string = Deno.cwd(),
): Promise<GitState> {
  const dir = recipePath ? dirname(resolve(cwd, recipePath)) : cwd;
  const head = await git(dir, ["rev-parse", "HEAD"]);
  const commit = head.out.trim();
  if (!head.ok || !/^[0-9a-f]{40}$/.test(commit)) return { dirty: false };
  const status = await git(dir, ["status", "--porcelain", "--untracked-files=no"]);
  let dirty = status.ok && status.out.trim() !== "";
  let diff = "";
  if (recipePath) {
    const file = basename(recipePath);
    const tracked = await git(dir, ["ls-files", "--error-unmatch", "--", file]);
    if (!tracked.ok) {
      // Not committed at all: the whole file is the change.
      dirty = true;
      diff = (await git(dir, ["diff", "--no-index", "--", "/dev/null", file])).out;
    } else {
      diff = (await git(dir, ["diff", "HEAD", "--", file])).out;
      if (diff !== "") dirty = true;
    }
  } else if (dirty) {
    diff = (await git(dir, ["diff", "HEAD"])).out;
  }
  return { commit, dirty, ...(dirty && diff !== "" ? { diff } : {}) };
}
