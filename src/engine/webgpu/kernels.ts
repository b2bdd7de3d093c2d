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
import {
  ATTENTION_VARIANTS,
  type AttentionKernels,
  attentionKernelsFor,
} from "./attention_variants.ts";

/**
 * Row and elementwise kernels read their data in packs: vec4 where a width is a multiple of 4,
 * else scalars. A kernel file is written for vec4 and opens with this prelude; its scalar flavour
 * is the same file with SCALAR_PRELUDE in its place, so both flavours share every line of logic.
 */
const VEC4_PRELUDE = `alias V = vec4<f32>;
alias VU = vec4<u32>;
const PACK: u32 = 4u;
const PACK_OFFSETS: VU = vec4<u32>(0u, 1u, 2u, 3u);
fn hsum(v: V) -> f32 { return v.x + v.y + v.z + v.w; }
fn hmax(v: V) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn pick(v: V, k: u32) -> f32 { return v[k]; }`;
const SCALAR_PRELUDE = `alias V = f32;
alias VU = u32;
const PACK: u32 = 1u;
const PACK_OFFSETS: VU = 0u;
fn hsum(v: V) -> f32 { return v; }
fn hmax(v: V) -> f32 { return v; }
fn pick(v: V, k: u32) -> f32 { return v; }`;

/** Elements per pack: 4 (vec4 loads and stores) or 1 (scalars, for widths not divisible by 4). */
export type Pack = 1 | 4;

/** The pack a width can use: 4 when it is a multiple of 4. */
export function packFor(width: number): Pack {
  return width % 4 === 0 ? 4 : 1;
}

/** The scalar flavour of a packed kernel file (throws if the file lost its vec4 prelude). */
function scalarFlavour(name: string, code: string): string {
  if (!code.includes(VEC4_PRELUDE)) throw new Error(`kernels/${name}.wgsl lost its pack prelude`);
  return code.replace(VEC4_PRELUDE, SCALAR_PRELUDE);
}

const normScalarWgsl = scalarFlavour("norm", normWgsl);
const crossEntropyScalarWgsl = scalarFlavour("cross_entropy", crossEntropyWgsl);
const rotaryScalarWgsl = scalarFlavour("rotary", rotaryWgsl);
const embeddingScalarWgsl = scalarFlavour("embedding", embeddingWgsl);

/** Every WGSL source, by family name (for validation tests and reports). */
export const WGSL_SOURCES: Readonly<Record<string, string>> = {
  norm_scalar: normScalarWgsl,
  cross_entropy_scalar: crossEntropyScalarWgsl,
  rotary_scalar: rotaryScalarWgsl,
  embedding_scalar: embeddingScalarWgsl,
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
/**
 * Elementwise kernels (bindings: x, y, -, out, -, then the vec4 views x4, y4, z4, out4,
 * out4_bits). The flat ones work in quads; `*4` are the vec4 forms of the shaped ones.
 */
export const ELEMENTWISE: {
  fill: KernelSpec;
  copy2d: KernelSpec;
  copy2d4: KernelSpec;
  scale: KernelSpec;
  unary: KernelSpec;
  unaryBackward: KernelSpec;
  binary: KernelSpec;
  binary4: KernelSpec;
  broadcastTo: KernelSpec;
  broadcastTo4: KernelSpec;
} = {
  fill: ew("fill", [U, _, _, _, _, _, _, _, _, _, W]),
  copy2d: ew("copy2d", [U, R, _, _, W]),
  copy2d4: ew("copy2d4", [U, _, _, _, _, _, R, _, _, W]),
  scale: ew("scale", [U, _, _, _, _, _, R, _, _, W]),
  unary: ew("unary", [U, _, _, _, _, _, R, _, _, W]),
  unaryBackward: ew("unary_backward", [U, _, _, _, _, _, R, R, R, W]),
  binary: ew("binary", [U, R, R, _, W]),
  binary4: ew("binary4", [U, _, _, _, _, _, R, R, _, W]),
  broadcastTo: ew("broadcast_to", [U, R, _, _, W]),
  broadcastTo4: ew("broadcast_to4", [U, _, _, _, _, _, R, _, _, W]),
};

/** reduce_to (bindings: x, out). */
export const REDUCE_TO: KernelSpec = spec("reduce", reduceWgsl, "reduce_to", [U, R, W]);

/** RMSNorm per pack (bindings: x, gradOut, rstd, out, rstd_in). */
export const NORM: Record<Pack, { forward: KernelSpec; backward: KernelSpec }> = {
  4: {
    forward: spec("norm", normWgsl, "rmsnorm", [U, R, _, W, W]),
    backward: spec("norm", normWgsl, "rmsnorm_backward", [U, R, R, _, W, R]),
  },
  1: {
    forward: spec("norm_scalar", normScalarWgsl, "rmsnorm", [U, R, _, W, W]),
    backward: spec("norm_scalar", normScalarWgsl, "rmsnorm_backward", [U, R, R, _, W, R]),
  },
};

/** Rotary per pack (bindings: x, cos, sin, out). */
export const ROTARY: Record<Pack, KernelSpec> = {
  4: spec("rotary", rotaryWgsl, "rotary", [U, R, R, R, W]),
  1: spec("rotary_scalar", rotaryScalarWgsl, "rotary", [U, R, R, R, W]),
};

/**
 * The default attention variant's kernels at a head-dimension capacity (the variants and their
 * generator live in attention_variants.ts; this stays for the WGSL validation test).
 */
export function attentionKernels(capacity: number): AttentionKernels {
  const variant = ATTENTION_VARIANTS[0];
  return attentionKernelsFor(variant.id, variant.params, capacity);
}

const emb = (entry: string, bindings: B[]) => spec("embedding", embeddingWgsl, entry, bindings);
const embScalar = (entry: string, bindings: B[]) =>
  spec("embedding_scalar", embeddingScalarWgsl, entry, bindings);
/**
 * Embedding (bindings: ids, src, dst, counts, offsets, order): the lookup and the segment sums
 * per pack; the counting sort (count, scan, scatter) works on ids only.
 */
export const EMBEDDING: {
  forward: Record<Pack, KernelSpec>;
  count: KernelSpec;
  scan: KernelSpec;
  scatter: KernelSpec;
  segmentSum: Record<Pack, KernelSpec>;
} = {
  forward: { 4: emb("embedding", [U, R, R, W]), 1: embScalar("embedding", [U, R, R, W]) },
  count: emb("count", [U, R, _, _, W]),
  scan: emb("scan", [U, _, _, _, W, W]),
  scatter: emb("scatter", [U, R, _, _, W, W, W]),
  segmentSum: {
    4: emb("segment_sum", [U, _, R, W, _, W, W]),
    1: embScalar("segment_sum", [U, _, R, W, _, W, W]),
  },
};

const ce = (pack: Pack, entry: string, bindings: B[]) =>
  pack === 4
    ? spec("cross_entropy", crossEntropyWgsl, entry, bindings)
    : spec("cross_entropy_scalar", crossEntropyScalarWgsl, entry, bindings);
/**
 * Cross-entropy per pack (bindings: logits, targets, losses, lse, lse_in, grad_losses,
 * grad_logits).
 */
export const CROSS_ENTROPY: Record<Pack, { forward: KernelSpec; backward: KernelSpec }> = {
  4: {
    forward: ce(4, "cross_entropy", [U, R, R, W, W]),
    backward: ce(4, "cross_entropy_backward", [U, R, R, _, _, R, R, W]),
  },
  1: {
    forward: ce(1, "cross_entropy", [U, R, R, W, W]),
    backward: ce(1, "cross_entropy_backward", [U, R, R, _, _, R, R, W]),
  },
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
