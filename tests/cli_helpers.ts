/**
 * The real `autoresearch` CLI (main.ts) run as a child process, as an agent's shell runs it:
 * shared by every test that checks a command end to end (exit code, stdout, stderr).
 */

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

/** Run `autoresearch <args>` as a real process and collect its output. */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
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
