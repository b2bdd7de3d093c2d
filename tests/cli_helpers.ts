/**
 * The real `autoresearch` CLI (main.ts) run as a child process, as an agent's shell runs it:
 * shared by every test that checks a command end to end (exit code, stdout, stderr).
 */

import { join } from "node:path";

/** Absolute path of the CLI entry. */
export const MAIN: string = new URL("../main.ts", import.meta.url).pathname;

/** What a CLI run left. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  /** Extra environment (on top of this process's, with NO_COLOR=1). */
  env?: Record<string, string>;
  /** Piped to the child's stdin when given; otherwise stdin is closed. */
  stdin?: string | Uint8Array;
  /** Working directory of the child (default: this process's). */
  cwd?: string;
}

/**
 * Deno keeps its npm and module cache under `$XDG_CACHE_HOME/deno` unless DENO_DIR says
 * otherwise: a test that points XDG_CACHE_HOME at a scratch directory (for autoresearch's own
 * caches) would make the child download every package again. Pin the child to ours.
 */
function keepDenoCache(env: Record<string, string> | undefined): Record<string, string> {
  if (!env?.XDG_CACHE_HOME || env.DENO_DIR) return {};
  const own = Deno.env.get("DENO_DIR") ||
    join(Deno.env.get("XDG_CACHE_HOME") || join(Deno.env.get("HOME") || ".", ".cache"), "deno");
  return { DENO_DIR: own };
}

/** Run `autoresearch <args>` as a real process and collect its output. */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...keepDenoCache(options.env), ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
