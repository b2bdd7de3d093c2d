/**
 * Dispatches per training step, and the grouped optimizer behind most of the saving. The grouped
 * AdamW (`adamwGroup`) and Muon (same-shape matrices stacked, batched Polar Express) must give
 * the per-tensor path's parameters on every backend, including a parameter without a gradient
 * (left alone) and a group whose stack is cut by the binding-safe size cap. On WebGPU a training
 * step of the real GPT (the reference recipe at a tiny size, and the GPU recipe's shape at a tiny
 * width) must stay under a dispatch count derived from its structure, with no validation error.
 */
import assert from "node:assert/strict";
import { BACKENDS, testOnBackend } from "../backends.ts";
import { AdamW, add, mul, Muon, Parameter, scale, sum, Tape } from "../../src/engine/mod.ts";
import type { Backend } from "../../src/engine/backend.ts";
import { WebGpuBackend } from "../../src/engine/webgpu/mod.ts";
import { stackChunks, stackSlots, stackSourceFor } from "../../src/engine/webgpu/optim_stack.ts";
import { ModelRunner } from "../../src/train/model.ts";
import {
  createOptimizer,
  GPT,
  GPU_RECIPE,
  type ModelConfig,
  paramGroup,
  UPSTREAM_OPTIMIZER,
} from "../train/reference_recipe.ts";
import { markovBatches, TINY_RECIPE } from "../train/model_helpers.ts";
import { gpuTest, randomArray } from "./webgpu_helpers.ts";

/** Shapes of a Muon group: repeated wide, tall and square matrices, and a lone odd one. */
const MUON_SHAPES: [number, number][] = [
  [8, 12],
  [12, 8],
  [8, 12],
  [16, 16],
  [12, 8],
  [8, 12],
  [16, 16],
  [5, 7],
  [3, 300],
  [8, 12],
];
/** Sizes of two AdamW groups. */
const ADAM_SIZES = [[37, 300, 1000, 1, 5000], [64]];

interface Run {
  muon: Parameter[];
  adam: Parameter[][];
}

/** Three steps of both optimizers over seeded values and gradients; the grouped flag varies. */
async function optimize(be: Backend, grouped: boolean): Promise<Float32Array[]> {
  const run: Run = {
    muon: MUON_SHAPES.map((shape, i) =>
      new Parameter(be, shape, randomArray(shape[0] * shape[1], 10 + i), { name: `m${i}` })
    ),
    adam: ADAM_SIZES.map((sizes, g) =>
      sizes.map((n, i) => new Parameter(be, [n], randomArray(n, 100 * g + i), { name: `a${i}` }))
    ),
  };
  const muon = new Muon(be, [{
    params: run.muon,
    lr: 0.04,
    momentum: 0.9,
    weightDecay: 0.2,
    nsSteps: 5,
  }], { grouped });
  const adam = new AdamW(be, [
    { params: run.adam[0], lr: 0.01, weightDecay: 0.1 },
    { params: run.adam[1], lr: 0.3, beta1: 0.9, beta2: 0.99, eps: 1e-8 },
  ], { grouped });
  const all = [...run.muon, ...run.adam.flat()];
  for (let step = 0; step < 3; step++) {
    all.forEach((p, i) => {
      p.zeroGrad();
      // One matrix has no gradient at step 1 (left alone), one AdamW tensor at step 2.
      if ((i === 2 && step === 1) || (p === run.adam[0][1] && step === 2)) return;
      be.write(p.gradSlot().buffer, randomArray(p.size, 1000 * step + i, 0.5));
    });
    muon.groups[0].momentum = 0.85 + 0.05 * step;
    adam.step();
    muon.step();
  }
  const out = await Promise.all(all.map((p) => p.read()));
  muon.dispose();
  adam.dispose();
  for (const p of all) p.dispose();
  return out;
}

for (const bc of BACKENDS) {
  testOnBackend(
    bc,
    `grouped AdamW and Muon give the per-tensor parameters (${bc.name})`,
    async (be) => {
      const perTensor = await optimize(be, false);
      const grouped = await optimize(be, true);
      let worst = 0;
      perTensor.forEach((want, t) => {
        for (let i = 0; i < want.length; i++) {
          const diff = Math.abs(grouped[t][i] - want[i]);
          assert.ok(
            diff <= 1e-6 + 1e-5 * Math.abs(want[i]),
            `tensor ${t} [${i}]: ${grouped[t][i]} vs ${want[i]}`,
          );
          worst = Math.max(worst, diff);
        }
      });
      console.log(`${bc.name}: grouped vs per-tensor, max |diff| = ${worst.toExponential(2)}`);
    },
  );
}

for (const bc of BACKENDS) {
  testOnBackend(
    bc,
    `add shares its gradient with its operands, copying only on write (${bc.name})`,
    async (be) => {
      const n = 20;
      const c = randomArray(n, 1), r = randomArray(n, 2);
      const live = be.memory().liveBuffers;
      const ps = [3, 4, 5, 6].map((seed) => new Parameter(be, [4, 5], randomArray(n, seed)));
      const gpu = bc.name === "webgpu" ? (be as WebGpuBackend).dispatcher : null;
      {
        using tape = new Tape(be);
        const C = tape.tensor([4, 5], c);
        const [s0, s1, s2, s3] = ps.map((p) => mul(p, C)); // tape tensors, each used below
        // add(s0, s0): one tensor twice (2G); add(scale(s1, 3), s1): s1 is written after sharing
        // (4G); add(add(s2, s3), ...): chained, every operand used once (G each, no copy).
        const y = add(add(add(s0, s0), add(scale(s1, 3), s1)), add(s2, s3));
        gpu?.resetCounts();
        tape.backward(sum(mul(y, tape.tensor([4, 5], r))));
        if (gpu) {
          // add(s0, s0): the second s0 finds G shared, copies it and adds G (2); scale's backward
          // copies s1's shared gradient before adding 3G into it (2). Copying adds made 11.
          assert.equal(gpu.kernelCounts.get("elementwise.scale"), 4);
        }
      }
      const factor = [2, 4, 1, 1];
      for (let i = 0; i < 4; i++) {
        const want = Float32Array.from(c, (ci, j) => factor[i] * ci * r[j]);
        const got = await ps[i].readGrad();
        for (let j = 0; j < n; j++) {
          assert.ok(Math.abs(got[j] - want[j]) <= 1e-6 * (1 + Math.abs(want[j])), `p${i}[${j}]`);
        }
      }
      for (const p of ps) p.dispose();
      assert.equal(be.memory().liveBuffers, live, "the tape released every gradient once");
    },
  );
}

Deno.test("grouped kernels: slots per dispatch follow the storage-buffer limit, chunks balance", () => {
  // WebGPU's guaranteed minimum of 8 storage buffers per stage, and lavapipe's 32.
  assert.equal(stackSlots("stack_momentum", 8), 3); // grad + momentum per slot, 2 fixed
  assert.equal(stackSlots("stack_stats", 8), 6);
  assert.equal(stackSlots("stack_apply", 8), 5);
  assert.equal(stackSlots("adamw_group", 8), 2); // param, grad, m, v per slot
  assert.equal(stackSlots("stack_momentum", 32), 15);
  assert.equal(stackSlots("adamw_group", 64), 11); // the uniform block holds 11 slot records
  assert.equal(stackSlots("stack_normalize", 8), Infinity); // binds no per-tensor buffer
  assert.deepEqual(stackChunks(32, 15), [[0, 11], [11, 11], [22, 10]]);
  assert.deepEqual(stackChunks(4, 15), [[0, 4]]);
  assert.deepEqual(stackChunks(0, 3), []);
});

gpuTest(
  "grouped AdamW runs a tensor larger than one binding through the windowed path",
  async (g) => {
    g.dispatcher.maxStorageBindingBytes = 4096; // 1024 floats per binding
    const sizes = [3000, 100, 1024, 5];
    const run = async (grouped: boolean) => {
      const params = sizes.map((n, i) => new Parameter(g, [n], randomArray(n, 50 + i)));
      const adam = new AdamW(g, [{ params, lr: 0.05, weightDecay: 0.1 }], { grouped });
      for (let step = 0; step < 2; step++) {
        params.forEach((p, i) => g.write(p.gradSlot().buffer, randomArray(p.size, 60 + i + step)));
        adam.step();
      }
      const out = await Promise.all(params.map((p) => p.read()));
      adam.dispose();
      for (const p of params) p.dispose();
      return out;
    };
    const want = await run(false);
    const got = await run(true);
    want.forEach((w, i) => assert.deepEqual(got[i], w, `tensor ${i}`));
  },
);

gpuTest(
  "the grouped optimizer is right on a device with only 8 storage buffers per stage",
  async (g) => {
    // WebGPU's guaranteed minimum (browsers may grant no more): 3 Muon tensors per momentum
    // dispatch, 2 per AdamW dispatch. The other limits stay the adapter's.
    const adapter = g.gpu.adapter;
    const requiredLimits: Record<string, number> = {};
    for (
      const name of [
        "maxStorageBufferBindingSize",
        "maxBufferSize",
        "maxComputeWorkgroupStorageSize",
        "maxComputeInvocationsPerWorkgroup",
      ]
    ) {
      requiredLimits[name] = (adapter.limits as unknown as Record<string, number>)[name];
    }
    requiredLimits.maxStorageBuffersPerShaderStage = 8;
    const device = await adapter.requestDevice({ requiredLimits });
    const small = new WebGpuBackend({ ...g.gpu, device, limits: device.limits });
    try {
      assert.equal(small.gpu.limits.maxStorageBuffersPerShaderStage, 8);
      device.pushErrorScope("validation");
      const grouped = await optimize(small, true);
      assert.equal(await device.popErrorScope(), null);
      const perTensor = await optimize(g, false);
      grouped.forEach((got, t) => assert.deepEqual(got, perTensor[t], `tensor ${t}`));
    } finally {
      small.destroy();
    }
  },
);

gpuTest("the grouped optimizer kernels compile cleanly for 1, 3 and 32 slots", async (g) => {
  for (const count of [1, 3, 32]) {
    const module = g.gpu.device.createShaderModule({ code: stackSourceFor(count) });
    const messages = (await module.getCompilationInfo()).messages;
    assert.deepEqual(messages.map((m) => `${m.type} ${m.lineNum}: ${m.message}`), [], `${count}`);
  }
});

/**
 * The most dispatches one optimizer step of the recipe's optimizer may take on `be`, from the
 * model's parameters: per AdamW group ceil(k / slots); per Muon shape with K matrices, the
 * momentum (ceil(K / slots)), one normalisation, 5 per Polar-Express step (3 matmuls, 2 scales,
 * one dispatch each with the untuned matmul), one vMean, then statistics and update
 * (ceil(K / slots) each).
 */
function optimizerBudget(be: WebGpuBackend, model: GPT): number {
  const storage = be.gpu.limits.maxStorageBuffersPerShaderStage;
  const slots = (entry: Parameters<typeof stackSlots>[0], k: number) =>
    Math.ceil(k / stackSlots(entry, storage));
  const adam = new Map<string, number>();
  const muon = new Map<string, number>();
  for (const p of model.params) {
    const g = paramGroup(p.name, model.cfg.width, UPSTREAM_OPTIMIZER);
    const key = g.kind === "adamw" ? `${g.lr}` : p.shape.join("x");
    const map = g.kind === "adamw" ? adam : muon;
    map.set(key, (map.get(key) ?? 0) + 1);
  }
  let budget = 0;
  for (const k of adam.values()) budget += slots("adamw_group", k);
  for (const k of muon.values()) {
    budget += slots("stack_momentum", k) + 1 + 5 * UPSTREAM_OPTIMIZER.orthoSteps + 1 +
      slots("stack_stats", k) + slots("stack_apply", k);
  }
  return budget;
}

/**
 * Forward + backward of one micro-batch: about 65 dispatches per layer (norms, projections,
 * rotary, attention, residual mixes and their gradients; counted 144 at depth 2 and 529 at
 * depth 8 here, 158 and 585 while every add copied its gradient to both operands). The budget
 * allows 68 per layer + 24, so a fused op only lowers the count; the optimizer is bounded
 * separately, exactly.
 */
const forwardBackwardBudget = (depth: number) => 68 * depth + 24;

async function countStep(be: WebGpuBackend, cfg: ModelConfig, rows: number) {
  const net = new GPT(be, cfg, 7);
  const model = new ModelRunner(net);
  const optimizer = createOptimizer(net, UPSTREAM_OPTIMIZER);
  const batches = markovBatches(cfg.vocabSize, rows, cfg.seqLen, 5);
  const loss = be.alloc("f32", 1);
  const d = be.dispatcher;
  const counts = { forwardBackward: 0, optimizer: 0, total: 0, submits: 0 };
  // Step 0 creates the optimizer state; step 1 is the steady state that is counted.
  for (let step = 0; step < 2; step++) {
    d.resetCounts();
    be.gpu.device.pushErrorScope("validation");
    model.zeroGrads();
    be.fill({ out: loss, value: 0 });
    const batch = batches();
    model.forward(batch.inputs, batch.targets, rows);
    model.accumulateLoss(loss, 1);
    model.backward(1);
    const afterBackward = d.dispatchCount;
    optimizer.step(step, 0.1);
    const value = (await be.read(loss))[0];
    const error = await be.gpu.device.popErrorScope();
    assert.equal(error, null, `validation error: ${error?.message}`);
    assert.ok(Number.isFinite(value));
    counts.forwardBackward = afterBackward - 1; // less the loss fill
    counts.optimizer = d.dispatchCount - afterBackward;
    counts.total = d.dispatchCount;
    counts.submits = d.submitCount;
  }
  be.free(loss);
  optimizer.dispose();
  model.dispose();
  return { counts, budget: optimizerBudget(be, net) };
}

const TINY: ModelConfig = { ...TINY_RECIPE.model, vocabSize: 64 };
// The GPU recipe's structure (depth 8, windows SSSL, value embeddings on alternate layers) at a
// width a CPU adapter runs in a second.
const GPU_SHAPE: ModelConfig = {
  ...GPU_RECIPE.model,
  width: 128,
  headDim: 64,
  seqLen: 64,
  vocabSize: 64,
};

for (const [name, cfg] of [["tiny recipe", TINY], ["GPU recipe shape", GPU_SHAPE]] as const) {
  gpuTest(`a training step of the ${name} stays within its dispatch budget`, async (g) => {
    const { counts, budget } = await countStep(g, cfg, 2);
    console.log(
      `${name} (depth ${cfg.depth}, width ${cfg.width}): ${counts.total} dispatches ` +
        `(forward+backward ${counts.forwardBackward}, optimizer ${counts.optimizer} of ` +
        `${budget} allowed), ${counts.submits} submits`,
    );
    assert.ok(counts.optimizer <= budget, `optimizer: ${counts.optimizer} > ${budget}`);
    assert.ok(counts.forwardBackward <= forwardBackwardBudget(cfg.depth));
    // The token upload of the micro-batch and the loss read submit, plus one per 1024 dispatches.
    assert.ok(counts.submits <= 2 + Math.floor(counts.total / 1024), `${counts.submits} submits`);
  });
}
