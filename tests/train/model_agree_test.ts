/**
 * CPU and WebGPU agree: the same tiny model from the same init, trained on the same batches,
 * gives the same losses for the first steps (within float tolerance). The zero-initialised
 * matrices get a small random init here, as in the golden run: with exact zeros the lambdas'
 * gradients are rounding noise and Adam turns that noise into full steps of arbitrary sign.
 */
import { BACKENDS } from "../backends.ts";
import assert from "node:assert/strict";
import { createCpuBackend } from "../../src/engine/cpu/backend.ts";
import { trainModel } from "../../src/train/loop.ts";
import { Rng } from "../../src/train/model.ts";
import { GPT, initialValues } from "./reference_recipe.ts";
import { markovBatches, referenceRecipe, TINY_RECIPE } from "./model_helpers.ts";

const webgpu = BACKENDS.find((b) => b.name === "webgpu")!;

async function wellConditionedInit(): Promise<Map<string, Float32Array>> {
  const rng = new Rng(3);
  const shape = { ...TINY_RECIPE.model, vocabSize: 64 };
  // The recipe's parameter names and shapes, in order, from a throwaway CPU model.
  const backend = await createCpuBackend();
  const net = new GPT(backend, shape, 0);
  const params = net.params.map((p) => ({ name: p.name, dims: [...p.shape] }));
  net.dispose();
  backend.destroy();
  const out = new Map<string, Float32Array>();
  for (const { name, dims } of params) {
    const values = initialValues(name, dims, shape.width, rng);
    if (name.endsWith("c_proj") || name.endsWith("ve_gate")) {
      for (let i = 0; i < values.length; i++) values[i] = 0.02 * (rng.next() * 2 - 1);
    }
    out.set(name, values);
  }
  return out;
}

const INIT = await wellConditionedInit();

async function losses(create: () => ReturnType<typeof createCpuBackend>): Promise<number[]> {
  const backend = await create();
  try {
    const result = await trainModel({
      backend,
      recipe: referenceRecipe(TINY_RECIPE),
      vocabSize: 64,
      budgetSeconds: 600,
      seed: 3,
      nextBatch: markovBatches(64, TINY_RECIPE.deviceBatchRows, TINY_RECIPE.model.seqLen, 11),
      peakFlops: null,
      maxSteps: 5,
      initialWeights: INIT,
    });
    result.model.dispose();
    return result.losses;
  } finally {
    backend.destroy();
  }
}

Deno.test({
  name: "model: CPU and WebGPU losses agree for the first 5 steps from the same init",
  ignore: webgpu.skip !== undefined,
  fn: async () => {
    const cpu = await losses(() => createCpuBackend());
    const gpu = await losses(webgpu.create);
    console.log(`cpu ${cpu.map((l) => l.toFixed(5))}\ngpu ${gpu.map((l) => l.toFixed(5))}`);
    for (let i = 0; i < cpu.length; i++) {
      assert.ok(Math.abs(cpu[i] - gpu[i]) < 1e-4, `step ${i}: cpu ${cpu[i]} vs webgpu ${gpu[i]}`);
    }
  },
});
