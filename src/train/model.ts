/**
 * The GPT of the recipe (UPSTREAM.md), written directly on the raw engine Backend with a
 * hand-written backward: every op is one backend call, activations live in a per-micro-step
 * arena that is freed after the backward, so memory stays flat and a GPU backend only waits when
 * the loss is read. The PyTorch golden test (tests/train/golden_*_test.ts) pins forward and
 * backward to scripts/golden_train.py.
 *
 * Architecture: token embedding -> RMSNorm = x0; per layer x = resid[i]*x + x0l[i]*x0, then
 * pre-norm attention (rotary, QK-norm, sliding window, value embeddings with gates on
 * alternating layers incl. the last) and a ReLU^2 MLP; final RMSNorm; untied lm_head; softcapped
 * cross-entropy. Linear weights are stored (out, in) like torch: y = x @ W^T.
 */
import type { Backend, DeviceBuffer, DType } from "../engine/backend.ts";
import type { ModelShape } from "./recipe.ts";

/** The model's full shape: the recipe's plus the tokenizer's vocabulary. */
export interface ModelConfig extends ModelShape {
  /** Vocabulary size (the tokenizer's). */
  vocabSize: number;
}

/** One trainable tensor: its device buffer, gradient buffer and shape. */
export interface Param {
  /** Name, e.g. `h.0.attn.c_q` (same names as scripts/golden_train.py). */
  name: string;
  /** Shape, torch layout ((out, in) for linear weights). */
  shape: number[];
  /** Number of elements. */
  size: number;
  /** Values. */
  data: DeviceBuffer<"f32">;
  /** Gradient (accumulated over micro-batches; zeroed by `zeroGrads`). */
  grad: DeviceBuffer<"f32">;
}

/** True when layer `layer` of a `depth`-layer model has a value embedding (alternating, last). */
export function hasValueEmbedding(layer: number, depth: number): boolean {
  return layer % 2 === (depth - 1) % 2;
}

/** Left attention window per layer from the pattern ("S" = seq/2, "L" = seq; last is L). */
export function layerWindows(shape: ModelShape): number[] {
  const windows: number[] = [];
  for (let i = 0; i < shape.depth; i++) {
    const ch = shape.windowPattern[i % shape.windowPattern.length];
    windows.push(ch === "S" ? Math.floor(shape.seqLen / 2) : shape.seqLen);
  }
  windows[shape.depth - 1] = shape.seqLen;
  return windows;
}

/** Parameter names and shapes in a fixed order (the golden fixture's order). */
export function parameterShapes(cfg: ModelConfig): { name: string; shape: number[] }[] {
  const { vocabSize: V, width: C, depth: L } = cfg;
  const heads = C / cfg.headDim;
  const out: { name: string; shape: number[] }[] = [{ name: "wte", shape: [V, C] }];
  for (let i = 0; i < L; i++) {
    out.push({ name: `h.${i}.attn.c_q`, shape: [C, C] });
    out.push({ name: `h.${i}.attn.c_k`, shape: [C, C] });
    out.push({ name: `h.${i}.attn.c_v`, shape: [C, C] });
    out.push({ name: `h.${i}.attn.c_proj`, shape: [C, C] });
    if (hasValueEmbedding(i, L)) {
      out.push({ name: `h.${i}.attn.ve_gate`, shape: [heads, cfg.veGateChannels] });
    }
    out.push({ name: `h.${i}.mlp.c_fc`, shape: [4 * C, C] });
    out.push({ name: `h.${i}.mlp.c_proj`, shape: [C, 4 * C] });
    if (hasValueEmbedding(i, L)) out.push({ name: `ve.${i}`, shape: [V, C] });
  }
  out.push({ name: "lm_head", shape: [V, C] });
  out.push({ name: "resid_lambdas", shape: [L] });
  out.push({ name: "x0_lambdas", shape: [L] });
  return out;
}

/** Number of parameters of a model of this shape. */
export function countParameters(cfg: ModelConfig): number {
  return parameterShapes(cfg).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Training FLOPs per token (forward + backward = 6 per matmul weight, plus attention scores),
 * as upstream estimates it: embeddings are lookups and do not count.
 */
export function flopsPerToken(cfg: ModelConfig): number {
  const C = cfg.width;
  const matmulParams = cfg.depth * 12 * C * C + cfg.vocabSize * C;
  const windows = layerWindows(cfg);
  let attention = 0;
  for (const w of windows) attention += 12 * C * Math.min(w, cfg.seqLen);
  return 6 * matmulParams + attention;
}

/** A small seeded PRNG (mulberry32) with uniform and normal draws, for the initialisation. */
export class Rng {
  #state: number;
  /** Seeded generator; the same seed gives the same stream. */
  constructor(seed: number) {
    this.#state = (seed >>> 0) ^ 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/** Upstream's initialisation of parameter `name` (host values). */
export function initialValues(
  name: string,
  shape: number[],
  width: number,
  rng: Rng,
): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const bound = Math.sqrt(3) / Math.sqrt(width);
  if (name === "wte") { for (let i = 0; i < size; i++) out[i] = rng.normal(); }
  else if (name === "lm_head") { for (let i = 0; i < size; i++) out[i] = 0.001 * rng.normal(); }
  else if (name === "resid_lambdas") out.fill(1);
  else if (name === "x0_lambdas") out.fill(0.1);
  else if (name.endsWith("c_proj") || name.endsWith("ve_gate")) out.fill(0);
  else for (let i = 0; i < size; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

/** Buffers allocated during one forward/backward, all freed together. */
class Arena {
  readonly #buffers: DeviceBuffer[] = [];
  constructor(private readonly backend: Backend) {}
  /** A buffer that lives until `release`. */
  alloc<D extends DType>(dtype: D, length: number): DeviceBuffer<D> {
    const buffer = this.backend.alloc(dtype, length);
    this.#buffers.push(buffer);
    return buffer;
  }
  /** A zero-filled f32 buffer. */
  zeros(length: number): DeviceBuffer<"f32"> {
    const buffer = this.alloc("f32", length);
    this.backend.fill({ out: buffer, value: 0 });
    return buffer;
  }
  /** Free everything. */
  release(): void {
    for (const b of this.#buffers) this.backend.free(b);
    this.#buffers.length = 0;
  }
}

/** Activations of one layer kept for the backward. */
interface LayerSaved {
  xPrev: DeviceBuffer<"f32">;
  xin: DeviceBuffer<"f32">;
  rstdA: DeviceBuffer<"f32">;
  h: DeviceBuffer<"f32">;
  qr: DeviceBuffer<"f32">;
  kr: DeviceBuffer<"f32">;
  rstdQ: DeviceBuffer<"f32">;
  rstdK: DeviceBuffer<"f32">;
  qn: DeviceBuffer<"f32">;
  kn: DeviceBuffer<"f32">;
  v: DeviceBuffer<"f32">;
  y: DeviceBuffer<"f32">;
  lse: DeviceBuffer<"f32">;
  xMid: DeviceBuffer<"f32">;
  rstdM: DeviceBuffer<"f32">;
  h2: DeviceBuffer<"f32">;
  f: DeviceBuffer<"f32">;
  act: DeviceBuffer<"f32">;
  resid: DeviceBuffer<"f32">;
  x0l: DeviceBuffer<"f32">;
  ve?: {
    emb: DeviceBuffer<"f32">;
    gateIn: DeviceBuffer<"f32">;
    gateLin: DeviceBuffer<"f32">;
    gate: DeviceBuffer<"f32">;
    gate2: DeviceBuffer<"f32">;
  };
}

/** What a forward leaves for the backward. */
interface Saved {
  rows: number;
  ids: DeviceBuffer<"i32">;
  targets: DeviceBuffer<"i32">;
  emb: DeviceBuffer<"f32">;
  rstd0: DeviceBuffer<"f32">;
  x0: DeviceBuffer<"f32">;
  layers: LayerSaved[];
  xFinal: DeviceBuffer<"f32">;
  rstdF: DeviceBuffer<"f32">;
  hf: DeviceBuffer<"f32">;
  logits: DeviceBuffer<"f32">;
  ceLse: DeviceBuffer<"f32">;
  losses: DeviceBuffer<"f32">;
}

/** The GPT on one backend: parameters, forward, backward, per-token evaluation losses. */
export class GPT {
  /** Parameters in `parameterShapes` order. */
  readonly params: Param[];
  readonly #byName = new Map<string, Param>();
  readonly #cos: DeviceBuffer<"f32">;
  readonly #sin: DeviceBuffer<"f32">;
  readonly #windows: number[];
  /** Buffers of the whole micro-step (inputs, embeddings, logits). */
  #arena: Arena;
  /** Per-layer buffers: layer i's activations, freed right after its backward. */
  #layerArenas: Arena[];
  /** Where the small helpers allocate. */
  #current: Arena;
  #saved: Saved | null = null;

  /** Allocate the parameters of `cfg` on `backend` (values undefined until `init`/`load`). */
  constructor(readonly backend: Backend, readonly cfg: ModelConfig) {
    if (cfg.width % cfg.headDim !== 0) throw new Error("width must be a multiple of headDim");
    if (cfg.headDim % 2 !== 0) throw new Error("headDim must be even (rotary)");
    this.params = parameterShapes(cfg).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const p: Param = {
        name,
        shape,
        size,
        data: backend.alloc("f32", size),
        grad: backend.alloc("f32", size),
      };
      this.#byName.set(name, p);
      return p;
    });
    this.#windows = layerWindows(cfg);
    this.#arena = new Arena(backend);
    this.#layerArenas = Array.from({ length: cfg.depth }, () => new Arena(backend));
    this.#current = this.#arena;
    // Rotary tables (seq, headDim/2), angles computed in f64.
    const half = cfg.headDim / 2;
    const cos = new Float32Array(cfg.seqLen * half);
    const sin = new Float32Array(cfg.seqLen * half);
    for (let t = 0; t < cfg.seqLen; t++) {
      for (let i = 0; i < half; i++) {
        const angle = t * 10000 ** (-(2 * i) / cfg.headDim);
        cos[t * half + i] = Math.cos(angle);
        sin[t * half + i] = Math.sin(angle);
      }
    }
    this.#cos = backend.alloc("f32", cos.length);
    this.#sin = backend.alloc("f32", sin.length);
    backend.write(this.#cos, cos);
    backend.write(this.#sin, sin);
    this.zeroGrads();
  }

  /** Number of parameters. */
  get numParams(): number {
    return this.params.reduce((n, p) => n + p.size, 0);
  }

  /** The parameter called `name`. */
  param(name: string): Param {
    const p = this.#byName.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p;
  }

  /** Upstream's initialisation from a seed. */
  init(seed: number): void {
    const rng = new Rng(seed);
    for (const p of this.params) {
      this.backend.write(p.data, initialValues(p.name, p.shape, this.cfg.width, rng));
    }
  }

  /** Set parameter values from host arrays by name (e.g. golden weights or a checkpoint). */
  load(values: Map<string, Float32Array>): void {
    for (const p of this.params) {
      const v = values.get(p.name);
      if (!v || v.length !== p.size) throw new Error(`missing or misshaped weights: ${p.name}`);
      this.backend.write(p.data, v);
    }
  }

  /** Host copies of every parameter. */
  async snapshot(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.params) out.set(p.name, await this.backend.read(p.data));
    return out;
  }

  /** Zero every gradient (start of an optimizer step). */
  zeroGrads(): void {
    for (const p of this.params) this.backend.fill({ out: p.grad, value: 0 });
  }

  /** Free parameters, gradients and tables. */
  dispose(): void {
    this.#releaseAll();
    for (const p of this.params) {
      this.backend.free(p.data);
      this.backend.free(p.grad);
    }
    this.backend.free(this.#cos);
    this.backend.free(this.#sin);
  }

  /**
   * Forward on `rows` sequences: ids and targets (rows * seqLen) on the host. Leaves per-token
   * losses (rows*seqLen) on the device and keeps activations for `backward`.
   */
  forward(ids: Int32Array, targets: Int32Array, rows: number): DeviceBuffer<"f32"> {
    const be = this.backend;
    const cfg = this.cfg;
    this.#releaseAll();
    let A = this.#arena;
    this.#current = A;
    const T = cfg.seqLen, C = cfg.width, D = cfg.headDim, H = C / D, V = cfg.vocabSize;
    const N = rows * T;
    if (ids.length !== N || targets.length !== N) throw new Error("ids/targets length mismatch");
    const idsBuf = A.alloc("i32", N);
    const targetsBuf = A.alloc("i32", N);
    be.write(idsBuf, ids);
    be.write(targetsBuf, targets);
    const NC = [N, C], ONE = [1, 1];

    // x0 = norm(wte[ids])   (N, C)
    const emb = A.alloc("f32", N * C);
    be.embedding({ table: this.#w("wte"), ids: idsBuf, out: emb, tokens: N, vocab: V, dim: C });
    const x0 = A.alloc("f32", N * C);
    const rstd0 = A.alloc("f32", N);
    be.rmsnorm({ x: emb, out: x0, rstd: rstd0, rows: N, dim: C });

    const layers: LayerSaved[] = [];
    let x = x0;
    for (let i = 0; i < cfg.depth; i++) {
      A = this.#current = this.#layerArenas[i];
      const w = (name: string) => this.#w(`h.${i}.${name}`);
      // xin = resid[i] * x + x0l[i] * x0   (N, C)
      const resid = this.#element("resid_lambdas", i);
      const x0l = this.#element("x0_lambdas", i);
      const xin = A.alloc("f32", N * C);
      be.binary({ op: "mul", a: x, b: resid, out: xin, shape: NC, aShape: NC, bShape: ONE });
      be.binary({
        op: "mul",
        a: x0,
        b: x0l,
        out: xin,
        shape: NC,
        aShape: NC,
        bShape: ONE,
        accumulate: true,
      });

      // Attention: q, k, v = norm(xin) @ W^T   (N, C) = (N, H, D)
      const h = A.alloc("f32", N * C);
      const rstdA = A.alloc("f32", N);
      be.rmsnorm({ x: xin, out: h, rstd: rstdA, rows: N, dim: C });
      const q = A.alloc("f32", N * C), k = A.alloc("f32", N * C), v = A.alloc("f32", N * C);
      this.#linear(h, w("attn.c_q"), q, N, C, C);
      this.#linear(h, w("attn.c_k"), k, N, C, C);
      this.#linear(h, w("attn.c_v"), v, N, C, C);
      let ve: LayerSaved["ve"];
      if (hasValueEmbedding(i, cfg.depth)) {
        // v += 2 * sigmoid(h[:, :G] @ Wg^T)[..., None] * ve[ids]   gate (N, H), ve (N, H, D)
        const G = cfg.veGateChannels;
        const emb = A.alloc("f32", N * C);
        be.embedding({
          table: this.#w(`ve.${i}`),
          ids: idsBuf,
          out: emb,
          tokens: N,
          vocab: V,
          dim: C,
        });
        const gateIn = A.alloc("f32", N * G);
        be.copy2d({ src: h, dst: gateIn, rows: N, cols: G, srcStride: C, dstStride: G });
        const gateLin = A.alloc("f32", N * H);
        this.#linear(gateIn, w("attn.ve_gate"), gateLin, N, H, G);
        const gate = A.alloc("f32", N * H);
        be.unary({ op: "sigmoid", x: gateLin, out: gate, n: N * H });
        const gate2 = A.alloc("f32", N * H);
        be.scale({ x: gate, out: gate2, n: N * H, alpha: 2 });
        const NHD = [N, H, D];
        be.binary({
          op: "mul",
          a: emb,
          b: gate2,
          out: v,
          shape: NHD,
          aShape: NHD,
          bShape: [N, H, 1],
          accumulate: true,
        });
        ve = { emb, gateIn, gateLin, gate, gate2 };
      }
      // Rotary, then QK-norm over headDim, then causal sliding-window attention.
      const qr = A.alloc("f32", N * C), kr = A.alloc("f32", N * C);
      const rot = { cos: this.#cos, sin: this.#sin, batch: rows, seq: T, heads: H, headDim: D };
      be.rotary({ ...rot, x: q, out: qr });
      be.rotary({ ...rot, x: k, out: kr });
      const qn = A.alloc("f32", N * C), kn = A.alloc("f32", N * C);
      const rstdQ = A.alloc("f32", N * H), rstdK = A.alloc("f32", N * H);
      be.rmsnorm({ x: qr, out: qn, rstd: rstdQ, rows: N * H, dim: D });
      be.rmsnorm({ x: kr, out: kn, rstd: rstdK, rows: N * H, dim: D });
      const y = A.alloc("f32", N * C);
      const lse = A.alloc("f32", rows * H * T);
      be.attention({
        q: qn,
        k: kn,
        v,
        out: y,
        lse,
        batch: rows,
        seq: T,
        heads: H,
        headDim: D,
        window: this.#windows[i],
      });
      // xMid = xin + y @ Wproj^T
      const xMid = this.#copy(xin, N * C);
      this.#linear(y, w("attn.c_proj"), xMid, N, C, C, true);

      // MLP: xOut = xMid + relu(norm(xMid) @ Wfc^T)^2 @ Wmp^T   hidden (N, 4C)
      const h2 = A.alloc("f32", N * C);
      const rstdM = A.alloc("f32", N);
      be.rmsnorm({ x: xMid, out: h2, rstd: rstdM, rows: N, dim: C });
      const f = A.alloc("f32", N * 4 * C), act = A.alloc("f32", N * 4 * C);
      this.#linear(h2, w("mlp.c_fc"), f, N, 4 * C, C);
      be.unary({ op: "relu2", x: f, out: act, n: N * 4 * C });
      const xOut = this.#copy(xMid, N * C);
      this.#linear(act, w("mlp.c_proj"), xOut, N, C, 4 * C, true);
      layers.push({
        xPrev: x,
        xin,
        rstdA,
        h,
        qr,
        kr,
        rstdQ,
        rstdK,
        qn,
        kn,
        v,
        y,
        lse,
        xMid,
        rstdM,
        h2,
        f,
        act,
        resid,
        x0l,
        ve,
      });
      x = xOut;
    }
    A = this.#current = this.#arena;
    // logits = norm(x) @ W_lm^T   (N, V); per-token softcapped cross-entropy
    const hf = A.alloc("f32", N * C);
    const rstdF = A.alloc("f32", N);
    be.rmsnorm({ x, out: hf, rstd: rstdF, rows: N, dim: C });
    const logits = A.alloc("f32", N * V);
    this.#linear(hf, this.#w("lm_head"), logits, N, V, C);
    const losses = A.alloc("f32", N);
    const ceLse = A.alloc("f32", N);
    be.crossEntropy({
      logits,
      targets: targetsBuf,
      losses,
      lse: ceLse,
      rows: N,
      vocab: V,
      softcap: cfg.softcap,
    });
    this.#saved = {
      rows,
      ids: idsBuf,
      targets: targetsBuf,
      emb,
      rstd0,
      x0,
      layers,
      xFinal: x,
      rstdF,
      hf,
      logits,
      ceLse,
      losses,
    };
    return losses;
  }

  /**
   * Mean loss of the last forward added into `lossSum` (1 element) times `weight`
   * (1/microSteps for gradient accumulation).
   */
  accumulateLoss(lossSum: DeviceBuffer<"f32">, weight: number): void {
    const s = this.#requireSaved();
    const N = s.rows * this.cfg.seqLen;
    this.backend.reduceTo({
      x: s.losses,
      out: lossSum,
      shape: [N],
      outShape: [1],
      alpha: weight / N,
      accumulate: true,
    });
  }

  /**
   * Backward of `weight * mean(losses)` of the last forward: adds into every parameter's grad.
   * Frees the activations.
   */
  backward(weight: number): void {
    const be = this.backend;
    const cfg = this.cfg;
    const s = this.#requireSaved();
    let A = this.#arena;
    this.#current = A;
    const T = cfg.seqLen, C = cfg.width, D = cfg.headDim, H = C / D, V = cfg.vocabSize;
    const N = s.rows * T;
    const grad = (name: string) => this.param(name).grad;
    const NC = [N, C], ONE = [1, 1];

    // d logits from the mean loss; then lm_head and the final norm.
    const dLosses = A.alloc("f32", N);
    be.fill({ out: dLosses, value: weight / N });
    const dLogits = A.alloc("f32", N * V);
    be.crossEntropyBackward({
      logits: s.logits,
      targets: s.targets,
      lse: s.ceLse,
      gradLosses: dLosses,
      gradLogits: dLogits,
      rows: N,
      vocab: V,
      softcap: cfg.softcap,
    });
    this.#linearGradWeight(dLogits, s.hf, grad("lm_head"), N, V, C);
    const dhf = A.alloc("f32", N * C);
    this.#linearGradInput(dLogits, this.#w("lm_head"), dhf, N, V, C);
    // Gradient of the residual stream walking down the layers, in two alternating buffers.
    const dxBuffers = [A.alloc("f32", N * C), A.alloc("f32", N * C)];
    let dx = dxBuffers[0];
    be.rmsnormBackward({ x: s.xFinal, rstd: s.rstdF, gradOut: dhf, gradIn: dx, rows: N, dim: C });
    const dx0 = A.zeros(N * C);

    for (let i = cfg.depth - 1; i >= 0; i--) {
      A = this.#current = this.#layerArenas[i];
      const L = s.layers[i];
      const w = (name: string) => this.#w(`h.${i}.${name}`);
      const gw = (name: string) => grad(`h.${i}.${name}`);

      // MLP: xOut = xMid + act @ Wmp^T; afterwards dx holds d xMid.
      this.#linearGradWeight(dx, L.act, gw("mlp.c_proj"), N, C, 4 * C);
      const dAct = A.alloc("f32", N * 4 * C);
      this.#linearGradInput(dx, w("mlp.c_proj"), dAct, N, C, 4 * C);
      const dF = A.alloc("f32", N * 4 * C);
      be.unaryBackward({ op: "relu2", x: L.f, y: L.act, gradOut: dAct, gradIn: dF, n: N * 4 * C });
      this.#linearGradWeight(dF, L.h2, gw("mlp.c_fc"), N, 4 * C, C);
      const dh2 = A.alloc("f32", N * C);
      this.#linearGradInput(dF, w("mlp.c_fc"), dh2, N, 4 * C, C);
      be.rmsnormBackward({
        x: L.xMid,
        rstd: L.rstdM,
        gradOut: dh2,
        gradIn: dx,
        rows: N,
        dim: C,
        accumulate: true,
      });

      // Attention: xMid = xin + y @ Wproj^T; afterwards dx holds d xin.
      this.#linearGradWeight(dx, L.y, gw("attn.c_proj"), N, C, C);
      const dy = A.alloc("f32", N * C);
      this.#linearGradInput(dx, w("attn.c_proj"), dy, N, C, C);
      const dqn = A.alloc("f32", N * C), dkn = A.alloc("f32", N * C), dv = A.alloc("f32", N * C);
      be.attentionBackward({
        q: L.qn,
        k: L.kn,
        v: L.v,
        out: L.y,
        lse: L.lse,
        gradOut: dy,
        gradQ: dqn,
        gradK: dkn,
        gradV: dv,
        batch: s.rows,
        seq: T,
        heads: H,
        headDim: D,
        window: this.#windows[i],
      });
      // Through QK-norm and rotary (the inverse rotation is its backward).
      const dqr = A.alloc("f32", N * C), dkr = A.alloc("f32", N * C);
      be.rmsnormBackward({
        x: L.qr,
        rstd: L.rstdQ,
        gradOut: dqn,
        gradIn: dqr,
        rows: N * H,
        dim: D,
      });
      be.rmsnormBackward({
        x: L.kr,
        rstd: L.rstdK,
        gradOut: dkn,
        gradIn: dkr,
        rows: N * H,
        dim: D,
      });
      const dq = A.alloc("f32", N * C), dk = A.alloc("f32", N * C);
      const rot = {
        cos: this.#cos,
        sin: this.#sin,
        batch: s.rows,
        seq: T,
        heads: H,
        headDim: D,
        inverse: true,
      };
      be.rotary({ ...rot, x: dqr, out: dq });
      be.rotary({ ...rot, x: dkr, out: dk });
      // dh = dq @ Wq + dk @ Wk + dv @ Wv (+ the gate's input slice)
      const dh = A.alloc("f32", N * C);
      this.#linearGradInput(dq, w("attn.c_q"), dh, N, C, C);
      this.#linearGradInput(dk, w("attn.c_k"), dh, N, C, C, true);
      this.#linearGradInput(dv, w("attn.c_v"), dh, N, C, C, true);
      if (L.ve) this.#valueEmbeddingBackward(i, L.ve, dv, dh, N);
      this.#linearGradWeight(dq, L.h, gw("attn.c_q"), N, C, C);
      this.#linearGradWeight(dk, L.h, gw("attn.c_k"), N, C, C);
      this.#linearGradWeight(dv, L.h, gw("attn.c_v"), N, C, C);
      be.rmsnormBackward({
        x: L.xin,
        rstd: L.rstdA,
        gradOut: dh,
        gradIn: dx,
        rows: N,
        dim: C,
        accumulate: true,
      });

      // xin = resid * xPrev + x0l * x0: the lambdas' gradients are sums of products.
      this.#addDotTo(dx, L.xPrev, "resid_lambdas", i, N * C);
      this.#addDotTo(dx, s.x0, "x0_lambdas", i, N * C);
      be.binary({
        op: "mul",
        a: dx,
        b: L.x0l,
        out: dx0,
        shape: NC,
        aShape: NC,
        bShape: ONE,
        accumulate: true,
      });
      const dxPrev = dx === dxBuffers[0] ? dxBuffers[1] : dxBuffers[0];
      be.binary({ op: "mul", a: dx, b: L.resid, out: dxPrev, shape: NC, aShape: NC, bShape: ONE });
      dx = dxPrev;
      A.release(); // layer i's activations and temporaries are done with
    }
    A = this.#current = this.#arena;
    // Layer 0's xPrev is x0 itself: both paths meet in d x0, then through the first norm.
    be.scale({ x: dx, out: dx0, n: N * C, alpha: 1, accumulate: true });
    const dEmb = A.alloc("f32", N * C);
    be.rmsnormBackward({ x: s.emb, rstd: s.rstd0, gradOut: dx0, gradIn: dEmb, rows: N, dim: C });
    be.embeddingBackward({
      ids: s.ids,
      gradOut: dEmb,
      gradTable: grad("wte"),
      tokens: N,
      vocab: V,
      dim: C,
      accumulate: true,
    });
    this.#saved = null;
    this.#releaseAll();
  }

  /**
   * Backward of `v += 2*sigmoid(gateIn @ Wg^T) * ve[ids]` of layer `i`: scatters into the value
   * embedding table, the gate weight, and adds the gate input's slice of dh (N, C).
   */
  #valueEmbeddingBackward(
    i: number,
    ve: NonNullable<LayerSaved["ve"]>,
    dv: DeviceBuffer<"f32">,
    dh: DeviceBuffer<"f32">,
    N: number,
  ): void {
    const be = this.backend;
    const A = this.#current;
    const C = this.cfg.width, D = this.cfg.headDim, H = C / D, G = this.cfg.veGateChannels;
    const NHD = [N, H, D], NH1 = [N, H, 1];
    // d table += scatter(dv * gate2)
    const dEmb = A.alloc("f32", N * C);
    be.binary({ op: "mul", a: dv, b: ve.gate2, out: dEmb, shape: NHD, aShape: NHD, bShape: NH1 });
    be.embeddingBackward({
      ids: this.#requireSaved().ids,
      gradOut: dEmb,
      gradTable: this.param(`ve.${i}`).grad,
      tokens: N,
      vocab: this.cfg.vocabSize,
      dim: C,
      accumulate: true,
    });
    // d gate = 2 * sum_D(dv * ve); d gateLin = sigmoid'(gateLin) * d gate
    const prod = A.alloc("f32", N * C);
    be.binary({ op: "mul", a: dv, b: ve.emb, out: prod, shape: NHD, aShape: NHD, bShape: NHD });
    const dGate = A.alloc("f32", N * H);
    be.reduceTo({ x: prod, out: dGate, shape: NHD, outShape: NH1, alpha: 2 });
    const dGateLin = A.alloc("f32", N * H);
    be.unaryBackward({
      op: "sigmoid",
      x: ve.gateLin,
      y: ve.gate,
      gradOut: dGate,
      gradIn: dGateLin,
      n: N * H,
    });
    const gateWeight = this.param(`h.${i}.attn.ve_gate`);
    this.#linearGradWeight(dGateLin, ve.gateIn, gateWeight.grad, N, H, G);
    const dGateIn = A.alloc("f32", N * G);
    this.#linearGradInput(dGateLin, gateWeight.data, dGateIn, N, H, G);
    be.copy2d({
      src: dGateIn,
      dst: dh,
      rows: N,
      cols: G,
      srcStride: G,
      dstStride: C,
      accumulate: true,
    });
  }

  /** The values of parameter `name`. */
  #w(name: string): DeviceBuffer<"f32"> {
    return this.param(name).data;
  }

  /** out (n, outDim) (+)= x (n, inDim) @ W^T with W (outDim, inDim), torch's Linear. */
  #linear(
    x: DeviceBuffer<"f32">,
    w: DeviceBuffer<"f32">,
    out: DeviceBuffer<"f32">,
    n: number,
    outDim: number,
    inDim: number,
    accumulate = false,
  ): void {
    this.backend.matmul({
      a: x,
      b: w,
      c: out,
      m: n,
      n: outDim,
      k: inDim,
      transB: true,
      beta: accumulate ? 1 : 0,
    });
  }

  /** dW (outDim, inDim) += dOut^T (outDim, n) @ x (n, inDim): the weight gradient of `#linear`. */
  #linearGradWeight(
    dOut: DeviceBuffer<"f32">,
    x: DeviceBuffer<"f32">,
    dW: DeviceBuffer<"f32">,
    n: number,
    outDim: number,
    inDim: number,
  ): void {
    this.backend.matmul({ a: dOut, b: x, c: dW, m: outDim, n: inDim, k: n, transA: true, beta: 1 });
  }

  /** dX (n, inDim) (+)= dOut (n, outDim) @ W (outDim, inDim): the input gradient of `#linear`. */
  #linearGradInput(
    dOut: DeviceBuffer<"f32">,
    w: DeviceBuffer<"f32">,
    dX: DeviceBuffer<"f32">,
    n: number,
    outDim: number,
    inDim: number,
    accumulate = false,
  ): void {
    this.backend.matmul({
      a: dOut,
      b: w,
      c: dX,
      m: n,
      n: inDim,
      k: outDim,
      beta: accumulate ? 1 : 0,
    });
  }

  /** A 1-element arena buffer holding element `i` of the vector parameter `name`. */
  #element(name: string, i: number): DeviceBuffer<"f32"> {
    const out = this.#current.alloc("f32", 1);
    this.backend.copy2d({
      src: this.#w(name),
      dst: out,
      rows: 1,
      cols: 1,
      srcStride: 1,
      dstStride: 1,
      srcOffset: i,
    });
    return out;
  }

  /** grad(name)[i] += sum(a * b) over n elements (the gradient of a scalar multiplier). */
  #addDotTo(a: DeviceBuffer<"f32">, b: DeviceBuffer<"f32">, name: string, i: number, n: number) {
    const be = this.backend;
    const prod = this.#current.alloc("f32", n);
    be.binary({ op: "mul", a, b, out: prod, shape: [n], aShape: [n], bShape: [n] });
    const sum = this.#current.alloc("f32", 1);
    be.reduceTo({ x: prod, out: sum, shape: [n], outShape: [1] });
    be.copy2d({
      src: sum,
      dst: this.param(name).grad,
      rows: 1,
      cols: 1,
      srcStride: 1,
      dstStride: 1,
      dstOffset: i,
      accumulate: true,
    });
  }

  /** A copy of x (n elements) in a new arena buffer. */
  #copy(x: DeviceBuffer<"f32">, n: number): DeviceBuffer<"f32"> {
    const out = this.#current.alloc("f32", n);
    this.backend.scale({ x, out, n, alpha: 1 });
    return out;
  }

  /** Per-token losses (nats) of `rows` sequences, no gradients kept (for evaluate_bpb). */
  async perTokenLoss(ids: Int32Array, targets: Int32Array, rows: number): Promise<Float32Array> {
    const losses = this.forward(ids, targets, rows);
    const host = await this.backend.read(losses);
    this.#saved = null;
    this.#releaseAll();
    return host;
  }

  /** Drop the activations of a forward that will not be followed by a backward. */
  discardActivations(): void {
    this.#saved = null;
    this.#releaseAll();
  }

  /** Free every activation buffer. */
  #releaseAll(): void {
    this.#arena.release();
    for (const arena of this.#layerArenas) arena.release();
    this.#current = this.#arena;
  }

  #requireSaved(): Saved {
    if (!this.#saved) throw new Error("backward/loss without a forward");
    return this.#saved;
  }
}
