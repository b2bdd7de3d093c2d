/**
 * Public API of the engine layer (re-exported by the top-level mod.ts): the raw `Backend`
 * contract with its CPU implementation and backend selection, tensors with a per-step autograd
 * `Tape`, differentiable functional ops, and the AdamW and Muon optimizers.
 *
 * @module
 */
export type * from "./backend.ts";
export { type CpuBackendOptions, createCpuBackend } from "./cpu/backend.ts";
export { createBackend, type CreateBackendOptions } from "./create.ts";
export {
  type GradSlot,
  numel,
  Parameter,
  type ParameterOptions,
  Tape,
  type TapeOptions,
  Tensor,
} from "./tensor.ts";
export {
  add,
  attention,
  type AttentionOptions,
  broadcastShapes,
  crossEntropy,
  type CrossEntropyOptions,
  embedding,
  linear,
  matmul,
  type MatmulOptions,
  mean,
  mul,
  narrow,
  relu2,
  rmsnorm,
  rotary,
  type RotaryTables,
  rotaryTables,
  scale,
  sigmoid,
  softcapTanh,
  sum,
} from "./ops.ts";
export {
  AdamW,
  type AdamWGroup,
  Muon,
  type MuonGroup,
  type OptimizerOptions,
  orthogonalize,
  POLAR_EXPRESS_COEFFS,
} from "./optim.ts";
export {
  type BlasIdentity,
  createGemm,
  type Gemm,
  type GemmOptions,
  type MeasuredCandidate,
  type SgemmCandidate,
  type SgemmChoice,
  sgemmChoice,
  type SgemmParams,
} from "./cpu/gemm/mod.ts";
export { createWebGpuBackend } from "./webgpu/mod.ts";
