/**
 * A tiny GPT-like block built only from the engine's public frontend (embedding, rmsnorm,
 * rotary, windowed attention, value-embedding gate, ReLU^2 MLP, softcapped cross-entropy) with
 * AdamW + Muon: the "training-like step" of the memory and training tests and the engine bench.
 */
import type { Backend } from "../../src/engine/backend.ts";
import {
  AdamW,
  add,
  attention,
  crossEntropy,
  embedding,
  linear,
  mean,
  mul,
  Muon,
  narrow,
  Parameter,
  relu2,
  rmsnorm,
  rotary,
  type RotaryTables,
  rotaryTables,
  scale,
  sigmoid,
  Tape,
} from "../../src/engine/mod.ts";
import { Rng } from "./helpers.ts";

/** Sizes of the tiny model. */
export interface TinyConfig {
  vocab: number;
  width: number;
  heads: number;
  batch: number;
  seq: number;
  window: number;
}

/** Default: 2 x 16 tokens, width 32, 2 heads of 16, vocab 64. */
export const TINY: TinyConfig = { vocab: 64, width: 32, heads: 2, batch: 2, seq: 16, window: 8 };

/** The model's parameters, optimizers and one training step. */
export class TinyModel {
  readonly params: Record<string, Parameter> = {};
  readonly rope: RotaryTables;
  readonly adam: AdamW;
  readonly muon: Muon;

  constructor(readonly be: Backend, readonly cfg: TinyConfig = TINY, seed = 1) {
    const rng = new Rng(seed);
    const { vocab: V, width: C, heads: H } = cfg;
    const u = (shape: number[], bound: number) =>
      new Parameter(be, shape, rng.uniform(shape[0] * (shape[1] ?? 1), -bound, bound));
    const b = Math.sqrt(3 / C);
    this.params = {
      wte: u([V, C], 1),
      ve: u([V, C], b),
      wq: u([C, C], b),
      wk: u([C, C], b),
      wv: u([C, C], b),
      wo: u([C, C], b),
      gate: u([H, 8], b),
      fc: u([4 * C, C], b),
      proj: u([C, 4 * C], b),
      lm: u([V, C], 0.01),
      lambda: new Parameter(be, [], Float32Array.of(1)),
    };
    this.rope = rotaryTables(be, cfg.seq, C / H);
    const p = this.params;
    this.adam = new AdamW(be, [
      { params: [p.wte, p.ve], lr: 0.05 },
      { params: [p.lm], lr: 0.004 },
      { params: [p.lambda], lr: 0.01 },
    ]);
    this.muon = new Muon(be, [{
      params: [p.wq, p.wk, p.wv, p.wo, p.gate, p.fc, p.proj],
      lr: 0.02,
      momentum: 0.9,
      weightDecay: 0.01,
    }]);
  }

  /** Forward + backward + optimizer step on one batch; returns the loss (read back). */
  async step(ids: Int32Array, targets: Int32Array): Promise<number> {
    const { batch: B, seq: T, heads: H, width: C, window } = this.cfg;
    const D = C / H;
    const p = this.params;
    let loss: number;
    {
      using tape = new Tape(this.be);
      const idx = tape.ids([B, T], ids);
      const x0 = rmsnorm(embedding(p.wte, idx));
      const xn = rmsnorm(mul(x0, p.lambda));
      const q = rotary(rmsnorm(linear(xn, p.wq).reshape([B, T, H, D])), this.rope);
      const k = rotary(rmsnorm(linear(xn, p.wk).reshape([B, T, H, D])), this.rope);
      // value embedding with a per-head gate on x[..., :8]
      const g = scale(sigmoid(linear(narrow(xn, 0, 8), p.gate)), 2).reshape([B, T, H, 1]);
      const ve = mul(embedding(p.ve, idx).reshape([B, T, H, D]), g);
      const v = add(linear(xn, p.wv).reshape([B, T, H, D]), ve);
      const att = linear(attention(q, k, v, { window }), p.wo);
      const x1 = add(mul(x0, p.lambda), att);
      const x2 = add(x1, linear(relu2(linear(rmsnorm(x1), p.fc)), p.proj));
      const logits = linear(rmsnorm(x2), p.lm);
      const l = mean(crossEntropy(logits, tape.ids([B, T], targets), { softcap: 15 }));
      tape.backward(l);
      loss = await l.item();
    }
    this.adam.step();
    this.muon.step();
    this.adam.zeroGrad();
    this.muon.zeroGrad();
    return loss;
  }

  /** Frees parameters, tables and optimizer state. */
  dispose(): void {
    this.adam.dispose();
    this.muon.dispose();
    for (const p of Object.values(this.params)) p.dispose();
    this.rope.cos.dispose();
    this.rope.sin.dispose();
  }
}

/** A fixed batch: a repeating pattern the model can learn (targets = next token). */
export function tinyBatch(cfg: TinyConfig = TINY): { ids: Int32Array; targets: Int32Array } {
  const n = cfg.batch * cfg.seq;
  const ids = new Int32Array(n), targets = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = (i * 7) % cfg.vocab;
    targets[i] = ((i + 1) * 7) % cfg.vocab;
  }
  return { ids, targets };
}
