/**
 * Shared helpers of the workspace tests: the real CLI run as a child process in a given working
 * directory (as an agent's shell runs it inside a workspace), git in a directory, and a scratch
 * directory with a prepared embedded corpus of its own (never the user's cache).
 */
import { join } from "node:path";
import { MAIN } from "../cli_helpers.ts";

/** What a process left. */
export interface Ran {
  /** exit code */
  code: number;
  /** standard output */
  stdout: string;
  /** standard error */
  stderr: string;
}

const decoder = new TextDecoder();

/** Run `autoresearch <args>` from `main.ts` in `cwd`, with `env` on top of this process's. */
export async function cli(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Ran> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", AUTORESEARCH_AGENT: "tester", ...env },
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Run `git <args>` in `cwd`; throws with stderr when it fails. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", {
    args: ["-c", "user.name=tester", "-c", "user.email=tester@localhost", ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`git ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout).trim();
}

/** A scratch directory with `cache/` holding the prepared embedded corpus. */
export async function scratchWithData(): Promise<{ root: string; cache: string }> {
  const root = await Deno.makeTempDir({ prefix: "ar-ws-" });
  const cache = join(root, "cache");
  const prepared = await cli(root, ["prepare", "--embedded", "--cache", cache]);
  if (prepared.code !== 0) throw new Error(`prepare failed: ${prepared.stderr}`);
  return { root, cache };
}

/** Card files of a knowledge base (names), sorted. */
export function cardFiles(kb: string): string[] {
  try {
    return [...Deno.readDirSync(join(kb, "cards"))].map((entry) => entry.name).sort();
  } catch {
    return [];
  }
}
