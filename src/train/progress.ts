/**
 * Training progress on stderr. On a terminal: one progress bar (cli-progress) through the
 * budget with the step, loss, tokens/s, MFU and the counted time left, redrawn in place. Anywhere
 * else (agents read logs): the plain per-step line of `formatProgress`, one line per step, as
 * before. `NO_COLOR` (any non-empty value) leaves the bar without colour.
 */
// @ts-types="@types/cli-progress"
import cliProgress from "cli-progress";
import process from "node:process";
import { formatProgress, type Progress } from "./summary.ts";

/** Where progress goes during a run. */
export interface ProgressDisplay {
  /** Show one step's figures. */
  update(p: Progress): void;
  /** Finish the display (ends the bar's line; idempotent). */
  stop(): void;
}

/** Options of `progressDisplay`. */
export interface ProgressDisplayOptions {
  /** Counted training seconds of the run (the bar's full length). */
  budgetSeconds: number;
  /** Draw the bar (default: stderr is a terminal). */
  terminal?: boolean;
  /** Colour the bar (default: NO_COLOR unset or empty). */
  color?: boolean;
  /** Where plain lines go when there is no bar (default: console.error). */
  line?: (text: string) => void;
}

/** Plain per-step lines through `line` (the display for logs and for callers' own sinks). */
export function progressLines(line: (text: string) => void): ProgressDisplay {
  return { update: (p) => line(formatProgress(p)), stop: () => {} };
}

function colorWanted(): boolean {
  return (Deno.env.get("NO_COLOR") ?? "") === "";
}

function seconds(value: number): string {
  const s = Math.max(0, Math.round(value));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** The progress display for a run: a bar on a terminal, plain lines elsewhere. */
export function progressDisplay(options: ProgressDisplayOptions): ProgressDisplay {
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  if (!terminal) return progressLines(options.line ?? ((text) => console.error(text)));
  const color = options.color ?? colorWanted();
  const budget = Math.max(options.budgetSeconds, 1e-9);
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${color ? "\x1b[32m{bar}\x1b[0m" : "{bar}"} {percentage}% | step {step} | ` +
      "loss {loss} | {tps} tok/s | mfu {mfu} | {left}",
    barCompleteChar: color ? "\u2588" : "#",
    barIncompleteChar: color ? "\u2591" : "-",
    barsize: 30,
    hideCursor: false,
    clearOnComplete: false,
    stopOnComplete: false,
    fps: 10,
    // The bar is only ever drawn on a terminal (checked above); never fall back to its own
    // no-TTY mode, which would print nothing useful for a log.
    noTTYOutput: false,
  });
  let started = false;
  let stopped = false;
  return {
    update(p) {
      if (stopped) return;
      const payload = {
        step: String(p.step),
        loss: p.loss.toFixed(4),
        tps: String(Math.round(p.tokensPerSecond)),
        mfu: p.mfuPercent === null ? "n/a" : `${p.mfuPercent.toFixed(1)}%`,
        left: p.warmup ? "warm-up" : `ETA ${seconds(p.remainingSeconds)} of budget`,
      };
      const value = Math.min(budget, p.progress * budget);
      if (!started) {
        bar.start(budget, value, payload);
        started = true;
      } else bar.update(value, payload);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (started) bar.stop();
    },
  };
}
