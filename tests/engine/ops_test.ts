/**
 * Every differentiable op, forward and backward, on every available backend: the analytic
 * gradient of L = sum(op(x) * r) (r random) is checked against central finite differences of the
 * same forward, element by element, with per-op tolerances (tinygrad style). When WebGPU runs,
 * its outputs and gradients are also checked against the CPU backend's.
 */
import assert from "node:assert/strict";
import type { Backend } from "../../src/engine/backend.ts";
import {
  add,
  attention,
  crossEntropy,
  embedding,
  linear,
  matmul,
  mean,
  mul,
  narrow,
  Parameter,
  relu2,
  rmsnorm,
  rotary,
  rotaryTables,
  scale,
  sigmoid,
  softcapTanh,
  sum,
  Tape,
  type Tensor,
} from "../../src/engine/mod.ts";
import { assertClose, BACKENDS, Rng } from "./helpers.ts";

/** One op under test: f32 inputs (Parameters) and a function building the output on a tape. */
interface OpCase {
  name: string;
  inputs: { shape: number[]; init?: (rng: Rng, n: number) => Float32Array }[];
  run: (tape: Tape, x: Parameter[], be: Backend) => Tensor;
  /** Finite-difference tolerances. */
  atol?: number;
  rtol?: number;
  /** Finite-difference step. */
  eps?: number;
}

/** Values bounded away from 0 (for relu2's kink). */
const awayFromZero = (rng: Rng, n: number): Float32Array =>
  rng.uniform(n, 0.2, 1.2).map((v, i) => (i % 3 === 0 ? -v : v));

const CASES: OpCase[] = [
  {
    name: "matmul (m,k)x(k,n)",
    inputs: [{ shape: [3, 4] }, { shape: [4, 5] }],
    run: (_t, [a, b]) => matmul(tapeIn(_t, a), b),
  },
  {
    name: "matmul transA transB",
    inputs: [{ shape: [4, 3] }, { shape: [5, 4] }],
    run: (t, [a, b]) => matmul(tapeIn(t, a), b, { transA: true, transB: true }),
  },
  {
    name: "matmul batched (2,3,4)x(2,4,2), transB shared",
    inputs: [{ shape: [2, 3, 4] }, { shape: [2, 4, 2] }, { shape: [3, 2] }],
    run: (t, [a, b, c]) => matmul(matmul(tapeIn(t, a), b), c, { transB: true }),
  },
  {
    name: "matmul batched transA",
    inputs: [{ shape: [2, 4, 3] }, { shape: [2, 4, 2] }],
    run: (t, [a, b]) => matmul(tapeIn(t, a), b, { transA: true }),
  },
  {
    name: "linear (2,3,4) w(5,4)",
    inputs: [{ shape: [2, 3, 4] }, { shape: [5, 4] }],
    run: (t, [x, w]) => linear(tapeIn(t, x), w),
  },
  {
    name: "embedding with repeated ids",
    inputs: [{ shape: [6, 3] }],
    run: (t, [w]) => embedding(w, t.ids([2, 4], [1, 5, 1, 0, 5, 5, 2, 1])),
  },
  {
    name: "add broadcast (2,3,4)+(3,1)+scalar",
    inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }, { shape: [1] }],
    run: (t, [a, b, c]) => add(add(tapeIn(t, a), b), c),
  },
  {
    name: "mul broadcast (2,3,2,4)*(2,3,2,1) and learnable scalar",
    inputs: [{ shape: [2, 3, 2, 4] }, { shape: [2, 3, 2, 1] }, { shape: [] }],
    run: (t, [a, b, c]) => mul(c, mul(tapeIn(t, a), b)),
  },
  {
    name: "mul same shape, operand used twice",
    inputs: [{ shape: [3, 5] }],
    run: (t, [a]) => {
      const x = tapeIn(t, a);
      return mul(x, x);
    },
  },
  {
    name: "scale",
    inputs: [{ shape: [7] }],
    run: (t, [a]) => scale(tapeIn(t, a), -2.5),
  },
  {
    name: "relu2",
    inputs: [{ shape: [4, 6], init: awayFromZero }],
    run: (t, [a]) => relu2(tapeIn(t, a)),
  },
  {
    name: "sigmoid",
    inputs: [{ shape: [4, 6], init: (r, n) => r.uniform(n, -3, 3) }],
    run: (t, [a]) => sigmoid(tapeIn(t, a)),
  },
  {
    name: "softcapTanh cap 2",
    inputs: [{ shape: [4, 6], init: (r, n) => r.uniform(n, -4, 4) }],
    run: (t, [a]) => softcapTanh(tapeIn(t, a), 2),
  },
  {
    name: "rmsnorm",
    inputs: [{ shape: [3, 8] }],
    run: (t, [a]) => rmsnorm(tapeIn(t, a)),
    rtol: 3e-2,
  },
  {
    name: "rotary (2,5,2,8)",
    inputs: [{ shape: [2, 5, 2, 8] }],
    run: (t, [a], be) => {
      const tables = rotaryTables(be, 5, 8);
      t.onDispose(() => {
        tables.cos.dispose();
        tables.sin.dispose();
      });
      return rotary(tapeIn(t, a), tables);
    },
  },
  {
    name: "attention causal (2,6,2,4)",
    inputs: [{ shape: [2, 6, 2, 4] }, { shape: [2, 6, 2, 4] }, { shape: [2, 6, 2, 4] }],
    run: (t, [q, k, v]) => attention(tapeIn(t, q), k, v),
  },
  {
    name: "attention window 2 (1,7,2,4)",
    inputs: [{ shape: [1, 7, 2, 4] }, { shape: [1, 7, 2, 4] }, { shape: [1, 7, 2, 4] }],
    run: (t, [q, k, v]) => attention(tapeIn(t, q), k, v, { window: 2 }),
  },
  {
    name: "attention seq 150 > query block, window 70 (1,150,2,4)",
    inputs: [{ shape: [1, 150, 2, 4] }, { shape: [1, 150, 2, 4] }, { shape: [1, 150, 2, 4] }],
    run: (t, [q, k, v]) => attention(tapeIn(t, q), k, v, { window: 70 }),
  },
  {
    name: "attention seq 150, full causal, scale 0.7 (2,150,1,4)",
    inputs: [{ shape: [2, 150, 1, 4] }, { shape: [2, 150, 1, 4] }, { shape: [2, 150, 1, 4] }],
    run: (t, [q, k, v]) => attention(tapeIn(t, q), k, v, { scale: 0.7 }),
  },
  {
    name: "narrow last dim [2, 5)",
    inputs: [{ shape: [3, 7] }],
    run: (t, [a]) => narrow(tapeIn(t, a), 2, 3),
  },
  {
    name: "sum and mean",
    inputs: [{ shape: [2, 3, 4] }],
    run: (t, [a]) => {
      const x = tapeIn(t, a);
      return add(sum(x), mean(mul(x, x)));
    },
  },
  {
    name: "reshape views feeding two consumers",
    inputs: [{ shape: [2, 6] }, { shape: [2, 3] }],
    run: (t, [a, w]) => {
      const x = tapeIn(t, a);
      const y = linear(x.reshape([4, 3]), w).reshape([8]);
      const z = x.reshape([12]);
      return add(sum(y), mul(z, z.reshape([3, 4]).reshape([-1])));
    },
  },
  {
    name: "crossEntropy with ignored target",
    inputs: [{ shape: [5, 7], init: (r, n) => r.uniform(n, -3, 3) }],
    run: (t, [l]) => crossEntropy(tapeIn(t, l), t.ids([5], [3, 0, 6, -1, 2])),
  },
  {
    name: "crossEntropy softcap 3, mean",
    inputs: [{ shape: [2, 3, 7], init: (r, n) => r.uniform(n, -5, 5) }],
    run: (t, [l]) =>
      mean(crossEntropy(tapeIn(t, l), t.ids([2, 3], [1, 2, 3, 4, 5, 6]), { softcap: 3 })),
  },
];

/** Routes a Parameter through the tape so every case has a taped input. */
function tapeIn(tape: Tape, p: Parameter): Tensor {
  return tape.use(p);
}

interface Evaluated {
  out: Float32Array;
  grads: Float32Array[];
}

/** Forward + backward of L = sum(out * r). */
async function evaluate(be: Backend, c: OpCase, params: Parameter[], r: Float32Array | null) {
  const tape = new Tape(be);
  try {
    const out = c.run(tape, params, be);
    const values = await out.read() as Float32Array;
    const weights = r ?? new Rng(99).uniform(out.size);
    for (const p of params) p.zeroGrad();
    const loss = sum(mul(out.reshape([out.size]), tape.tensor([out.size], weights)));
    tape.backward(loss);
    const grads = await Promise.all(params.map((p) => p.readGrad()));
    return { out: values, grads, weights } as Evaluated & { weights: Float32Array };
  } finally {
    tape.dispose();
  }
}

/** L(x) = sum(out * r) in f64 with the forward only. */
async function lossAt(be: Backend, c: OpCase, params: Parameter[], r: Float32Array) {
  const tape = new Tape(be, { grad: false });
  try {
    const out = await c.run(tape, params, be).read() as Float32Array;
    let l = 0;
    for (let i = 0; i < out.length; i++) l += out[i] * r[i];
    return l;
  } finally {
    tape.dispose();
  }
}

function makeParams(
  be: Backend,
  c: OpCase,
  seed: number,
): { params: Parameter[]; values: Float32Array[] } {
  const rng = new Rng(seed);
  const values = c.inputs.map((i) => {
    const n = i.shape.reduce((a, b) => a * b, 1);
    return i.init ? i.init(rng, n) : rng.uniform(n);
  });
  const params = c.inputs.map((i, k) => new Parameter(be, i.shape, values[k], { name: `in${k}` }));
  return { params, values };
}

for (const bc of BACKENDS) {
  for (const c of CASES) {
    Deno.test({
      name: `ops ${bc.name}: ${c.name}: gradient matches finite differences`,
      ignore: bc.skip !== undefined,
      fn: async () => {
        const be = await bc.create();
        try {
          const { params, values } = makeParams(be, c, 1234);
          const { grads, weights } = await evaluate(be, c, params, null) as Evaluated & {
            weights: Float32Array;
          };
          const eps = c.eps ?? 1e-2;
          const rng = new Rng(7);
          for (let k = 0; k < params.length; k++) {
            const x = values[k].slice();
            // Up to 12 elements per input keeps the suite fast on slow adapters.
            const picks = x.length <= 12
              ? [...x.keys()]
              : Array.from({ length: 12 }, () => Math.floor(rng.next() * x.length));
            const numeric: number[] = [], analytic: number[] = [];
            for (const i of picks) {
              const keep = x[i];
              x[i] = keep + eps;
              params[k].set(x);
              const up = await lossAt(be, c, params, weights);
              x[i] = keep - eps;
              params[k].set(x);
              const down = await lossAt(be, c, params, weights);
              x[i] = keep;
              params[k].set(x);
              numeric.push((up - down) / (2 * eps));
              analytic.push(grads[k][i]);
            }
            assertClose(analytic, numeric, c.atol ?? 2e-3, c.rtol ?? 2e-2, `${c.name} d/d in${k}`);
          }
          for (const p of params) p.dispose();
          assert.equal(be.memory().liveBuffers, 0, "every buffer freed");
        } finally {
          be.destroy();
        }
      },
    });
  }
}

const webgpu = BACKENDS.find((b) => b.name === "webgpu")!;
const cpu = BACKENDS.find((b) => b.name === "cpu")!;
for (const c of CASES) {
  Deno.test({
    name: `ops cpu vs webgpu: ${c.name}: outputs and gradients agree`,
    ignore: webgpu.skip !== undefined,
    fn: async () => {
      const results: Evaluated[] = [];
      for (const bc of [cpu, webgpu]) {
        const be = await bc.create();
        try {
          const { params } = makeParams(be, c, 4321);
          results.push(await evaluate(be, c, params, null));
          for (const p of params) p.dispose();
        } finally {
          be.destroy();
        }
      }
      const [a, b] = results;
      assertClose(b.out, a.out, 1e-4, 1e-3, `${c.name} output`);
      a.grads.forEach((g, k) => assertClose(b.grads[k], g, 1e-4, 1e-3, `${c.name} grad in${k}`));
    },
  });
}
