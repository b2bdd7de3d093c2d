/**
 * The end-of-run summary: upstream's block byte for byte (tools grep `^val_bpb:` and
 * `^peak_vram_mb:`), the same figures as JSON, and the one-line progress display. Numbers are
 * formatted like Python's f-strings (round half to even on exact ties), so a line reads exactly
 * as upstream would print it.
 */

/** The figures of one finished run (upstream's summary fields). */
export interface RunSummary {
  /** Validation bits per byte; null when the run failed before evaluation. */
  val_bpb: number | null;
  /** Seconds of counted training (warm-up steps excluded). */
  training_seconds: number;
  /** Wall seconds from start to the end of evaluation. */
  total_seconds: number;
  /** Peak backend bytes in use, MiB (upstream: torch.cuda.max_memory_allocated / 1024^2). */
  peak_vram_mb: number;
  /** Model FLOPs utilisation against the platform's peak, percent (0 when unknown). */
  mfu_percent: number;
  /** Tokens trained on, millions. */
  total_tokens_M: number;
  /** Optimizer steps taken. */
  num_steps: number;
  /** Parameters, millions. */
  num_params_M: number;
  /** Transformer blocks. */
  depth: number;
}

/** Python's `f"{x:.{digits}f}"`: fixed point, ties (exact in binary) rounded half to even. */
export function pyFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return x > 0 ? "inf" : x < 0 ? "-inf" : "nan";
  const plain = x.toFixed(digits);
  // An exact tie has the digit 5 right after the kept ones and nothing after it.
  const exact = Math.abs(x).toFixed(Math.min(100, digits + 40));
  const tail = exact.slice(exact.indexOf(".") + 1 + digits);
  if (!/^50*$/.test(tail)) return plain;
  const down = (x < 0 ? "-" : "") + exact.slice(0, exact.length - tail.length).replace(/\.$/, "");
  const lastDigit = Number(down.replace(/\D/g, "").slice(-1));
  return lastDigit % 2 === 0 ? down : plain;
}

/** Upstream's summary block, `---` first, each label padded to 18 columns. */
export function formatSummary(s: RunSummary): string {
  const line = (label: string, value: string) => `${`${label}:`.padEnd(18)}${value}`;
  return [
    "---",
    line("val_bpb", s.val_bpb === null ? "nan" : pyFixed(s.val_bpb, 6)),
    line("training_seconds", pyFixed(s.training_seconds, 1)),
    line("total_seconds", pyFixed(s.total_seconds, 1)),
    line("peak_vram_mb", pyFixed(s.peak_vram_mb, 1)),
    line("mfu_percent", pyFixed(s.mfu_percent, 2)),
    line("total_tokens_M", pyFixed(s.total_tokens_M, 1)),
    line("num_steps", String(s.num_steps)),
    line("num_params_M", pyFixed(s.num_params_M, 1)),
    line("depth", String(s.depth)),
  ].join("\n");
}

/** One step's figures for the progress line. */
export interface Progress {
  /** Optimizer step just finished. */
  step: number;
  /** Its training loss. */
  loss: number;
  /** Tokens per second of that step. */
  tokensPerSecond: number;
  /** MFU percent of that step (null when the peak is unknown). */
  mfuPercent: number | null;
  /** Progress through the budget, 0..1. */
  progress: number;
  /** Budget seconds left (counted time). */
  remainingSeconds: number;
  /** True while in the uncounted warm-up. */
  warmup: boolean;
}

/** The one-line progress display (rewritten in place with `\r` on a terminal). */
export function formatProgress(p: Progress): string {
  const mfu = p.mfuPercent === null ? "n/a" : `${p.mfuPercent.toFixed(1)}%`;
  const left = p.warmup ? "warm-up" : `${Math.max(0, p.remainingSeconds).toFixed(0)}s left`;
  return `step ${String(p.step).padStart(5, "0")} (${(100 * p.progress).toFixed(1)}%) | ` +
    `loss ${p.loss.toFixed(6)} | ${Math.round(p.tokensPerSecond)} tok/s | mfu ${mfu} | ${left}`;
}
