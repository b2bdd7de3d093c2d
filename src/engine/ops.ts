/**
 * Differentiable functional ops over `Tensor`s. Each op runs the backend's forward at call time
 * and records the matching backward on the tape of its inputs (at least one input must come
 * from a `Tape`: tape.tensor / tape.ids or another op's output; Parameters have no tape).
 * Shapes follow PyTorch: `linear(x, w)` is x @ w^T with w (out, in); attention takes q, k, v of
 * (B, T, H, D) and returns (B, T, H*D).
 *
 * @module
 */
import type { Backend, DeviceBuffer } from "./backend.ts";
import { numel, Parameter, type Tape, type Tensor } from "./tensor.ts";

function tapeOf(inputs: readonly Tensor[], op: string): Tape {
  for (const t of inputs) if (t.tape) return t.tape;
  throw new Error(`${op}: no input comes from a Tape (create inputs with tape.tensor/tape.ids)`);
}

function sameBackend(inputs: readonly Tensor[], op: string): Backend {
  const be = inputs[0].backend;
  for (const t of inputs) {
    if (t.backend !== be) throw new Error(`${op}: inputs live on different backends`);
  }
  return be;
}

function f32(t: Tensor, op: string): DeviceBuffer<"f32"> {
  if (t.dtype !== "f32") throw new TypeError(`${op}: expected an f32 tensor`);
  return t.buffer as DeviceBuffer<"f32">;
}

function shapeError(op: string, detail: string): never {
  throw new RangeError(`${op}: ${detail}`);
}

function eqShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Options of {@linkcode matmul}. */
export interface MatmulOptions {
  /** Use the transpose of a's last two dims. */
  transA?: boolean;
  /** Use the transpose of b's last two dims. */
  transB?: boolean;
}

/**
 * Matrix product over the last two dims. a: (..., m, k) (or (..., k, m) with transA);
 * b: (k, n) shared by every batch item, or (..., k, n) with the same leading dims as a.
 * A 2-D b with transA is not supported (flatten first).
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor<"f32"> {
  const op = "matmul";
  const tape = tapeOf([a, b], op);
  const be = sameBackend([a, b], op);
  const transA = options.transA ?? false, transB = options.transB ?? false;
  if (a.rank < 2 || b.rank < 2) shapeError(op, "operands need rank >= 2");
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar, k = transA ? ar : ac;
  const kb = transB ? bc : br, n = transB ? br : bc;
  if (k !== kb) shapeError(op, `inner dims differ: [${a.shape}] x [${b.shape}]`);
  const lead = a.shape.slice(0, -2);
  const batch = numel(lead);
  const shared = b.rank === 2;
  if (!shared && !eqShape(b.shape.slice(0, -2), lead)) {
    shapeError(op, `batch dims differ: [${a.shape}] x [${b.shape}]`);
  }
  if (shared && transA && batch > 1) shapeError(op, "2-D b with batched transA a");
  const A = f32(a, op), B = f32(b, op);
  // With a shared b and plain a, the batch folds into m: one big GEMM.
  const fold = shared && !transA;
  const M = fold ? batch * m : m, nb = fold ? 1 : batch;
  const strides = { strideA: m * k, strideB: shared ? 0 : k * n, strideC: m * n };
  return tape.record(
    [...lead, m, n],
    [a, b],
    (C) => be.matmul({ a: A, b: B, c: C, m: M, n, k, transA, transB, batch: nb, ...strides }),
    (G) => {
      const ga = tape.gradSlot(a);
      if (ga) {
        // dA = dC @ op(B)^T, stored as A is (transposed when transA).
        const beta = ga.accumulate ? 1 : 0;
        if (!transA) {
          be.matmul({
            a: G,
            b: B,
            c: ga.buffer,
            m: M,
            n: k,
            k: n,
            transB: !transB,
            beta,
            batch: nb,
            strideA: m * n,
            strideB: strides.strideB,
            strideC: m * k,
          });
        } else {
          // A stored (k, m): dA = op(B) @ dC^T
          be.matmul({
            a: B,
            b: G,
            c: ga.buffer,
            m: k,
            n: m,
            k: n,
            transA: transB,
            transB: true,
            beta,
            batch: nb,
            strideA: strides.strideB,
            strideB: m * n,
            strideC: m * k,
          });
        }
      }
      const gb = tape.gradSlot(b);
      if (gb) {
        const beta = gb.accumulate ? 1 : 0;
        // dB (as op(B)) = op(A)^T @ dC, summed over the batch when b is shared (folded into M).
        if (!transB) {
          be.matmul({
            a: A,
            b: G,
            c: gb.buffer,
            m: k,
            n,
            k: M,
            transA: !transA,
            beta,
            batch: nb,
            strideA: m * k,
            strideB: m * n,
            strideC: shared ? 0 : k * n,
          });
        } else {
          // B stored (n, k): dB = dC^T @ op(A)
          be.matmul({
            a: G,
            b: A,
            c: gb.buffer,
            m: n,
            n: k,
            k: M,
            transA: true,
            transB: transA,
            beta,
            batch: nb,
            strideA: m * n,
            strideB: m * k,
            strideC: shared ? 0 : k * n,
          });
        }
      }
    },
  );
}

/** x (..., in) @ w^T with w (out, in) -> (..., out), as torch's F.linear without bias. */
export function linear(x: Tensor, w: Tensor): Tensor<"f32"> {
  if (w.rank !== 2 || x.shape[x.rank - 1] !== w.shape[1]) {
    shapeError("linear", `[${x.shape}] x weight [${w.shape}]`);
  }
  return matmul(x, w, { transB: true });
}

/** table (vocab, dim) rows looked up by ids (...) -> (..., dim). */
export function embedding(table: Tensor, ids: Tensor): Tensor<"f32"> {
  const op = "embedding";
  if (ids.dtype !== "i32") throw new TypeError(`${op}: ids must be i32`);
  if (table.rank !== 2) shapeError(op, `table must be 2-D, got [${table.shape}]`);
  const tape = tapeOf([ids, table], op);
  const be = sameBackend([table, ids], op);
  const [vocab, dim] = table.shape;
  const tokens = ids.size;
  const I = ids.buffer as DeviceBuffer<"i32">, W = f32(table, op);
  return tape.record(
    [...ids.shape, dim],
    [table],
    (out) => be.embedding({ table: W, ids: I, out, tokens, vocab, dim }),
    (G) => {
      const gt = tape.gradSlot(table);
      if (gt) {
        be.embeddingBackward({
          ids: I,
          gradOut: G,
          gradTable: gt.buffer,
          tokens,
          vocab,
          dim,
          accumulate: gt.accumulate,
        });
      }
    },
  );
}

/** Broadcast shape of two shapes (numpy rules), or throws. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) shapeError("broadcast", `[${a}] vs [${b}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Pads to `rank` with leading 1s; a scalar [] becomes [1] so the backend sees rank >= 1. */
function padTo(shape: readonly number[], rank: number): number[] {
  const r = Math.max(rank, 1);
  if (r > 4) shapeError("broadcast", `rank ${r} > 4 is not supported`);
  return [...new Array(r - shape.length).fill(1), ...shape];
}

/** Gradient of a broadcast operand: reduce `G` (full) to the operand's shape into its slot. */
function reduceGrad(
  tape: Tape,
  t: Tensor,
  G: DeviceBuffer<"f32">,
  full: number[],
  alpha = 1,
): void {
  const slot = tape.gradSlot(t);
  if (!slot) return;
  const be = tape.backend;
  const small = padTo(t.shape, full.length);
  if (eqShape(small, full)) {
    be.scale({ x: G, out: slot.buffer, n: t.size, alpha, accumulate: slot.accumulate });
  } else {
    be.reduceTo({
      x: G,
      out: slot.buffer,
      shape: full,
      outShape: small,
      alpha,
      accumulate: slot.accumulate,
    });
  }
}

/** Gradient of `self` in self * other: G * other, reduced to self's shape. */
function mulGrad(
  tape: Tape,
  self: Tensor,
  other: DeviceBuffer<"f32">,
  G: DeviceBuffer<"f32">,
  full: number[],
  otherShape: number[],
): void {
  if (!self.requiresGrad) return;
  const be = tape.backend;
  const product = {
    op: "mul",
    a: G,
    b: other,
    shape: full,
    aShape: full,
    bShape: otherShape,
  } as const;
  if (eqShape(padTo(self.shape, full.length), full)) {
    const slot = tape.gradSlot(self)!;
    be.binary({ ...product, out: slot.buffer, accumulate: slot.accumulate });
  } else {
    const tmp = be.alloc("f32", numel(full));
    be.binary({ ...product, out: tmp });
    reduceGrad(tape, self, tmp, full);
    be.free(tmp);
  }
}

function binary(opName: "add" | "mul", a: Tensor, b: Tensor): Tensor<"f32"> {
  const tape = tapeOf([a, b], opName);
  const be = sameBackend([a, b], opName);
  const shape = broadcastShapes(a.shape, b.shape);
  const full = padTo(shape, shape.length);
  const aShape = padTo(a.shape, full.length), bShape = padTo(b.shape, full.length);
  const A = f32(a, opName), B = f32(b, opName);
  return tape.record(
    shape,
    [a, b],
    (out) => be.binary({ op: opName, a: A, b: B, out, shape: full, aShape, bShape }),
    (G) => {
      if (opName === "add") {
        // A same-shape operand's gradient is G itself: share it instead of copying it.
        for (const [t, shape] of [[a, aShape], [b, bShape]] as const) {
          if (!(eqShape(shape, full) && tape.passGrad(t, G))) reduceGrad(tape, t, G, full);
        }
        return;
      }
      // mul: dA = G * b, dB = G * a, each reduced to its operand's shape.
      mulGrad(tape, a, B, G, full, bShape);
      mulGrad(tape, b, A, G, full, aShape);
    },
  );
}

/** a + b with broadcasting (rank <= 4). */
export function add(a: Tensor, b: Tensor): Tensor<"f32"> {
  return binary("add", a, b);
}

/** a * b with broadcasting (rank <= 4); a one-element b is a (learnable) scalar. */
export function mul(a: Tensor, b: Tensor): Tensor<"f32"> {
  return binary("mul", a, b);
}

/** alpha * x for a constant alpha. */
export function scale(x: Tensor, alpha: number): Tensor<"f32"> {
  const tape = tapeOf([x], "scale");
  const be = x.backend, X = f32(x, "scale"), n = x.size;
  return tape.record(
    x.shape,
    [x],
    (out) => be.scale({ x: X, out, n, alpha }),
    (G) => reduceGrad(tape, x, G, padTo(x.shape, x.rank), alpha),
  );
}

function unary(op: "relu2" | "sigmoid" | "softcap", x: Tensor, cap = 0): Tensor<"f32"> {
  const tape = tapeOf([x], op);
  const be = x.backend, X = f32(x, op), n = x.size;
  return tape.record(
    x.shape,
    [x],
    (out) => be.unary({ op, x: X, out, n, cap }),
    (G, Y) => {
      const slot = tape.gradSlot(x);
      if (slot) {
        be.unaryBackward({
          op,
          x: X,
          y: Y,
          gradOut: G,
          gradIn: slot.buffer,
          n,
          cap,
          accumulate: slot.accumulate,
        });
      }
    },
  );
}

/** relu(x)^2, the recipe's MLP activation. */
export function relu2(x: Tensor): Tensor<"f32"> {
  return unary("relu2", x);
}

/** 1 / (1 + exp(-x)). */
export function sigmoid(x: Tensor): Tensor<"f32"> {
  return unary("sigmoid", x);
}

/** cap * tanh(x / cap) (the recipe caps logits at 15). */
export function softcapTanh(x: Tensor, cap: number): Tensor<"f32"> {
  if (!(cap > 0)) shapeError("softcapTanh", `cap must be > 0, got ${cap}`);
  return unary("softcap", x, cap);
}

/** Parameter-free RMSNorm over the last dim (eps default: torch's f32 eps, as F.rms_norm). */
export function rmsnorm(x: Tensor, eps?: number): Tensor<"f32"> {
  const op = "rmsnorm";
  const tape = tapeOf([x], op);
  const be = x.backend, X = f32(x, op);
  const dim = x.shape[x.rank - 1], rows = x.size / dim;
  const rstd = tape.alloc("f32", rows);
  return tape.record(
    x.shape,
    [x],
    (out) => be.rmsnorm({ x: X, out, rstd, rows, dim, eps }),
    (G) => {
      const slot = tape.gradSlot(x);
      if (slot) {
        be.rmsnormBackward({
          x: X,
          rstd,
          gradOut: G,
          gradIn: slot.buffer,
          rows,
          dim,
          accumulate: slot.accumulate,
        });
      }
    },
  );
}

/** Rotary tables for `seq` positions: cos and sin (seq, headDim/2), computed in f64. */
export interface RotaryTables {
  /** cos(t * base^(-2i/headDim)), (seq, headDim/2). */
  cos: Parameter;
  /** sin(t * base^(-2i/headDim)), (seq, headDim/2). */
  sin: Parameter;
}

/** Builds persistent rotary tables (dispose them with the model). */
export function rotaryTables(
  backend: Backend,
  seq: number,
  headDim: number,
  base = 10000,
): RotaryTables {
  const half = headDim / 2;
  if (!Number.isInteger(half)) shapeError("rotaryTables", `headDim ${headDim} is odd`);
  const c = new Float32Array(seq * half), s = new Float32Array(seq * half);
  for (let t = 0; t < seq; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * Math.pow(base, -(2 * i) / headDim);
      c[t * half + i] = Math.cos(angle);
      s[t * half + i] = Math.sin(angle);
    }
  }
  const opts = { requiresGrad: false };
  return {
    cos: new Parameter(backend, [seq, half], c, { ...opts, name: "rotary.cos" }),
    sin: new Parameter(backend, [seq, half], s, { ...opts, name: "rotary.sin" }),
  };
}

/** Rotary position embedding (half split) on x (B, T, H, D) with tables from rotaryTables. */
export function rotary(x: Tensor, tables: RotaryTables): Tensor<"f32"> {
  const op = "rotary";
  if (x.rank !== 4) shapeError(op, `x must be (B, T, H, D), got [${x.shape}]`);
  const tape = tapeOf([x], op);
  const be = x.backend, X = f32(x, op);
  const [batch, seq, heads, headDim] = x.shape;
  if (tables.cos.shape[0] < seq || tables.cos.shape[1] * 2 !== headDim) {
    shapeError(op, `tables [${tables.cos.shape}] do not cover seq ${seq}, headDim ${headDim}`);
  }
  const geo = { cos: tables.cos.buffer, sin: tables.sin.buffer, batch, seq, heads, headDim };
  return tape.record(
    x.shape,
    [x],
    (out) => be.rotary({ x: X, out, ...geo }),
    (G) => {
      const slot = tape.gradSlot(x);
      if (slot) {
        be.rotary({ x: G, out: slot.buffer, ...geo, inverse: true, accumulate: slot.accumulate });
      }
    },
  );
}

/** Options of {@linkcode attention}. */
export interface AttentionOptions {
  /** Key j visible to query i iff j <= i && i - j <= window. Default: full causal. */
  window?: number;
  /** Score scale. Default 1/sqrt(D). */
  scale?: number;
}

/** Causal sliding-window attention: q, k, v (B, T, H, D) -> (B, T, H*D). */
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): Tensor<"f32"> {
  const op = "attention";
  if (q.rank !== 4 || !eqShape(q.shape, k.shape) || !eqShape(q.shape, v.shape)) {
    shapeError(
      op,
      `q, k, v must share one (B, T, H, D) shape: [${q.shape}] [${k.shape}] [${v.shape}]`,
    );
  }
  const tape = tapeOf([q, k, v], op);
  const be = sameBackend([q, k, v], op);
  const [batch, seq, heads, headDim] = q.shape;
  const geo = {
    batch,
    seq,
    heads,
    headDim,
    window: options.window ?? seq,
    scale: options.scale ?? 1 / Math.sqrt(headDim),
  };
  const Q = f32(q, op), K = f32(k, op), V = f32(v, op);
  const lse = tape.alloc("f32", batch * heads * seq);
  return tape.record(
    [batch, seq, heads * headDim],
    [q, k, v],
    (out) => be.attention({ q: Q, k: K, v: V, out, lse, ...geo }),
    (G, out) => {
      const slots = [tape.gradSlot(q), tape.gradSlot(k), tape.gradSlot(v)];
      // The backend writes all three gradients with one accumulate flag: when the slots
      // disagree, compute into fresh scratch and add each into its slot.
      const flags = slots.filter((s) => s !== null).map((s) => s!.accumulate);
      const uniform = flags.every((f) => f === flags[0]);
      const temps: DeviceBuffer<"f32">[] = [];
      const [gq, gk, gv] = slots.map((s) => {
        if (s && uniform) return s.buffer;
        const t = be.alloc("f32", q.size);
        temps.push(t);
        return t;
      });
      be.attentionBackward({
        q: Q,
        k: K,
        v: V,
        out,
        lse,
        gradOut: G,
        gradQ: gq,
        gradK: gk,
        gradV: gv,
        ...geo,
        accumulate: uniform ? flags[0] ?? false : false,
      });
      if (!uniform) {
        slots.forEach((s, i) => {
          if (s) {
            const x = [gq, gk, gv][i];
            be.scale({ x, out: s.buffer, n: q.size, alpha: 1, accumulate: s.accumulate });
          }
        });
      }
      for (const t of temps) be.free(t);
    },
  );
}

/** x[..., start : start + length] over the last dim (a copy). */
export function narrow(x: Tensor, start: number, length: number): Tensor<"f32"> {
  const op = "narrow";
  const tape = tapeOf([x], op);
  const be = x.backend, X = f32(x, op);
  const dim = x.shape[x.rank - 1], rows = x.size / dim;
  if (start < 0 || length < 0 || start + length > dim) {
    shapeError(op, `[${start}, ${start + length}) outside last dim ${dim}`);
  }
  return tape.record(
    [...x.shape.slice(0, -1), length],
    [x],
    (out) =>
      be.copy2d({
        src: X,
        dst: out,
        rows,
        cols: length,
        srcStride: dim,
        dstStride: length,
        srcOffset: start,
      }),
    (G) => {
      const slot = tape.gradSlot(x);
      if (!slot) return;
      if (!slot.accumulate) be.fill({ out: slot.buffer, value: 0, length: x.size });
      be.copy2d({
        src: G,
        dst: slot.buffer,
        rows,
        cols: length,
        srcStride: length,
        dstStride: dim,
        dstOffset: start,
        accumulate: true,
      });
    },
  );
}

/** Sum of all elements (shape []). */
export function sum(x: Tensor): Tensor<"f32"> {
  return reduceAll(x, 1, "sum");
}

/** Mean of all elements (shape []). */
export function mean(x: Tensor): Tensor<"f32"> {
  return reduceAll(x, 1 / x.size, "mean");
}

function reduceAll(x: Tensor, alpha: number, op: string): Tensor<"f32"> {
  const tape = tapeOf([x], op);
  const be = x.backend, X = f32(x, op), n = x.size;
  return tape.record(
    [],
    [x],
    (out) => be.reduceTo({ x: X, out, shape: [n], outShape: [1], alpha }),
    (G) => {
      const slot = tape.gradSlot(x);
      if (slot) {
        be.broadcastTo({
          x: G,
          out: slot.buffer,
          xShape: [1],
          shape: [n],
          alpha,
          accumulate: slot.accumulate,
        });
      }
    },
  );
}

/** Options of {@linkcode crossEntropy}. */
export interface CrossEntropyOptions {
  /** Softcap applied to the logits inside the loss (the recipe: 15); 0 or absent = none. */
  softcap?: number;
}

/**
 * Per-token cross-entropy (nats) of logits (..., V) against i32 targets (...): returns losses
 * of the targets' shape; targets < 0 give 0. Softcap, softmax and loss are fused, so the capped
 * logits are never stored. Training: `mean(crossEntropy(...))`.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor<"f32"> {
  const op = "crossEntropy";
  if (targets.dtype !== "i32") throw new TypeError(`${op}: targets must be i32`);
  const vocab = logits.shape[logits.rank - 1], rows = logits.size / vocab;
  if (targets.size !== rows) shapeError(op, `${rows} rows of logits, ${targets.size} targets`);
  const tape = tapeOf([logits, targets], op);
  const be = sameBackend([logits, targets], op);
  const L = f32(logits, op), T = targets.buffer as DeviceBuffer<"i32">;
  const softcap = options.softcap ?? 0;
  const lse = tape.alloc("f32", rows);
  return tape.record(
    targets.shape,
    [logits],
    (losses) => be.crossEntropy({ logits: L, targets: T, losses, lse, rows, vocab, softcap }),
    (G) => {
      const slot = tape.gradSlot(logits);
      if (slot) {
        be.crossEntropyBackward({
          logits: L,
          targets: T,
          lse,
          gradLosses: G,
          gradLogits: slot.buffer,
          rows,
          vocab,
          softcap,
          accumulate: slot.accumulate,
        });
      }
    },
  );
}
