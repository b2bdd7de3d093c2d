/**
 * Every backend against PyTorch: tests/fixtures/ops/golden.json (written by
 * scripts/golden_ops.py) holds a tiny configuration of linear, rmsnorm, rotary, windowed
 * attention, softcapped cross-entropy, and two AdamW and Muon steps; outputs and gradients of
 * L = sum(out * r) must match.
 */
import { testOnBackend } from "../backends.ts";
import {
  AdamW,
  attention,
  crossEntropy,
  linear,
  mean,
  mul,
  Muon,
  Parameter,
  rmsnorm,
  rotary,
  rotaryTables,
  sum,
  Tape,
  type Tensor,
} from "../../src/engine/mod.ts";
import type { Backend } from "../../src/engine/backend.ts";
import { assertClose, BACKENDS } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Fixture = Record<string, any>;
const golden: Record<string, Fixture> = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/ops/golden.json", import.meta.url)),
);

const F32 = (a: number[]) => Float32Array.from(a);
const ATOL = 2e-5, RTOL = 2e-4;

/** Builds params, runs `f`, backprops L = sum(out * r), returns the output and the grads. */
async function run(
  be: Backend,
  inputs: { values: number[]; shape: number[] }[],
  r: number[],
  f: (tape: Tape, xs: Tensor[]) => Tensor,
): Promise<{ out: Float32Array; grads: Float32Array[] }> {
  const params = inputs.map((i) => new Parameter(be, i.shape, F32(i.values)));
  const tape = new Tape(be);
  try {
    const out = f(tape, params.map((p) => tape.use(p)));
    const flat = out.reshape([out.size]);
    tape.backward(sum(mul(flat, tape.tensor([out.size], F32(r)))));
    return {
      out: await out.read() as Float32Array,
      grads: await Promise.all(params.map((p) => p.readGrad())),
    };
  } finally {
    tape.dispose();
    for (const p of params) p.dispose();
  }
}

/** Sets each parameter's gradient to `g` through the tape: d/dp sum(p * g) = g. */
function feedGrad(be: Backend, p: Parameter, g: number[]): void {
  using tape = new Tape(be);
  p.zeroGrad();
  tape.backward(sum(mul(tape.use(p), tape.tensor(p.shape, F32(g)))));
}

for (const bc of BACKENDS) {
  const test = (name: string, fn: (be: Backend) => Promise<void>) =>
    testOnBackend(bc, `golden ${bc.name}: ${name} matches PyTorch`, fn);

  test("linear", async (be) => {
    const g = golden.linear;
    const res = await run(
      be,
      [{ values: g.x, shape: g.xShape }, { values: g.w, shape: g.wShape }],
      g.r,
      (_t, [x, w]) => linear(x, w),
    );
    assertClose(res.out, g.y, ATOL, RTOL, "y");
    assertClose(res.grads[0], g.dx, ATOL, RTOL, "dx");
    assertClose(res.grads[1], g.dw, ATOL, RTOL, "dw");
  });

  test("rmsnorm", async (be) => {
    const g = golden.rmsnorm;
    const res = await run(be, [{ values: g.x, shape: g.shape }], g.r, (_t, [x]) => rmsnorm(x));
    assertClose(res.out, g.y, ATOL, RTOL, "y");
    assertClose(res.grads[0], g.dx, ATOL, RTOL, "dx");
  });

  test("rotary", async (be) => {
    const g = golden.rotary;
    const [, T, , D] = g.shape;
    const tables = rotaryTables(be, T, D);
    const res = await run(
      be,
      [{ values: g.x, shape: g.shape }],
      g.r,
      (_t, [x]) => rotary(x, tables),
    );
    tables.cos.dispose();
    tables.sin.dispose();
    assertClose(res.out, g.y, ATOL, RTOL, "y");
    assertClose(res.grads[0], g.dx, ATOL, RTOL, "dx");
  });

  test("attention with a sliding window", async (be) => {
    const g = golden.attention;
    const res = await run(
      be,
      [g.q, g.k, g.v].map((values) => ({ values, shape: g.shape })),
      g.r,
      (_t, [q, k, v]) => attention(q, k, v, { window: g.window }),
    );
    assertClose(res.out, g.y, ATOL, RTOL, "y");
    assertClose(res.grads[0], g.dq, ATOL, RTOL, "dq");
    assertClose(res.grads[1], g.dk, ATOL, RTOL, "dk");
    assertClose(res.grads[2], g.dv, ATOL, RTOL, "dv");
  });

  test("softcapped cross-entropy", async (be) => {
    const g = golden.cross_entropy;
    const p = new Parameter(be, g.shape, F32(g.logits));
    const tape = new Tape(be);
    try {
      const losses = crossEntropy(tape.use(p), tape.ids([g.shape[0]], g.targets), {
        softcap: g.softcap,
      });
      const loss = mean(losses);
      tape.backward(loss);
      assertClose(await losses.read(), g.losses, ATOL, RTOL, "losses");
      assertClose([await loss.item()], [g.loss], ATOL, RTOL, "loss");
      assertClose(await p.readGrad(), g.dlogits, ATOL, RTOL, "dlogits");
    } finally {
      tape.dispose();
      p.dispose();
    }
  });

  test("two AdamW steps", async (be) => {
    const g = golden.adamw;
    const p = new Parameter(be, g.shape, F32(g.p0));
    const opt = new AdamW(be, [{
      params: [p],
      lr: g.lr,
      beta1: g.beta1,
      beta2: g.beta2,
      eps: g.eps,
      weightDecay: g.wd,
    }]);
    for (const grad of g.grads) {
      feedGrad(be, p, grad);
      opt.step();
    }
    assertClose(await p.read(), g.p2, 1e-6, 1e-5, "p after 2 steps");
    opt.dispose();
    p.dispose();
  });

  for (const name of ["muon_wide", "muon_tall"]) {
    test(`two Muon steps (${name})`, async (be) => {
      const g = golden[name];
      const p = new Parameter(be, g.shape, F32(g.p0));
      const opt = new Muon(be, [{
        params: [p],
        lr: g.lr,
        momentum: g.momentum,
        weightDecay: g.wd,
        beta2: g.beta2,
      }]);
      for (const grad of g.grads) {
        feedGrad(be, p, grad);
        opt.step();
      }
      assertClose(await p.read(), g.p2, 1e-5, 1e-4, "p after 2 steps");
      opt.dispose();
      p.dispose();
    });
  }
}
