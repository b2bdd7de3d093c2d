/**
 * Errors that reach the user. A `UsageError` is bad input: one line naming the field and the
 * rule, exit code 2, nothing written. A `DataError` is a corrupt or missing file on disk: it
 * names the path and the reason, exit code 1.
 */

/** Bad input from the user: names the field and the rule it broke. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(readonly field: string, readonly rule: string) {
    super(`${field}: ${rule}`);
    this.name = "UsageError";
  }
}

/** A file on disk that cannot be used: names the path and why. Exit code 1. */
export class DataError extends Error {
  readonly exitCode = 1;
  constructor(readonly path: string, readonly reason: string) {
    super(`${path}: ${reason}`);
    this.name = "DataError";
  }
}

/** The exit code an error should end the process with. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof DataError) return error.exitCode;
  return 1;
}
