/**
 * WebAssembly SIMD kernels for the transcendental-heavy loops of the CPU backend (softmax over
 * the vocabulary with the tanh softcap, and attention's softmax rows). V8's Math.exp costs
 * 5-15 ns a call; a 4-lane polynomial exp (Cephes expf, ~1 ulp over the clamped range) costs
 * about 1 ns per element. The module is emitted as bytes at run time with the gemm folder's tiny
 * wasm writer, so there is no toolchain; where WebAssembly SIMD is missing, callers keep their
 * plain-JS loops (`createVecMath` returns null).
 *
 * Every function works on floats inside the module's own memory: callers copy a row into
 * `view()` at element 0 (and `view()` past `stride` for a second array), call, and copy back.
 *
 * @module
 */
import { buildModule, F32, FunctionBuilder, I32, V128 } from "./gemm/wasm_builder.ts";

// SIMD opcodes the writer has no helper for (0xfd prefix, LEB128 sub-opcode).
const F32X4_SUB = [0xfd, 0xe5, 0x01];
const F32X4_DIV = [0xfd, 0xe7, 0x01];
const F32X4_MIN = [0xfd, 0xe8, 0x01];
const F32X4_MAX = [0xfd, 0xe9, 0x01];
const I32X4_ADD = [0xfd, 0xae, 0x01];
const I32X4_SHL = [0xfd, 0xab, 0x01];
const I32X4_SPLAT = [0xfd, 0x11];
const F32X4_PMAX = [0xfd, 0xeb, 0x01];
const F32_MAX = [0x97];
const F32X4_EXTRACT_LANE = (lane: number) => [0xfd, 0x1f, lane];

/** Locals the inline exp needs; `consts` maps a constant to a local holding its splat. */
interface ExpScratch {
  t: number;
  k: number;
  y: number;
  consts: Map<number, number>;
}

/** 1.5 * 2^23: adding it rounds |x| < 2^22 to an integer (nearest-even) held in the low bits. */
const ROUND_MAGIC = 12582912;

/** Constants of the exp and softcap code, splatted once before a loop instead of per vector. */
const LOOP_CONSTANTS = [
  -87.3,
  88.3,
  1.4426950408889634,
  0.693359375,
  -2.12194440e-4,
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
  1,
  4,
  ROUND_MAGIC,
];

/** Pushes the splat of `v`: its hoisted local if there is one, else a fresh splat. */
function pushSplat(f: FunctionBuilder, consts: Map<number, number>, v: number): void {
  const local = consts.get(v);
  if (local !== undefined) f.get(local);
  else f.f32(v).f32x4Splat();
}

/** Pushes `exp(v)` for the v128 on top of the stack (lanes clamped to [-87.3, 88.3]). */
function emitExp(f: FunctionBuilder, s: ExpScratch): void {
  const splat = (v: number) => {
    pushSplat(f, s.consts, v);
    return f;
  };
  // t = clamp(v)
  splat(-87.3).op(...F32X4_MAX);
  splat(88.3).op(...F32X4_MIN).set(s.t);
  // k = nearest(t * log2(e)) by the magic add (cheaper than f32x4.nearest + trunc_sat later):
  // y = t * log2(e) + 1.5 * 2^23 holds k in its low mantissa bits, exactly as nearest rounds
  f.get(s.t);
  splat(1.4426950408889634).f32x4Mul();
  splat(ROUND_MAGIC).f32x4Add().tee(s.y);
  splat(ROUND_MAGIC).op(...F32X4_SUB).set(s.k);
  // r = t - k*ln2_hi - k*ln2_lo (kept in t)
  f.get(s.t).get(s.k);
  splat(0.693359375).f32x4Mul().op(...F32X4_SUB);
  f.get(s.k);
  splat(-2.12194440e-4).f32x4Mul().op(...F32X4_SUB).set(s.t);
  // p(r) by Horner, then y = p*r*r + r + 1
  splat(1.9875691500e-4);
  for (
    const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]
  ) {
    f.get(s.t).f32x4Mul();
    splat(c).f32x4Add();
  }
  f.get(s.t).f32x4Mul().get(s.t).f32x4Mul().get(s.t).f32x4Add();
  splat(1).f32x4Add();
  // * 2^k built from the exponent bits: (k + 127) << 23 = (bits(y) + 127) << 23, as the
  // magic's own bits (0x4B400000) all shift out past bit 31
  f.get(s.y);
  f.i32(127).op(...I32X4_SPLAT).op(...I32X4_ADD);
  f.i32(23).op(...I32X4_SHL);
  f.f32x4Mul();
}

/** Horizontal sum of the v128 in local `acc`, leaving an f32. */
function emitHsum(f: FunctionBuilder, acc: number): void {
  f.get(acc).op(...F32X4_EXTRACT_LANE(0));
  for (let lane = 1; lane < 4; lane++) f.get(acc).op(...F32X4_EXTRACT_LANE(lane)).f32Add();
}

/**
 * Emits `name(src: i32, dst: i32, n: i32, a: f32, b: f32, c: f32, d: f32) -> f32`, looping over
 * n floats (n a multiple of 4) and running `body` once per 4 floats with the loaded lanes in
 * local `x` and their byte offset from `src` / `dst` in `off`; body may store to dst + off and
 * add to `acc`, whose lane sum is returned. Two vectors per iteration, with separate locals, so
 * the two exp chains overlap; they add to `acc` in element order, as a one-vector loop would.
 */
function vectorLoop(
  name: string,
  body: (f: FunctionBuilder, l: Record<string, number>, exp: ExpScratch) => void,
  reduce: "sum" | "max" = "sum",
): FunctionBuilder {
  const f = new FunctionBuilder(name, [I32, I32, I32, F32, F32, F32, F32], [F32]);
  const [src, dst, n] = [0, 1, 2];
  const shared = {
    src,
    dst,
    a: 3,
    b: 4,
    c: 5,
    d: 6,
    end: f.local(I32),
    acc: f.local(V128),
    va: f.local(V128),
    vb: f.local(V128),
    vc: f.local(V128),
    vd: f.local(V128),
  };
  const consts = new Map<number, number>();
  for (const v of LOOP_CONSTANTS) {
    const local = f.local(V128);
    f.f32(v).f32x4Splat().set(local);
    consts.set(v, local);
  }
  const lanes = [0, 16].map((off) => {
    const own = {
      off,
      x: f.local(V128),
      t: f.local(V128),
      k: f.local(V128),
      y: f.local(V128),
      u: f.local(V128),
      w: f.local(V128),
    };
    const l: Record<string, number> = { ...shared, ...own };
    return { l, exp: { t: own.t, k: own.k, y: own.y, consts } };
  });
  f.get(shared.a).f32x4Splat().set(shared.va);
  f.get(shared.b).f32x4Splat().set(shared.vb);
  f.get(shared.c).f32x4Splat().set(shared.vc);
  f.get(shared.d).f32x4Splat().set(shared.vd);
  if (reduce === "sum") f.v128Zero().set(shared.acc);
  else f.f32(-Infinity).f32x4Splat().set(shared.acc);
  f.get(src).get(n).i32(4).mul().add().set(shared.end);
  /** Loop while `step` more bytes remain, running the first `count` lanes per iteration. */
  const loop = (count: number) => {
    const step = 16 * count;
    f.block(() => {
      f.loop(() => {
        f.get(shared.end).get(src).i32(step).add().ltS().brIf(1); // end < src + step
        for (let i = 0; i < count; i++) {
          const { l, exp } = lanes[i];
          f.get(src).v128Load(l.off).set(l.x);
          body(f, l, exp);
        }
        f.get(src).i32(step).add().set(src);
        f.get(dst).i32(step).add().set(dst);
        f.br(0);
      });
    });
  };
  loop(2);
  loop(1); // the odd vector left over
  if (reduce === "sum") emitHsum(f, shared.acc);
  else {
    f.get(shared.acc).op(...F32X4_EXTRACT_LANE(0));
    for (let lane = 1; lane < 4; lane++) {
      f.get(shared.acc).op(...F32X4_EXTRACT_LANE(lane)).op(...F32_MAX);
    }
  }
  return f;
}

/**
 * Pushes the softcapped x, cap - 2cap / w with u = exp(x * 2/cap), w = u + 1 (va = cap,
 * vb = 2/cap), leaving u and w in their locals for the derivative 4u / w^2.
 */
function emitSoftcap(f: FunctionBuilder, l: Record<string, number>, e: ExpScratch): void {
  f.get(l.x).get(l.vb).f32x4Mul();
  emitExp(f, e);
  f.tee(l.u);
  pushSplat(f, e.consts, 1);
  f.f32x4Add().set(l.w);
  f.get(l.va);
  f.get(l.va).get(l.va).f32x4Add().get(l.w).op(...F32X4_DIV);
  f.op(...F32X4_SUB);
}

function buildVecMathWasm(): Uint8Array<ArrayBuffer> {
  const fns = [
    // sumexp_softcap(src, -, n, cap, 2/cap, shift, -) = sum exp(softcap(x) - shift)
    vectorLoop("sumexp_softcap", (f, l, e) => {
      emitSoftcap(f, l, e);
      f.get(l.vc).op(...F32X4_SUB);
      emitExp(f, e);
      f.get(l.acc).f32x4Add().set(l.acc);
    }),
    // grad_softcap(src, dst, n, cap, 2/cap, lse, g): dst = g * exp(z - lse) * dz/dx, where
    // dz/dx = 1 - (z/cap)^2 = 4u / w^2 (no cancellation near the cap)
    vectorLoop("grad_softcap", (f, l, e) => {
      emitSoftcap(f, l, e);
      f.set(l.x); // x := z
      f.get(l.dst);
      f.get(l.x).get(l.vc).op(...F32X4_SUB);
      emitExp(f, e);
      f.get(l.vd).f32x4Mul();
      pushSplat(f, e.consts, 4);
      f.get(l.u).f32x4Mul().get(l.w).op(...F32X4_DIV).get(l.w).op(...F32X4_DIV);
      f.f32x4Mul().v128Store(l.off);
    }),
    // exp_shift(src, dst, n, shift, -, -, -): dst = exp(x - shift), returns the sum
    vectorLoop("exp_shift", (f, l, e) => {
      f.get(l.dst);
      f.get(l.x).get(l.va).op(...F32X4_SUB);
      emitExp(f, e);
      f.tee(l.u).v128Store(l.off);
      f.get(l.acc).get(l.u).f32x4Add().set(l.acc);
    }),
    // grad_shift(src, dst, n, lse, g, -, -): dst = g * exp(x - lse)
    vectorLoop("grad_shift", (f, l, e) => {
      f.get(l.dst);
      f.get(l.x).get(l.va).op(...F32X4_SUB);
      emitExp(f, e);
      f.get(l.vb).f32x4Mul().v128Store(l.off);
    }),
    // row_max(src, -, n, -, -, -, -) = max of x, skipping NaN lanes like `x > max` does in JS
    // (pmax(acc, x) = acc < x ? x : acc); -Infinity for n = 0
    vectorLoop("row_max", (f, l) => {
      f.get(l.acc).get(l.x).op(...F32X4_PMAX).set(l.acc);
    }, "max"),
  ];
  return buildModule(fns, { minPages: 1, maxPages: 65536, shared: false });
}

type Kernel = (
  src: number,
  dst: number,
  n: number,
  a: number,
  b: number,
  c: number,
  d: number,
) => number;

type Kernels = Record<
  "sumexp_softcap" | "grad_softcap" | "exp_shift" | "grad_shift" | "row_max",
  Kernel
>;

/** The SIMD kernels and their memory. All lengths are in floats; views are re-fetched on grow. */
export class VecMath {
  #memory: WebAssembly.Memory;
  #view: Float32Array;
  readonly #k: Kernels;

  /** @internal use createVecMath. */
  constructor(memory: WebAssembly.Memory, exports: WebAssembly.Exports) {
    this.#memory = memory;
    this.#view = new Float32Array(memory.buffer);
    this.#k = exports as unknown as Kernels;
  }

  /** A view of the module memory with room for at least `floats` floats. */
  view(floats: number): Float32Array {
    const need = floats * 4;
    if (this.#memory.buffer.byteLength < need) {
      this.#memory.grow(Math.ceil((need - this.#memory.buffer.byteLength) / 65536));
      this.#view = new Float32Array(this.#memory.buffer);
    }
    return this.#view;
  }

  /** Max of floats [src, src+n4) (n4 % 4 == 0), NaN skipped; -Infinity when n4 is 0. */
  rowMax(n4: number, src = 0): number {
    return this.#k.row_max(src * 4, 0, n4, 0, 0, 0, 0);
  }

  /** sum over the first n4 floats (n4 % 4 == 0) of exp(softcap(x) - shift). */
  sumExpSoftcap(n4: number, cap: number, shift: number): number {
    return this.#k.sumexp_softcap(0, 0, n4, cap, 2 / cap, shift, 0);
  }

  /** floats [dst, dst+n4) = g * exp(z - lse) * (1 - (z/cap)^2), z = softcap(floats [0, n4)). */
  gradSoftcap(n4: number, dst: number, cap: number, lse: number, g: number): void {
    this.#k.grad_softcap(0, dst * 4, n4, cap, 2 / cap, lse, g);
  }

  /** floats [dst, dst+n4) = exp(x - shift) of floats [src, src+n4) (may be dst); returns the sum. */
  expShift(n4: number, dst: number, shift: number, src = 0): number {
    return this.#k.exp_shift(src * 4, dst * 4, n4, shift, 0, 0, 0);
  }

  /** floats [dst, dst+n4) = g * exp(x - lse) of floats [0, n4). */
  gradShift(n4: number, dst: number, lse: number, g: number): void {
    this.#k.grad_shift(0, dst * 4, n4, lse, g, 0, 0);
  }
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel module (cached; workers instantiate it too), or null without SIMD. */
export function vecMathModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(buildVecMathWasm());
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Instantiates the kernels with their own memory, or null where WebAssembly SIMD is unavailable. */
export function createVecMath(): VecMath | null {
  const module = vecMathModule();
  if (!module) return null;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return new VecMath(memory, instance.exports);
}
