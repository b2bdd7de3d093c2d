/**
 * What every command shares: the `--kb` and `--json` options, and one error path that turns a
 * thrown error into a one-line message and the right exit code (2 for bad input).
 */
import { Option } from "@commander-js/extra-typings";
import { exitCodeOf, UsageError } from "../util/errors.ts";

/** The default knowledge base directory: `$AUTORESEARCH_KB`, else `./knowledge`. */
export function defaultKb(): string {
  return Deno.env.get("AUTORESEARCH_KB") || "knowledge";
}

/** `--kb DIR`, shared by every command that touches the knowledge base. */
export function kbOption() {
  return new Option("--kb <dir>", "knowledge base directory (env AUTORESEARCH_KB)").default(
    defaultKb(),
    "./knowledge",
  );
}

/** `--json`, for every command that prints data. */
export function jsonOption() {
  return new Option("--json", "print machine-readable JSON instead of text");
}

/** Print `value` as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Print a one-line error and exit: 2 for bad input, 1 for anything else. */
export function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`error: ${message.split("\n")[0]}`);
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
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(field, `must be a finite number, got ${JSON.stringify(raw)}`);
  }
  return value;
}
