/**
 * Shared pieces of the adversarial suite: hostile text, a scratch base with valid cards written
 * through the knowledge layer, the real CLI as a child process, and a listing of everything
 * under a directory (to assert that nothing was written).
 */
import { join, relative } from "node:path";
import { openKnowledgeBase } from "../../src/knowledge/store.ts";
import type { CardInput } from "../../src/knowledge/mod.ts";
import { type CliResult, runCli } from "../cli_helpers.ts";
import { sampleInput } from "../knowledge/helpers.ts";

export type { CliResult };

/** Text that would drive a terminal or a Markdown viewer if printed raw. */
export const HOSTILE_TEXT =
  "ok\x1b]0;pwned\x07\x1b[2J\u202eevil\u202c zero\u200bwidth\u2066iso\u2069 <script>alert(1)</script> <!-- hidden -->\nsecond line";

/** True when `text` carries a raw control byte, bidi override or zero-width character. */
export function hasRawHostileBytes(text: string): boolean {
  // Newlines and tabs are fine in output; everything else invisible is not.
  // deno-lint-ignore no-control-regex
  return /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060\ufeff]/
    .test(text);
}

/** A fresh temp directory holding nothing; `kb` is where the base goes (not yet created). */
export async function scratch(): Promise<{ root: string; kb: string }> {
  const root = await Deno.makeTempDir({ prefix: "adversarial-" });
  return { root, kb: join(root, "kb") };
}

/** A valid card input (the knowledge tests' sample with a nested config); override any field. */
export function cardInput(overrides: Partial<CardInput> = {}): CardInput {
  return sampleInput({ config: { model: { depth: 4 } }, ...overrides });
}

/** Write cards into the base at `kb` through the knowledge layer; returns their ids. */
export async function writeCards(kb: string, inputs: Partial<CardInput>[]): Promise<string[]> {
  const base = openKnowledgeBase(kb);
  const ids: string[] = [];
  try {
    for (const input of inputs) ids.push((await base.writeCard(cardInput(input))).id);
  } finally {
    base.close();
  }
  return ids;
}

/** Run `autoresearch <args>` as a real process (agent "tester"). */
export function cli(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<CliResult> {
  return runCli(args, {
    env: { AUTORESEARCH_AGENT: "tester", XDG_RUNTIME_DIR: "/tmp", ...env },
    stdin,
  });
}

/** Every path under `dir`, relative, sorted (links listed, not followed). */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(current: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(current));
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      out.push(relative(dir, path));
      if (entry.isDirectory) await walk(path);
    }
  }
  await walk(dir);
  return out.sort();
}

/** Assert the shape every refusal has: one `error:` line on stderr, the exit code, no stdout. */
export function assertRefused(result: CliResult, code: number, pattern: RegExp): void {
  const lines = result.stderr.trim().split("\n");
  const errorLines = lines.filter((line) => line.startsWith("error: "));
  if (result.code !== code || errorLines.length !== 1 || !pattern.test(errorLines[0])) {
    throw new Error(
      `expected exit ${code} and one error line matching ${pattern}, got exit ${result.code}\n` +
        `stderr: ${result.stderr}\nstdout: ${result.stdout}`,
    );
  }
}
