/**
 * The few git operations a workspace needs (init, status, add, commit), run through the real
 * `git` binary. A repository without a configured identity still gets commits: they are made
 * as "autoresearch" instead of failing, so `autoresearch init` works on a fresh machine.
 */

/** What a git invocation left. */
export interface GitResult {
  /** true when git exited 0 */
  ok: boolean;
  /** standard output, trimmed */
  stdout: string;
  /** standard error, trimmed */
  stderr: string;
}

const decoder = new TextDecoder();

/** Run `git args...` in `cwd`; never throws for a non-zero exit (see `ok`). */
export async function git(cwd: string, ...args: string[]): Promise<GitResult> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("git", {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { GIT_TERMINAL_PROMPT: "0" },
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("git is not installed (a workspace is a git repository)");
    }
    throw error;
  }
  return {
    ok: output.success,
    stdout: decoder.decode(output.stdout).trim(),
    stderr: decoder.decode(output.stderr).trim(),
  };
}

/** Run git and throw with its stderr when it fails. */
export async function gitOrThrow(cwd: string, ...args: string[]): Promise<string> {
  const result = await git(cwd, ...args);
  if (!result.ok) {
    throw new Error(`git ${args[0]} failed in ${cwd}: ${result.stderr.split("\n")[0]}`);
  }
  return result.stdout;
}

/** True when `dir` is the top level of its own git repository (not merely inside one). */
export async function isRepositoryRoot(dir: string): Promise<boolean> {
  const result = await git(dir, "rev-parse", "--show-toplevel");
  if (!result.ok) return false;
  return await Deno.realPath(result.stdout).catch(() => result.stdout) ===
    await Deno.realPath(dir);
}

/** True when the repository at `dir` has at least one commit. */
export async function hasCommits(dir: string): Promise<boolean> {
  return (await git(dir, "rev-parse", "--verify", "--quiet", "HEAD")).ok;
}

/** `-c` options that supply an identity when the repository has none configured. */
async function identityArgs(dir: string): Promise<string[]> {
  const name = await git(dir, "config", "user.name");
  const email = await git(dir, "config", "user.email");
  const args: string[] = [];
  if (!name.ok || name.stdout === "") args.push("-c", "user.name=autoresearch");
  if (!email.ok || email.stdout === "") args.push("-c", "user.email=autoresearch@localhost");
  return args;
}

/**
 * Commit `paths` (added first) with `message`; returns the new commit's hash, or null when they
 * hold nothing new (e.g. a deleted file restored as it was committed).
 */
export async function commitPaths(
  dir: string,
  paths: string[],
  message: string,
): Promise<string | null> {
  await gitOrThrow(dir, "add", "--", ...paths);
  if (await hasCommits(dir) && (await git(dir, "diff", "--cached", "--quiet", "--", ...paths)).ok) {
    return null;
  }
  await gitOrThrow(dir, ...await identityArgs(dir), "commit", "-q", "-m", message, "--", ...paths);
  return await gitOrThrow(dir, "rev-parse", "HEAD");
}
