/**
 * The sources of everything that is not the recipe and can change a result, embedded as text at
 * build time (compile-safe: nothing reads the source tree at run time) for the harness hash: the
 * engine's tensors, ops, optimizers, CPU kernels and WGSL kernels, and the harness (constants,
 * tokenizer, data, loader, loop, model runner, evaluation, the recipe loader and its API). Backend
 * selection and platform detection are left out: they choose, they do not compute. A test checks
 * that every engine and kernel file is either listed here or named as left out.
 */
import engineBackendTs from "../engine/backend.ts" with { type: "text" };
import engineTensorTs from "../engine/tensor.ts" with { type: "text" };
import engineOpsTs from "../engine/ops.ts" with { type: "text" };
import engineOptimTs from "../engine/optim.ts" with { type: "text" };
import engineCpuAttentionTs from "../engine/cpu/attention.ts" with { type: "text" };
import engineCpuBackendTs from "../engine/cpu/backend.ts" with { type: "text" };
import engineCpuKernelsTs from "../engine/cpu/kernels.ts" with { type: "text" };
import engineCpuThreadsTs from "../engine/cpu/threads.ts" with { type: "text" };
import engineCpuVecmathTs from "../engine/cpu/vecmath.ts" with { type: "text" };
import engineCpuGemmBlasTs from "../engine/cpu/gemm/blas.ts" with { type: "text" };
import engineCpuGemmDriverTs from "../engine/cpu/gemm/driver.ts" with { type: "text" };
import engineCpuGemmJsTs from "../engine/cpu/gemm/js.ts" with { type: "text" };
import engineCpuGemmKernelsTs from "../engine/cpu/gemm/kernels.ts" with { type: "text" };
import engineCpuGemmModTs from "../engine/cpu/gemm/mod.ts" with { type: "text" };
import engineCpuGemmSelectTs from "../engine/cpu/gemm/select.ts" with { type: "text" };
import engineCpuGemmTypesTs from "../engine/cpu/gemm/types.ts" with { type: "text" };
import engineCpuGemmWasmTs from "../engine/cpu/gemm/wasm.ts" with { type: "text" };
import engineCpuGemmWasmBuilderTs from "../engine/cpu/gemm/wasm_builder.ts" with { type: "text" };
import engineWebgpuBackendTs from "../engine/webgpu/backend.ts" with { type: "text" };
import engineWebgpuDeviceTs from "../engine/webgpu/device.ts" with { type: "text" };
import engineWebgpuDispatchTs from "../engine/webgpu/dispatch.ts" with { type: "text" };
import engineWebgpuKernelsTs from "../engine/webgpu/kernels.ts" with { type: "text" };
import engineWebgpuAttentionVariantsTs from "../engine/webgpu/attention_variants.ts" with {
  type: "text",
};
import engineWebgpuAttentionTiledTs from "../engine/webgpu/attention_tiled.ts" with {
  type: "text",
};
import engineWebgpuMatmulVariantsTs from "../engine/webgpu/matmul_variants.ts" with {
  type: "text",
};
import engineWebgpuMatmulWgslTs from "../engine/webgpu/matmul_wgsl.ts" with { type: "text" };
import engineWebgpuPoolTs from "../engine/webgpu/pool.ts" with { type: "text" };
import engineWebgpuOptimStackTs from "../engine/webgpu/optim_stack.ts" with { type: "text" };
import kernelsAttentionWgsl from "../../kernels/attention.wgsl" with { type: "text" };
import kernelsCrossEntropyWgsl from "../../kernels/cross_entropy.wgsl" with { type: "text" };
import kernelsElementwiseWgsl from "../../kernels/elementwise.wgsl" with { type: "text" };
import kernelsEmbeddingWgsl from "../../kernels/embedding.wgsl" with { type: "text" };
import kernelsMatmulWgsl from "../../kernels/matmul.wgsl" with { type: "text" };
import kernelsNormWgsl from "../../kernels/norm.wgsl" with { type: "text" };
import kernelsOptimWgsl from "../../kernels/optim.wgsl" with { type: "text" };
import kernelsOptimStackWgsl from "../../kernels/optim_stack.wgsl" with { type: "text" };
import kernelsReduceWgsl from "../../kernels/reduce.wgsl" with { type: "text" };
import kernelsRotaryWgsl from "../../kernels/rotary.wgsl" with { type: "text" };
import trainHarnessTs from "./harness.ts" with { type: "text" };
import trainTokenizerTs from "./tokenizer.ts" with { type: "text" };
import trainBpeTs from "./bpe.ts" with { type: "text" };
import trainBpeSplitTs from "./bpe_split.ts" with { type: "text" };
import trainDataTs from "./data.ts" with { type: "text" };
import trainDataloaderTs from "./dataloader.ts" with { type: "text" };
import trainBpbTs from "./bpb.ts" with { type: "text" };
import trainLoopTs from "./loop.ts" with { type: "text" };
import trainModelTs from "./model.ts" with { type: "text" };
import trainRecipeTs from "./recipe.ts" with { type: "text" };
import trainRecipeApiTs from "./recipe_api.ts" with { type: "text" };
import trainRecipeLoaderTs from "./recipe_loader.ts" with { type: "text" };
import trainEvaluationTs from "./evaluation.ts" with { type: "text" };

/** Repository path -> source text of every file the harness hash covers. */
export const HARNESS_SOURCES: Readonly<Record<string, string>> = {
  "src/engine/backend.ts": engineBackendTs,
  "src/engine/tensor.ts": engineTensorTs,
  "src/engine/ops.ts": engineOpsTs,
  "src/engine/optim.ts": engineOptimTs,
  "src/engine/cpu/attention.ts": engineCpuAttentionTs,
  "src/engine/cpu/backend.ts": engineCpuBackendTs,
  "src/engine/cpu/kernels.ts": engineCpuKernelsTs,
  "src/engine/cpu/threads.ts": engineCpuThreadsTs,
  "src/engine/cpu/vecmath.ts": engineCpuVecmathTs,
  "src/engine/cpu/gemm/blas.ts": engineCpuGemmBlasTs,
  "src/engine/cpu/gemm/driver.ts": engineCpuGemmDriverTs,
  "src/engine/cpu/gemm/js.ts": engineCpuGemmJsTs,
  "src/engine/cpu/gemm/kernels.ts": engineCpuGemmKernelsTs,
  "src/engine/cpu/gemm/mod.ts": engineCpuGemmModTs,
  "src/engine/cpu/gemm/select.ts": engineCpuGemmSelectTs,
  "src/engine/cpu/gemm/types.ts": engineCpuGemmTypesTs,
  "src/engine/cpu/gemm/wasm.ts": engineCpuGemmWasmTs,
  "src/engine/cpu/gemm/wasm_builder.ts": engineCpuGemmWasmBuilderTs,
  "src/engine/webgpu/backend.ts": engineWebgpuBackendTs,
  "src/engine/webgpu/device.ts": engineWebgpuDeviceTs,
  "src/engine/webgpu/dispatch.ts": engineWebgpuDispatchTs,
  "src/engine/webgpu/kernels.ts": engineWebgpuKernelsTs,
  "src/engine/webgpu/optim_stack.ts": engineWebgpuOptimStackTs,
  "src/engine/webgpu/attention_variants.ts": engineWebgpuAttentionVariantsTs,
  "src/engine/webgpu/attention_tiled.ts": engineWebgpuAttentionTiledTs,
  "src/engine/webgpu/matmul_variants.ts": engineWebgpuMatmulVariantsTs,
  "src/engine/webgpu/matmul_wgsl.ts": engineWebgpuMatmulWgslTs,
  "src/engine/webgpu/pool.ts": engineWebgpuPoolTs,
  "kernels/attention.wgsl": kernelsAttentionWgsl,
  "kernels/cross_entropy.wgsl": kernelsCrossEntropyWgsl,
  "kernels/elementwise.wgsl": kernelsElementwiseWgsl,
  "kernels/embedding.wgsl": kernelsEmbeddingWgsl,
  "kernels/matmul.wgsl": kernelsMatmulWgsl,
  "kernels/norm.wgsl": kernelsNormWgsl,
  "kernels/optim.wgsl": kernelsOptimWgsl,
  "kernels/optim_stack.wgsl": kernelsOptimStackWgsl,
  "kernels/reduce.wgsl": kernelsReduceWgsl,
  "kernels/rotary.wgsl": kernelsRotaryWgsl,
  "src/train/harness.ts": trainHarnessTs,
  "src/train/tokenizer.ts": trainTokenizerTs,
  "src/train/bpe.ts": trainBpeTs,
  "src/train/bpe_split.ts": trainBpeSplitTs,
  "src/train/data.ts": trainDataTs,
  "src/train/dataloader.ts": trainDataloaderTs,
  "src/train/bpb.ts": trainBpbTs,
  "src/train/loop.ts": trainLoopTs,
  "src/train/model.ts": trainModelTs,
  "src/train/recipe.ts": trainRecipeTs,
  "src/train/recipe_api.ts": trainRecipeApiTs,
  "src/train/recipe_loader.ts": trainRecipeLoaderTs,
  "src/train/evaluation.ts": trainEvaluationTs,
};

/** Engine files deliberately outside the hash (selection, detection and timing, no arithmetic). */
export const HARNESS_HASH_EXCLUDED: readonly string[] = [
  "src/engine/mod.ts",
  "src/engine/create.ts",
  "src/engine/platform.ts",
  "src/engine/webgpu/mod.ts",
  "src/engine/cpu/gemm/probe.ts",
  "src/engine/webgpu/timing.ts",
  "src/engine/webgpu/tune.ts",
  "src/engine/webgpu/tuner.ts",
  "src/engine/webgpu/attention_tune.ts",
];
