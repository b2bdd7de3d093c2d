/**
 * The fixed evaluation: part of the harness, never of the recipe. val_bpb is scored on the
 * leading slice of the validation split at a fixed context and row count, whatever the recipe's
 * seqLen and batch (as upstream evaluates at its fixed MAX_SEQ_LEN), so every recipe in a
 * comparability class scores the same tokens the same way. The settings depend only on the
 * machine class (a real GPU, or a small machine) and are recorded on the card (`eval`) and in
 * the harness hash.
 */
import {
  EVAL_ROWS,
  EVAL_SEQ_LEN,
  EVAL_TOKENS,
  SMALL_EVAL_ROWS,
  SMALL_EVAL_SEQ_LEN,
  SMALL_EVAL_TOKENS,
} from "./harness.ts";

/** How val_bpb is scored. */
export interface EvalSettings {
  /** Tokens in the validation slice (rounded down to whole batches, at least one batch). */
  tokens: number;
  /** Context of every scored row, tokens. */
  seqLen: number;
  /** Rows per evaluation batch. */
  rows: number;
}

/**
 * The evaluation of a machine class: upstream's on a real GPU (40 x 2^19 tokens at 2048), the
 * small one elsewhere (32,768 tokens at 256), never more tokens than `valTokens` (the val split
 * would wrap). `tokens` overrides the slice length (`--eval-tokens`).
 */
export function evalSettings(gpu: boolean, valTokens: number, tokens?: number): EvalSettings {
  const seqLen = gpu ? EVAL_SEQ_LEN : SMALL_EVAL_SEQ_LEN;
  const rows = gpu ? EVAL_ROWS : SMALL_EVAL_ROWS;
  const wanted = Math.min(tokens ?? (gpu ? EVAL_TOKENS : SMALL_EVAL_TOKENS), valTokens);
  const batches = Math.max(1, Math.floor(wanted / (rows * seqLen)));
  return { tokens: batches * rows * seqLen, seqLen, rows };
}
