/**
 * Optimizers of the recipe, running on the backend's kernels: AdamW (embeddings, lm_head,
 * scalars) and Muon (block matrices: Nesterov momentum, Polar-Express orthogonalisation through
 * matmuls, NorMuon second-moment normalisation, cautious decoupled weight decay). Hyper-parameters
 * live in mutable groups so a schedule can change `lr`, `momentum` or `weightDecay` every step.
 * State buffers are allocated once per parameter and freed by `dispose()`. By default a group is
 * updated together, as upstream does: AdamW through `adamwGroup` (one dispatch per group on a
 * GPU), Muon with the matrices of one shape stacked, so the Polar-Express iterations run as
 * batched matmuls and a step costs a few dispatches per shape instead of ~30 per matrix.
 * `{ grouped: false }` keeps the per-tensor path (the reference the grouped one is tested on).
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

/** Options of {@linkcode AdamW} and {@linkcode Muon}. */
export interface OptimizerOptions {
  /**
   * Update each group's tensors together (AdamW: one `adamwGroup` call per group; Muon: stacks of
   * same-shape matrices through batched matmuls). Default true; false runs the per-tensor ops.
   * Both give the same parameters.
   */
  grouped?: boolean;
}

interface AdamState {
  m: DeviceBuffer<"f32">;
  v: DeviceBuffer<"f32">;
  step: number;
}

/** AdamW as upstream: decoupled decay, bias-corrected moments, one fused kernel per group. */
export class AdamW {
  /** The groups (mutate `lr` etc. between steps). */
  readonly groups: AdamWGroup[];
  #state = new Map<Parameter, AdamState>();
  readonly #grouped: boolean;

  /** An optimizer over `groups`. */
  constructor(readonly backend: Backend, groups: AdamWGroup[], options: OptimizerOptions = {}) {
    this.groups = groups;
    this.#grouped = options.grouped ?? true;
  }

  #stateOf(p: Parameter): AdamState {
    let s = this.#state.get(p);
    if (!s) {
      const be = this.backend;
      s = { m: be.alloc("f32", p.size), v: be.alloc("f32", p.size), step: 0 };
      be.fill({ out: s.m, value: 0 });
      be.fill({ out: s.v, value: 0 });
      this.#state.set(p, s);
    }
    return s;
  }

  /** Update every parameter that has a gradient. */
  step(): void {
    const be = this.backend;
    for (const g of this.groups) {
      if (this.#grouped) {
        const items = g.params.flatMap((p) => {
          const grad = p.grad;
          if (!grad) return [];
          const s = this.#stateOf(p);
          s.step++;
          return [{ param: p.buffer, grad, m: s.m, v: s.v, n: p.size, step: s.step }];
        });
        if (items.length === 0) continue;
        be.adamwGroup({
          items,
          lr: g.lr,
          beta1: g.beta1 ?? 0.8,
          beta2: g.beta2 ?? 0.95,
          eps: g.eps ?? 1e-10,
          weightDecay: g.weightDecay ?? 0,
        });
        continue;
      }
      for (const p of g.params) {
        const grad = p.grad;
        if (!grad) continue;
        const s = this.#stateOf(p);
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
  readonly #grouped: boolean;

  /** An optimizer over `groups`; every parameter must be 2-D. */
  constructor(readonly backend: Backend, groups: MuonGroup[], options: OptimizerOptions = {}) {
    for (const g of groups) {
      for (const p of g.params) {
        if (p.rank !== 2) throw new RangeError(`Muon: ${p.name || "parameter"} is not 2-D`);
      }
    }
    this.groups = groups;
    this.#grouped = options.grouped ?? true;
  }

  #stateOf(p: Parameter): MuonState {
    let s = this.#state.get(p);
    if (!s) {
      const be = this.backend;
      const [rows, cols] = p.shape;
      s = {
        momentum: be.alloc("f32", p.size),
        second: be.alloc("f32", rows >= cols ? rows : cols),
      };
      be.fill({ out: s.momentum, value: 0 });
      be.fill({ out: s.second, value: 0 });
      this.#state.set(p, s);
    }
    return s;
  }

  /** Update every parameter that has a gradient. */
  step(): void {
    for (const g of this.groups) {
      const params = g.params.filter((p) => p.grad !== null);
      const stacks = this.#grouped ? muonStacks(params) : params.map((p) => [p]);
      for (const stack of stacks) this.#stepStack(g, stack);
    }
  }

  /** One update of same-shape matrices: momentum, Polar Express (batched), NorMuon, apply. */
  #stepStack(g: MuonGroup, stack: Parameter[]): void {
    const be = this.backend;
    const [rows, cols] = stack[0].shape;
    const n = rows * cols;
    const states = stack.map((p) => this.#stateOf(p));
    const beta = g.momentum ?? 0.95;
    const lr = g.lr * Math.sqrt(Math.max(1, rows / cols));
    const weightDecay = g.weightDecay ?? 0;
    const beta2 = g.beta2 ?? 0.95;
    const normed = be.alloc("f32", stack.length * n);
    if (this.#grouped) {
      be.muonMomentumStack({
        grads: stack.map((p) => p.grad!),
        momenta: states.map((s) => s.momentum),
        out: normed,
        n,
        beta,
      });
    } else {
      const x = be.alloc("f32", n);
      be.muonMomentum({ grad: stack[0].grad!, momentum: states[0].momentum, out: x, n, beta });
      be.normalizeFrobenius({ x, out: normed, n });
      be.free(x);
    }
    const update = orthogonalize(be, normed, rows, cols, g.nsSteps ?? 5, stack.length);
    if (this.#grouped) {
      be.muonUpdateStack({
        params: stack.map((p) => p.buffer),
        update,
        secondMoments: states.map((s) => s.second),
        rows,
        cols,
        lr,
        weightDecay,
        beta2,
      });
    } else {
      be.muonUpdate({
        param: stack[0].buffer,
        update,
        secondMoment: states[0].second,
        rows,
        cols,
        lr,
        weightDecay,
        beta2,
      });
    }
    be.free(update);
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
 * With `batch` > 1, X is a stack of `batch` matrices and every step is one batched matmul.
 */
export function orthogonalize(
  be: Backend,
  x: DeviceBuffer<"f32">,
  rows: number,
  cols: number,
  steps: number,
  batch = 1,
): DeviceBuffer<"f32"> {
  const tall = rows > cols;
  const s = tall ? cols : rows; // side of the Gram matrix
  const a = be.alloc("f32", batch * s * s), b = be.alloc("f32", batch * s * s);
  let cur = x, next = be.alloc("f32", batch * rows * cols);
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
      batch,
    });
    // B = b A + c A A
    be.scale({ x: a, out: b, n: batch * s * s, alpha: cb });
    be.matmul({ a, b: a, c: b, m: s, n: s, k: s, alpha: cc, beta: 1, batch });
    // next = a X + (B X | X B)
    be.scale({ x: cur, out: next, n: batch * rows * cols, alpha: ca });
    if (tall) be.matmul({ a: cur, b, c: next, m: rows, n: cols, k: cols, beta: 1, batch });
    else be.matmul({ a: b, b: cur, c: next, m: rows, n: cols, k: rows, beta: 1, batch });
    [cur, next] = [next, cur];
  }
  be.free(a);
  be.free(b);
  be.free(next);
  return cur;
}

/** Most elements in one Muon stack (64 MiB of f32): far under every device's binding limit. */
const MAX_STACK_ELEMENTS = 1 << 24;

/**
 * The parameters grouped by shape (in order of first appearance), each group cut into stacks of
 * at most MAX_STACK_ELEMENTS elements.
 */
function muonStacks(params: Parameter[]): Parameter[][] {
  const byShape = new Map<string, Parameter[]>();
  for (const p of params) {
    const key = p.shape.join("x");
    const list = byShape.get(key);
    if (list) list.push(p);
    else byShape.set(key, [p]);
  }
  const stacks: Parameter[][] = [];
  for (const list of byShape.values()) {
    const per = Math.max(1, Math.floor(MAX_STACK_ELEMENTS / list[0].size));
    for (let i = 0; i < list.length; i += per) stacks.push(list.slice(i, i + per));
  }
  return stacks;
}
