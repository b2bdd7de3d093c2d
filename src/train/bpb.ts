/**
 * evaluate_bpb, as upstream defines it: over a fixed validation slice (the leading batches of
 * the val split, packed by the deterministic loader), the sum of per-token NLL in nats over
 * targets whose token has a byte length > 0, divided by ln(2) times the sum of those bytes.
 * The core is a pure function over losses; the driver takes the model as a callback, so the
 * harness never depends on the model or the engine.
 */
import { BestFitLoader } from "./dataloader.ts";
import type { TokenDocs } from "./data.ts";

/** Summed nats and bytes of a set of scored targets. */
export interface BpbTotals {
  /** Sum of NLL (nats) over the counted targets. */
  nats: number;
  /** Sum of the counted targets' byte lengths. */
  bytes: number;
  /** Targets counted (byte length > 0). */
  tokens: number;
}

/**
 * Add per-token losses to running totals. `losses[i]` is the NLL in nats of predicting
 * `targets[i]`; targets whose `tokenBytes` is 0 (specials, i.e. BOS) are left out.
 */
export function accumulateBpb(
  losses: ArrayLike<number>,
  targets: ArrayLike<number>,
  tokenBytes: ArrayLike<number>,
  totals: BpbTotals = { nats: 0, bytes: 0, tokens: 0 },
): BpbTotals {
  if (losses.length !== targets.length) {
    throw new RangeError(`${losses.length} losses for ${targets.length} targets`);
  }
  for (let i = 0; i < targets.length; i++) {
    const bytes = tokenBytes[targets[i]];
    if (bytes === undefined) throw new RangeError(`target ${targets[i]} outside vocabulary`);
    if (bytes > 0) {
      totals.nats += losses[i];
      totals.bytes += bytes;
      totals.tokens++;
    }
  }
  return totals;
}

/** Bits per byte of totals: nats / (ln 2 * bytes). */
export function bitsPerByte(totals: BpbTotals): number {
  if (totals.bytes === 0) throw new RangeError("no bytes scored");
  return totals.nats / (Math.LN2 * totals.bytes);
}

/** val_bpb of one set of losses (the pure core of evaluate_bpb). */
export function computeBpb(
  losses: ArrayLike<number>,
  targets: ArrayLike<number>,
  tokenBytes: ArrayLike<number>,
): number {
  return bitsPerByte(accumulateBpb(losses, targets, tokenBytes));
}

/**
 * The model under evaluation: per-token NLL (nats) of `targets` given `inputs`, both
 * row-major [batchSize, seqLen]; returns batchSize * seqLen losses.
 */
export type LossFn = (
  inputs: Int32Array,
  targets: Int32Array,
  shape: { batchSize: number; seqLen: number },
) => Promise<Float32Array>;

/** Options of `evaluateBpb`. */
export interface EvaluateBpbOptions {
  /** Rows per evaluation batch. */
  batchSize: number;
  /** Tokens per row. */
  seqLen: number;
  /** Tokens in the validation slice (upstream EVAL_TOKENS; smaller on small machines). */
  evalTokens: number;
}

/** What `evaluateBpb` measured. */
export interface BpbResult extends BpbTotals {
  /** The figure: bits per byte. */
  bpb: number;
  /** Batches evaluated: max(1, floor(evalTokens / (batchSize * seqLen))). */
  steps: number;
  /** True when the slice is longer than the val split, so some tokens were scored twice. */
  wrapped: boolean;
}

/** evaluate_bpb: score the fixed leading slice of `val` with `lossFn`. */
export async function evaluateBpb(
  lossFn: LossFn,
  val: TokenDocs,
  tokenBytes: ArrayLike<number>,
  options: EvaluateBpbOptions,
): Promise<BpbResult> {
  const { batchSize, seqLen, evalTokens } = options;
  const steps = Math.max(1, Math.floor(evalTokens / (batchSize * seqLen)));
  const loader = new BestFitLoader(val, { batchSize, seqLen, shuffle: false });
  const totals: BpbTotals = { nats: 0, bytes: 0, tokens: 0 };
  for (let step = 0; step < steps; step++) {
    const batch = loader.next().value;
    const losses = await lossFn(batch.inputs, batch.targets, { batchSize, seqLen });
    accumulateBpb(losses, batch.targets, tokenBytes, totals);
  }
  const wrapped = steps * batchSize * (seqLen + 1) > val.tokens.length;
  return { ...totals, bpb: bitsPerByte(totals), steps, wrapped };
}
