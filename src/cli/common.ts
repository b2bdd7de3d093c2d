/**
 * What every command shares: the `--kb` and `--json` options, one error path that turns a
 * thrown error into a one-line message and the right exit code (2 for bad input), strict
 * number parsing, and the terminal guard: everything printed goes through the one escaping rule
 * of src/util/text.ts, so text from a hostile base (file names included) cannot drive the
 * terminal, and JSON output stays exact JSON with those characters as `\uXXXX` escapes.
 */
import { Option } from "@commander-js/extra-typings";
import { exitCodeOf, UsageError } from "../util/errors.ts";
import { oneLine, terminalText } from "../util/text.ts";

/** The default knowledge base directory: `$AUTORESEARCH_KB`, else `./knowledge`. */
export function defaultKb(): string {
  return Deno.env.get("AUTORESEARCH_KB") || "knowledge";
}

/** `--kb DIR`, shared by every command that touches the knowledge base (never empty). */
export function kbOption() {
  return new Option("--kb <dir>", "knowledge base directory (env AUTORESEARCH_KB)")
    .default(defaultKb(), "./knowledge")
    .argParser((raw: string) => {
      if (raw.trim() === "") throw new UsageError("--kb", "must not be empty");
      return raw;
    });
}

/**
 * Check the `--kb` directory before a command uses it. A reader (`mustExist`) fails with exit 2
 * naming the path when the base does not exist (a mistyped `--kb` must not read as an empty
 * base, nor create one); every command fails when the path exists but is not a directory.
 */
export function checkBase(kb: string, mustExist: boolean): string {
  if (kb.trim() === "") throw new UsageError("--kb", "must not be empty");
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(kb);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new UsageError("--kb", `cannot open ${JSON.stringify(kb)}: ${(error as Error).name}`);
    }
    if (mustExist) {
      throw new UsageError(
        "--kb",
        `no knowledge base at ${JSON.stringify(kb)} (the directory does not exist)`,
      );
    }
    return kb;
  }
  if (!info.isDirectory) {
    throw new UsageError("--kb", `${JSON.stringify(kb)} is not a directory`);
  }
  return kb;
}

/** `--json`, for every command that prints data. */
export function jsonOption() {
  return new Option("--json", "print machine-readable JSON instead of text");
}

// What JSON.stringify leaves raw but a terminal would act on: C1 controls, DEL, bidi controls,
// zero-width characters, line/paragraph separators. Written as `\uXXXX` (the same JSON value).
const JSON_UNSAFE =
  /[\u007f-\u009f\u00ad\u034f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** JSON text with every character a terminal would act on written as a `\uXXXX` escape. */
export function terminalSafeJson(json: string): string {
  return json.replace(JSON_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Print `value` as pretty JSON on stdout (terminal-safe, still exact JSON). */
export function printJson(value: unknown): void {
  console.log(terminalSafeJson(JSON.stringify(value, null, 2)));
}

let guarded = false;

/**
 * Route every `console` line of this process through the terminal escaping rule (line breaks
 * kept): the last line of defence behind the printers' own `oneLine` calls.
 */
export function installTerminalGuard(): void {
  if (guarded) return;
  guarded = true;
  for (const name of ["log", "info", "warn", "error", "debug"] as const) {
    const original = console[name].bind(console);
    console[name] = (...args: unknown[]) =>
      original(...args.map((arg) => typeof arg === "string" ? terminalText(arg) : arg));
  }
}

/** Print a one-line error and exit: 2 for bad input, 1 for anything else. */
export function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`error: ${oneLine(message.split("\n")[0])}`);
  if (Deno.env.get("AUTORESEARCH_DEBUG") && error instanceof Error) console.error(error.stack);
  Deno.exit(exitCodeOf(error));
}

/** Wrap a command action so any thrown error ends as `fail` does. */
export function action<A extends unknown[]>(
  body: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (error) {
      fail(error);
    }
  };
}

/** Parse a finite number from a CLI string, or throw a UsageError naming the field. */
export function parseNumber(field: string, raw: string): number {
  // Decimal notation only: Number() would also take `0x10` (16), `0b1`, `1_0`-free forms.
  const value = Number(raw);
  if (!DECIMAL.test(raw) || !Number.isFinite(value)) {
    throw new UsageError(
      field,
      `must be a finite number in decimal notation, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
