/**
 * The recipe API: everything a recipe may import (`import { ... } from "autoresearch/recipe"`).
 * A recipe is evaluated at run time with this module as its only import (recipe_loader.ts), so
 * the same recipe runs under `deno run` and in a compiled binary. It holds the engine's tensors,
 * autograd ops and optimizers, the seeded generator of the initialisation, and the types of the
 * recipe contract (src/train/recipe.ts, docs/recipe.md). Everything here is part of the harness:
 * its source is in the harness hash.
 */
export type { Backend } from "../engine/backend.ts";
export { Parameter, Tape, Tensor } from "../engine/tensor.ts";
export {
  add,
  attention,
  type AttentionOptions,
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
} from "../engine/ops.ts";
export { AdamW, type AdamWGroup, Muon, type MuonGroup, orthogonalize } from "../engine/optim.ts";
export { Rng, type TrainableModel, type TrainOptimizer } from "./model.ts";
export type { Constraint, Device, ModelContext, Recipe } from "./recipe.ts";
