/**
 * The few git questions `record` and `import` ask about the trainer's repository (HEAD, its
 * message, a file's diff against the parent commit, a file at a commit), each answered by a
 * real `git` process. A directory that is not a repository, or a commit git does not know,
 * is an answer (null), not an error: the caller falls back to what the user gave.
 */

const decoder = new TextDecoder();

/** Output of one git command run in `cwd`; null when git fails (or is not installed). */
export async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
    }).output();
    return out.success ? decoder.decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** The top directory of the work tree holding `cwd`, or null outside a repository. */
export async function repoRoot(cwd: string): Promise<string | null> {
  const out = await git(cwd, ["rev-parse", "--show-toplevel"]);
  return out === null ? null : out.trim();
}

/** The full hash of HEAD, or null (no repository, or no commit yet). */
export async function headCommit(cwd: string): Promise<string | null> {
  const out = await git(cwd, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
  return out === null ? null : out.trim() || null;
}

/** The full hash of `commit`'s first parent, or null (root commit, unknown commit). */
export async function parentCommit(cwd: string, commit: string): Promise<string | null> {
  const out = await git(cwd, ["rev-parse", "--verify", "--quiet", `${commit}^1^{commit}`]);
  return out === null ? null : out.trim() || null;
}

/** The full message of `commit`, trimmed; null when unknown. */
export async function commitMessage(cwd: string, commit: string): Promise<string | null> {
  const out = await git(cwd, ["log", "-1", "--format=%B", commit, "--"]);
  return out === null ? null : out.trim();
}

/** The current branch name, or null (detached HEAD, no repository). */
export async function currentBranch(cwd: string): Promise<string | null> {
  const out = await git(cwd, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  return out === null ? null : out.trim() || null;
}

/**
 * Diff of `file` (a path in the work tree) from `base` to the work tree as it is now: what ran,
 * against the commit it was built on. Empty when unchanged; null when git cannot tell.
 */
export async function diffAgainst(cwd: string, base: string, file: string): Promise<string | null> {
  return await git(cwd, ["diff", "--no-color", "--no-ext-diff", base, "--", file]);
}

/** True when `file` differs from HEAD in the work tree or the index (uncommitted edits). */
export async function isDirty(cwd: string, file: string): Promise<boolean> {
  const out = await git(cwd, ["status", "--porcelain", "--", file]);
  return out !== null && out.trim() !== "";
}

/**
 * The contents of `path` (relative to the repository root) at each of `commits`, in one
 * `git cat-file --batch` process. A commit git does not know (a discarded experiment whose
 * objects were pruned) or a commit without the file maps to null.
 */
export async function filesAtCommits(
  cwd: string,
  commits: string[],
  path: string,
): Promise<Map<string, Uint8Array | null>> {
  const result = new Map<string, Uint8Array | null>();
  if (commits.length === 0) return result;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("git", {
      args: ["cat-file", "--batch"],
      cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
    }).spawn();
  } catch {
    for (const commit of commits) result.set(commit, null);
    return result;
  }
  const request = commits.map((commit) => `${commit}:${path}\n`).join("");
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(request));
  await writer.close();
  const out = await child.output();
  const bytes = out.stdout;
  let at = 0;
  for (const commit of commits) {
    const newline = bytes.indexOf(10, at);
    if (newline < 0) {
      result.set(commit, null);
      continue;
    }
    const header = decoder.decode(bytes.subarray(at, newline));
    at = newline + 1;
    const match = header.match(/^[0-9a-f]+ (\w+) (\d+)$/);
    if (!match) {
      result.set(commit, null); // "<name> missing" or "ambiguous"
      continue;
    }
    const size = Number(match[2]);
    result.set(commit, match[1] === "blob" ? bytes.slice(at, at + size) : null);
    at += size + 1; // the object, then a newline
  }
  return result;
}
