/**
 * The kernel catalogue: every WGSL entry point the backend dispatches, with the bindings it uses
 * (null = declared in the file but unused by that entry point). The WGSL is embedded through text
 * imports, so a compiled binary needs no files from the source tree.
 */
import matmulWgsl from "../../../kernels/matmul.wgsl" with { type: "text" };
import elementwiseWgsl from "../../../kernels/elementwise.wgsl" with { type: "text" };
import reduceWgsl from "../../../kernels/reduce.wgsl" with { type: "text" };
import normWgsl from "../../../kernels/norm.wgsl" with { type: "text" };
import rotaryWgsl from "../../../kernels/rotary.wgsl" with { type: "text" };
import attentionWgsl from "../../../kernels/attention.wgsl" with { type: "text" };
import embeddingWgsl from "../../../kernels/embedding.wgsl" with { type: "text" };
import crossEntropyWgsl from "../../../kernels/cross_entropy.wgsl" with { type: "text" };
import optimWgsl from "../../../kernels/optim.wgsl" with { type: "text" };
import type { BindingKind, KernelSpec } from "./dispatch.ts";

/** Every WGSL source, by family name (for validation tests and reports). */
export const WGSL_SOURCES: Readonly<Record<string, string>> = {
  matmul: matmulWgsl,
  elementwise: elementwiseWgsl,
  reduce: reduceWgsl,
  norm: normWgsl,
  rotary: rotaryWgsl,
  attention: attentionWgsl,
  embedding: embeddingWgsl,
  cross_entropy: crossEntropyWgsl,
  optim: optimWgsl,
};

type B = BindingKind | null;
const U: B = "uniform";
const R: B = "read";
const W: B = "rw";
const _: B = null;

function spec(
  module: string,
  code: string,
  entry: string,
  bindings: B[],
  constants?: Record<string, number>,
): KernelSpec {
  return { module, code, entry, bindings, constants };
}

const ew = (entry: string, bindings: B[]) => spec("elementwise", elementwiseWgsl, entry, bindings);
/** Elementwise kernels (bindings: x, y, z, out, out_bits). */
export const ELEMENTWISE: {
  fill: KernelSpec;
  copy2d: KernelSpec;
  scale: KernelSpec;
  unary: KernelSpec;
  unaryBackward: KernelSpec;
  binary: KernelSpec;
  broadcastTo: KernelSpec;
} = {
  fill: ew("fill", [U, _, _, _, _, W]),
  copy2d: ew("copy2d", [U, R, _, _, W]),
  scale: ew("scale", [U, R, _, _, W]),
  unary: ew("unary", [U, R, _, _, W]),
  unaryBackward: ew("unary_backward", [U, R, R, R, W]),
  binary: ew("binary", [U, R, R, _, W]),
  broadcastTo: ew("broadcast_to", [U, R, _, _, W]),
};

/** reduce_to (bindings: x, out). */
export const REDUCE_TO: KernelSpec = spec("reduce", reduceWgsl, "reduce_to", [U, R, W]);

/** RMSNorm (bindings: x, gradOut, rstd, out, rstd_in). */
export const NORM: { forward: KernelSpec; backward: KernelSpec } = {
  forward: spec("norm", normWgsl, "rmsnorm", [U, R, _, W, W]),
  backward: spec("norm", normWgsl, "rmsnorm_backward", [U, R, R, _, W, R]),
};

/** Rotary (bindings: x, cos, sin, out). */
export const ROTARY: KernelSpec = spec("rotary", rotaryWgsl, "rotary", [U, R, R, R, W]);

/** Head-dimension capacity compiled into the attention kernels for a given head dimension. */
export function attentionCapacity(headDim: number): number {
  let cap = 16;
  while (cap < headDim) cap *= 2;
  return cap;
}

/** Attention kernels for head dimensions up to `capacity` (a power of two >= 16). */
export function attentionKernels(capacity: number): {
  forward: KernelSpec;
  delta: KernelSpec;
  dkdv: KernelSpec;
  dq: KernelSpec;
} {
  const code = attentionWgsl.replace(
    "const D_MAX: u32 = 128u;",
    `const D_MAX: u32 = ${capacity}u;`,
  );
  const module = `attention${capacity}`;
  // bindings: q, k, v, o, d_o, lse, delta, out, out2
  return {
    forward: spec(module, code, "attention", [U, R, R, R, _, _, W, _, W]),
    delta: spec(module, code, "attention_delta", [U, _, _, _, R, R, _, W]),
    dkdv: spec(module, code, "attention_dkdv", [U, R, R, R, _, R, W, W, W, W]),
    dq: spec(module, code, "attention_dq", [U, R, R, R, _, R, W, W, W]),
  };
}

const emb = (entry: string, bindings: B[]) => spec("embedding", embeddingWgsl, entry, bindings);
/** Embedding (bindings: ids, src, dst, counts, offsets, order). */
export const EMBEDDING: {
  forward: KernelSpec;
  count: KernelSpec;
  scan: KernelSpec;
  scatter: KernelSpec;
  segmentSum: KernelSpec;
} = {
  forward: emb("embedding", [U, R, R, W]),
  count: emb("count", [U, R, _, _, W]),
  scan: emb("scan", [U, _, _, _, W, W]),
  scatter: emb("scatter", [U, R, _, _, W, W, W]),
  segmentSum: emb("segment_sum", [U, _, R, W, _, W, W]),
};

/** Cross-entropy (bindings: logits, targets, losses, lse, lse_in, grad_losses, grad_logits). */
export const CROSS_ENTROPY: { forward: KernelSpec; backward: KernelSpec } = {
  forward: spec("cross_entropy", crossEntropyWgsl, "cross_entropy", [U, R, R, W, W]),
  backward: spec(
    "cross_entropy",
    crossEntropyWgsl,
    "cross_entropy_backward",
    [U, R, R, _, _, R, R, W],
  ),
};

const opt = (entry: string, bindings: B[]) => spec("optim", optimWgsl, entry, bindings);
/** Optimizer kernels (bindings: param, grad, m1, m2, scratch). */
export const OPTIM: {
  adamw: KernelSpec;
  muonMomentum: KernelSpec;
  sumsqPartials: KernelSpec;
  normalize: KernelSpec;
  muonVmean: KernelSpec;
  muonStats: KernelSpec;
  muonApply: KernelSpec;
} = {
  adamw: opt("adamw", [U, W, R, W, W]),
  muonMomentum: opt("muon_momentum", [U, _, R, W, W]),
  sumsqPartials: opt("sumsq_partials", [U, _, R, _, _, W]),
  normalize: opt("normalize", [U, _, R, _, W, W]),
  muonVmean: opt("muon_vmean", [U, _, R, _, W]),
  muonStats: opt("muon_stats", [U, _, _, W, W, W]),
  muonApply: opt("muon_apply", [U, W, R, _, W, W]),
};
