/**
 * The recipe's optimizer on the raw engine Backend: AdamW for embeddings, lm_head and scalars,
 * Muon for every block matrix. Muon = Nesterov momentum, Frobenius pre-normalisation, 5 Polar
 * Express iterations (matmuls on the device), then NorMuon second-moment normalisation and the
 * cautious decoupled weight decay (the backend's `muonUpdate`). Group assignment, learning rates
 * and schedules come from recipe.ts; scripts/golden_train.py implements exactly this in PyTorch.
 */
import type { Backend, DeviceBuffer } from "../engine/backend.ts";
import type { Param } from "./model.ts";
import {
  lrMultiplier,
  muonMomentum,
  type OptimizerSetup,
  type ParamGroup,
  paramGroup,
  weightDecayAt,
} from "./recipe.ts";

/** Polar Express coefficients (a, b, c) per iteration: X <- a X + (b A + c A^2) X, A = X X^T. */
export const POLAR_EXPRESS: readonly (readonly [number, number, number])[] = [
  [8.156554524902461, -22.48329292557795, 15.878769915207462],
  [4.042929935166739, -2.808917465908714, 0.5000178451051316],
  [3.8916678022926607, -2.772484153217685, 0.5060648178503393],
  [3.285753657755655, -2.3681294933425376, 0.46449024233003106],
  [2.3465413258596377, -1.7097828382687081, 0.42323551408284075],
];

interface State {
  param: Param;
  group: ParamGroup;
  m?: DeviceBuffer<"f32">;
  v?: DeviceBuffer<"f32">;
  momentum?: DeviceBuffer<"f32">;
  secondMoment?: DeviceBuffer<"f32">;
}

/** AdamW + Muon over a model's parameters. */
export class Optimizer {
  readonly #states: State[];
  #adamStep = 0;

  /** Optimizer state for `params` of a model of residual width `width`. */
  constructor(
    readonly backend: Backend,
    params: Param[],
    width: number,
    readonly setup: OptimizerSetup,
  ) {
    this.#states = params.map((param) => {
      const group = paramGroup(param.name, width, setup);
      const zeros = (n: number) => {
        const b = backend.alloc("f32", n);
        backend.fill({ out: b, value: 0 });
        return b;
      };
      if (group.kind === "adamw") {
        return { param, group, m: zeros(param.size), v: zeros(param.size) };
      }
      if (param.shape.length !== 2) throw new Error(`Muon needs a matrix: ${param.name}`);
      const [rows, cols] = param.shape;
      return {
        param,
        group,
        momentum: zeros(param.size),
        secondMoment: zeros(rows >= cols ? rows : cols),
      };
    });
  }

  /** Bytes of optimizer state (f32 elements times 4). */
  get stateBytes(): number {
    let n = 0;
    for (const s of this.#states) {
      n += (s.m?.length ?? 0) + (s.v?.length ?? 0) + (s.momentum?.length ?? 0) +
        (s.secondMoment?.length ?? 0);
    }
    return 4 * n;
  }

  /** One update from the accumulated gradients: `step` counts optimizer steps from 0. */
  step(step: number, progress: number): void {
    const be = this.backend;
    const lrm = lrMultiplier(progress, this.setup);
    const mu = muonMomentum(step, this.setup);
    const wd = weightDecayAt(progress, this.setup);
    this.#adamStep++;
    for (const s of this.#states) {
      const p = s.param;
      if (s.group.kind === "adamw") {
        be.adamw({
          param: p.data,
          grad: p.grad,
          m: s.m!,
          v: s.v!,
          n: p.size,
          lr: s.group.lr * lrm,
          beta1: s.group.betas[0],
          beta2: s.group.betas[1],
          eps: s.group.eps,
          weightDecay: 0,
          step: this.#adamStep,
        });
        continue;
      }
      const [rows, cols] = p.shape;
      const u = be.alloc("f32", p.size);
      be.muonMomentum({ grad: p.grad, momentum: s.momentum!, out: u, n: p.size, beta: mu });
      const x = this.#orthogonalize(u, rows, cols);
      be.muonUpdate({
        param: p.data,
        update: x,
        secondMoment: s.secondMoment!,
        rows,
        cols,
        lr: s.group.lr * lrm * Math.sqrt(Math.max(1, rows / cols)),
        weightDecay: wd,
        beta2: this.setup.muonBeta2,
      });
      be.free(x);
    }
  }

  /**
   * Polar Express on the (rows, cols) matrix in `u` (consumed): the Gram matrix is taken on the
   * smaller side (X X^T when wide, X^T X when tall). Returns a new buffer.
   */
  #orthogonalize(u: DeviceBuffer<"f32">, rows: number, cols: number): DeviceBuffer<"f32"> {
    const be = this.backend;
    const n = rows * cols;
    let x = be.alloc("f32", n);
    be.normalizeFrobenius({ x: u, out: x, n, factor: 1.02, eps: 1e-6 });
    be.free(u);
    const tall = rows > cols;
    const s = tall ? cols : rows; // Gram side
    const gram = be.alloc("f32", s * s);
    const poly = be.alloc("f32", s * s);
    for (const [a, b, c] of POLAR_EXPRESS.slice(0, this.setup.orthoSteps)) {
      if (tall) {
        // A = X^T X (cols, cols); X <- a X + X (b A + c A A)
        be.matmul({ a: x, b: x, c: gram, m: cols, n: cols, k: rows, transA: true });
      } else {
        // A = X X^T (rows, rows); X <- a X + (b A + c A A) X
        be.matmul({ a: x, b: x, c: gram, m: rows, n: rows, k: cols, transB: true });
      }
      be.matmul({ a: gram, b: gram, c: poly, m: s, n: s, k: s, alpha: c });
      be.scale({ x: gram, out: poly, n: s * s, alpha: b, accumulate: true });
      const next = be.alloc("f32", n);
      be.scale({ x, out: next, n, alpha: a });
      if (tall) be.matmul({ a: x, b: poly, c: next, m: rows, n: cols, k: cols, beta: 1 });
      else be.matmul({ a: poly, b: x, c: next, m: rows, n: cols, k: rows, beta: 1 });
      be.free(x);
      x = next;
    }
    be.free(gram);
    be.free(poly);
    return x;
  }

  /** Free all optimizer state. */
  dispose(): void {
    for (const s of this.#states) {
      for (const b of [s.m, s.v, s.momentum, s.secondMoment]) if (b) this.backend.free(b);
    }
  }
}
