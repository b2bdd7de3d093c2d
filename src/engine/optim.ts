/**
 * Optimizers of the recipe, running on the backend's kernels: AdamW (embeddings, lm_head,
 * scalars) and Muon (block matrices: Nesterov momentum, Polar-Express orthogonalisation through
 * matmuls, NorMuon second-moment normalisation, cautious decoupled weight decay). Hyper-parameters
 * live in mutable groups so a schedule can change `lr`, `momentum` or `weightDecay` every step.
 * State buffers are allocated once per parameter and freed by `dispose()`.
 *
 * @module
 */
import type { Backend, DeviceBuffer } from "./backend.ts";
import type { Parameter } from "./tensor.ts";

/** One AdamW parameter group (defaults: the recipe's betas 0.8/0.95, eps 1e-10, no decay). */
export interface AdamWGroup {
  /** Parameters updated with these settings. */
  params: Parameter[];
  /** Learning rate (mutable: schedules write it before each step). */
  lr: number;
  /** First-moment decay. Default 0.8. */
  beta1?: number;
  /** Second-moment decay. Default 0.95. */
  beta2?: number;
  /** Denominator epsilon. Default 1e-10. */
  eps?: number;
  /** Decoupled weight decay. Default 0. */
  weightDecay?: number;
}

interface AdamState {
  m: DeviceBuffer<"f32">;
  v: DeviceBuffer<"f32">;
  step: number;
}

/** AdamW as upstream: decoupled decay, bias-corrected moments, one fused kernel per tensor. */
export class AdamW {
  /** The groups (mutate `lr` etc. between steps). */
  readonly groups: AdamWGroup[];
  #state = new Map<Parameter, AdamState>();

  /** An optimizer over `groups`. */
  constructor(readonly backend: Backend, groups: AdamWGroup[]) {
    this.groups = groups;
  }

  /** Update every parameter that has a gradient. */
  step(): void {
    const be = this.backend;
    for (const g of this.groups) {
      for (const p of g.params) {
        const grad = p.grad;
        if (!grad) continue;
        let s = this.#state.get(p);
        if (!s) {
          s = { m: be.alloc("f32", p.size), v: be.alloc("f32", p.size), step: 0 };
          be.fill({ out: s.m, value: 0 });
          be.fill({ out: s.v, value: 0 });
          this.#state.set(p, s);
        }
        s.step++;
        be.adamw({
          param: p.buffer,
          grad,
          m: s.m,
          v: s.v,
          n: p.size,
          lr: g.lr,
          beta1: g.beta1 ?? 0.8,
          beta2: g.beta2 ?? 0.95,
          eps: g.eps ?? 1e-10,
          weightDecay: g.weightDecay ?? 0,
          step: s.step,
        });
      }
    }
  }

  /** Clear every parameter's gradient. */
  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.zeroGrad();
  }

  /** Free the moment buffers. */
  dispose(): void {
    for (const s of this.#state.values()) {
      this.backend.free(s.m);
      this.backend.free(s.v);
    }
    this.#state.clear();
  }
}

/** Polar-Express coefficients (a, b, c) per iteration, as upstream (5 iterations). */
export const POLAR_EXPRESS_COEFFS: readonly (readonly [number, number, number])[] = [
  [8.156554524902461, -22.48329292557795, 15.878769915207462],
  [4.042929935166739, -2.808917465908714, 0.5000178451051316],
  [3.8916678022926607, -2.772484153217685, 0.5060648178503393],
  [3.285753657755655, -2.3681294933425376, 0.46449024233003106],
  [2.3465413258596377, -1.7097828382687081, 0.42323551169305323],
];

/** One Muon parameter group (2-D parameters only). */
export interface MuonGroup {
  /** 2-D parameters (rows, cols). */
  params: Parameter[];
  /** Base learning rate; each matrix uses lr * sqrt(max(1, rows/cols)). */
  lr: number;
  /** Nesterov momentum (upstream ramps 0.85 -> 0.95). Default 0.95. */
  momentum?: number;
  /** Cautious decoupled weight decay. Default 0. */
  weightDecay?: number;
  /** Second-moment decay of NorMuon. Default 0.95. */
  beta2?: number;
  /** Orthogonalisation iterations (<= 5). Default 5. */
  nsSteps?: number;
}

interface MuonState {
  momentum: DeviceBuffer<"f32">;
  second: DeviceBuffer<"f32">;
}

/**
 * Muon as upstream: momentum -> Frobenius normalisation -> Polar Express -> NorMuon scaling ->
 * cautious update, all on the device (the orthogonalisation is plain matmuls).
 */
export class Muon {
  /** The groups (mutate `lr`, `momentum`, `weightDecay` between steps). */
  readonly groups: MuonGroup[];
  #state = new Map<Parameter, MuonState>();

  /** An optimizer over `groups`; every parameter must be 2-D. */
  constructor(readonly backend: Backend, groups: MuonGroup[]) {
    for (const g of groups) {
      for (const p of g.params) {
        if (p.rank !== 2) throw new RangeError(`Muon: ${p.name || "parameter"} is not 2-D`);
      }
    }
    this.groups = groups;
  }

  /** Update every parameter that has a gradient. */
  step(): void {
    const be = this.backend;
    for (const g of this.groups) {
      for (const p of g.params) {
        const grad = p.grad;
        if (!grad) continue;
        const [rows, cols] = p.shape;
        let s = this.#state.get(p);
        if (!s) {
          s = {
            momentum: be.alloc("f32", p.size),
            second: be.alloc("f32", rows >= cols ? rows : cols),
          };
          be.fill({ out: s.momentum, value: 0 });
          be.fill({ out: s.second, value: 0 });
          this.#state.set(p, s);
        }
        const x = be.alloc("f32", p.size);
        be.muonMomentum({
          grad,
          momentum: s.momentum,
          out: x,
          n: p.size,
          beta: g.momentum ?? 0.95,
        });
        const normed = be.alloc("f32", p.size);
        be.normalizeFrobenius({ x, out: normed, n: p.size });
        be.free(x);
        const update = orthogonalize(be, normed, rows, cols, g.nsSteps ?? 5);
        be.muonUpdate({
          param: p.buffer,
          update,
          secondMoment: s.second,
          rows,
          cols,
          lr: g.lr * Math.sqrt(Math.max(1, rows / cols)),
          weightDecay: g.weightDecay ?? 0,
          beta2: g.beta2 ?? 0.95,
        });
        be.free(update);
      }
    }
  }

  /** Clear every parameter's gradient. */
  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.zeroGrad();
  }

  /** Free the momentum buffers. */
  dispose(): void {
    for (const s of this.#state.values()) {
      this.backend.free(s.momentum);
      this.backend.free(s.second);
    }
    this.#state.clear();
  }
}

/**
 * Polar-Express iterations on X (rows, cols), consuming X (freed) and returning a new buffer.
 * Wide: A = X X^T, B = b A + c A A, X = a X + B X. Tall: A = X^T X, X = a X + X B.
 */
export function orthogonalize(
  be: Backend,
  x: DeviceBuffer<"f32">,
  rows: number,
  cols: number,
  steps: number,
): DeviceBuffer<"f32"> {
  const tall = rows > cols;
  const s = tall ? cols : rows; // side of the Gram matrix
  const a = be.alloc("f32", s * s), b = be.alloc("f32", s * s);
  let cur = x, next = be.alloc("f32", rows * cols);
  for (const [ca, cb, cc] of POLAR_EXPRESS_COEFFS.slice(0, steps)) {
    // A (s, s) = X X^T (wide) or X^T X (tall)
    be.matmul({
      a: cur,
      b: cur,
      c: a,
      m: s,
      n: s,
      k: tall ? rows : cols,
      transA: tall,
      transB: !tall,
    });
    // B = b A + c A A
    be.scale({ x: a, out: b, n: s * s, alpha: cb });
    be.matmul({ a, b: a, c: b, m: s, n: s, k: s, alpha: cc, beta: 1 });
    // next = a X + (B X | X B)
    be.scale({ x: cur, out: next, n: rows * cols, alpha: ca });
    if (tall) be.matmul({ a: cur, b, c: next, m: rows, n: cols, k: cols, beta: 1 });
    else be.matmul({ a: b, b: cur, c: next, m: rows, n: cols, k: rows, beta: 1 });
    [cur, next] = [next, cur];
  }
  be.free(a);
  be.free(b);
  be.free(next);
  return cur;
}
