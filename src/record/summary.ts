/**
 * Reading a training run's log the way upstream's tools do: the end-of-run summary block that
 * upstream's `train.py` (and its ports) print (`val_bpb:`, `training_seconds:`, ...), or the
 * signs of a crash (a `FAIL` line, a Python traceback, no block at all). Pure text in, a
 * verdict out, so `autoresearch record` works for any trainer that prints the block.
 */
import { decimalNumber } from "./text.ts";

/** The keys of upstream's summary block, in the order it prints them. */
export const SUMMARY_KEYS = [
  "val_bpb",
  "training_seconds",
  "total_seconds",
  "peak_vram_mb",
  "mfu_percent",
  "total_tokens_M",
  "num_steps",
  "num_params_M",
  "depth",
] as const;

/** One key of the summary block. */
export type SummaryKey = typeof SUMMARY_KEYS[number];

/** The numbers of a summary block; val_bpb is always there, the others when printed. */
export type RunSummary = { val_bpb: number } & Partial<Record<SummaryKey, number>>;

/** What a log says about its run. */
export type RunOutcome =
  | {
    kind: "finished";
    /** the parsed block (the last one when the log holds several) */
    summary: RunSummary;
    /** block lines that could not be used (a key with a value that is not a number) */
    warnings: string[];
  }
  | {
    kind: "crash";
    /** why this is a crash, in a few words */
    reason: string;
    /** the last lines of the error (or of the log), for the card's lesson */
    tail: string;
  };

/** How many lines of the error a crash card carries. */
export const CRASH_TAIL_LINES = 20;

/** Characters of error text a crash card carries at most. */
export const CRASH_TAIL_CHARS = 2_000;

const KEY_LINE = /^([A-Za-z_][A-Za-z0-9_]*):\s*(\S.*?)\s*$/;
const TRACEBACK = /^Traceback \(most recent call last\):/;
const KNOWN: ReadonlySet<string> = new Set(SUMMARY_KEYS);

/** Split a log into lines; progress bars redraw with `\r`, so each redraw is its own line. */
function logLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** The last `CRASH_TAIL_LINES` non-blank lines of `lines`, within `CRASH_TAIL_CHARS`. */
function tailOf(lines: string[]): string {
  const kept = lines.filter((line) => line.trim() !== "").slice(-CRASH_TAIL_LINES);
  let text = kept.join("\n");
  if (text.length > CRASH_TAIL_CHARS) text = `...${text.slice(text.length - CRASH_TAIL_CHARS)}`;
  return text;
}

function isFailLine(line: string): boolean {
  const trimmed = line.trim();
  return trimmed === "FAIL" || /^FAIL[:\s]/.test(trimmed);
}

/**
 * Read a run log. A `FAIL` line or a traceback anywhere makes it a crash (upstream prints FAIL
 * and exits on a NaN or exploding loss; a traceback is an uncaught error, unless Python says
 * "Exception ignored in" before it); so does a log without
 * a `val_bpb:` line or with a val_bpb that is not a positive number. Otherwise the last summary
 * block is the result: the lines around the last `val_bpb:` line that look like `key: value`,
 * whatever else the log prints before or after it.
 */
export function parseRunLog(text: string): RunOutcome {
  const lines = logLines(text);
  // "Exception ignored in: ..." (a destructor at interpreter exit) prints a traceback Python
  // itself ignored: the run went on, so it is not a crash.
  const traceback = lines.findIndex((line, i) =>
    TRACEBACK.test(line) && !/^Exception ignored in/.test(lines[i - 1] ?? "")
  );
  if (traceback >= 0) {
    const error = lines.slice(traceback).filter((line) => line.trim() !== "");
    const last = error[error.length - 1]?.trim() ?? "";
    return {
      kind: "crash",
      reason: `traceback${last ? ` (${last.slice(0, 200)})` : ""}`,
      tail: tailOf(lines.slice(traceback)),
    };
  }
  const fail = lines.findLastIndex(isFailLine);
  if (fail >= 0) {
    return { kind: "crash", reason: "the trainer printed FAIL", tail: tailOf(lines) };
  }
  const at = lines.findLastIndex((line) => /^val_bpb:/.test(line));
  if (at < 0) {
    const empty = lines.every((line) => line.trim() === "");
    return {
      kind: "crash",
      reason: empty ? "the log is empty" : "no summary block (no val_bpb: line)",
      tail: empty ? "(empty log)" : tailOf(lines),
    };
  }
  // The block: contiguous `key: value` lines around the val_bpb line.
  let start = at;
  while (start > 0 && KEY_LINE.test(lines[start - 1])) start--;
  let end = at;
  while (end + 1 < lines.length && KEY_LINE.test(lines[end + 1])) end++;
  const values: Partial<Record<SummaryKey, number>> = {};
  const warnings: string[] = [];
  for (const line of lines.slice(start, end + 1)) {
    const [, key, raw] = line.match(KEY_LINE)!;
    if (!KNOWN.has(key)) continue;
    const value = decimalNumber(raw);
    if (value === null) {
      if (key !== "val_bpb") warnings.push(`${key}: ${raw.slice(0, 80)} is not a number, ignored`);
      values[key as SummaryKey] = undefined;
      continue;
    }
    values[key as SummaryKey] = value;
  }
  const valBpb = values.val_bpb;
  if (valBpb === undefined || !(valBpb > 0)) {
    const raw = lines[at].replace(/^val_bpb:\s*/, "").trim().slice(0, 80);
    return {
      kind: "crash",
      reason: `val_bpb is ${raw === "" ? "empty" : raw}, not a positive number`,
      tail: tailOf(lines),
    };
  }
  const summary = { val_bpb: valBpb } as RunSummary;
  for (const key of SUMMARY_KEYS) {
    const value = values[key];
    if (value !== undefined) summary[key] = value;
  }
  return { kind: "finished", summary, warnings };
}
