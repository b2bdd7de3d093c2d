/**
 * A tiny WebAssembly binary writer: just enough (one imported shared memory, functions with i32
 * and v128 locals, structured control flow, scalar/SIMD/atomic opcodes) to emit the sgemm kernels
 * as bytes at run time, so no WebAssembly toolchain is needed to build or ship them.
 *
 * @module
 */

/** WebAssembly value types used here. */
export const I32 = 0x7f;
/** 32-bit float value type. */
export const F32 = 0x7d;
/** 128-bit SIMD value type. */
export const V128 = 0x7b;

/** Unsigned LEB128. */
function uleb(out: number[], value: number): void {
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

/** Signed LEB128 of a 32-bit integer. */
function sleb(out: number[], value: number): void {
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

function utf8(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  out.push(...bytes);
}

/** Builds the body of one function; opcodes are appended in order (a stack machine). */
export class FunctionBuilder {
  /** The encoded instructions. */
  readonly code: number[] = [];
  /** Types of the locals declared after the parameters. */
  readonly localTypes: number[] = [];

  /** `params` and `results` are value types; parameters are locals 0..params.length-1. */
  constructor(
    readonly name: string,
    readonly params: number[],
    readonly results: number[],
  ) {}

  /** Declares a new local of `type` and returns its index. */
  local(type: number): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** Appends raw bytes. */
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  /** local.get */
  get(i: number): this {
    this.code.push(0x20);
    uleb(this.code, i);
    return this;
  }
  /** local.set */
  set(i: number): this {
    this.code.push(0x21);
    uleb(this.code, i);
    return this;
  }
  /** local.tee */
  tee(i: number): this {
    this.code.push(0x22);
    uleb(this.code, i);
    return this;
  }
  /** i32.const */
  i32(v: number): this {
    this.code.push(0x41);
    sleb(this.code, v);
    return this;
  }
  /** f32.const */
  f32(v: number): this {
    this.code.push(0x43);
    const buf = new Uint8Array(new Float32Array([v]).buffer);
    this.code.push(...buf);
    return this;
  }
  /** i32.add */
  add(): this {
    return this.op(0x6a);
  }
  /** i32.sub */
  sub(): this {
    return this.op(0x6b);
  }
  /** i32.mul */
  mul(): this {
    return this.op(0x6c);
  }
  /** i32.lt_s */
  ltS(): this {
    return this.op(0x48);
  }
  /** i32.ge_s */
  geS(): this {
    return this.op(0x4e);
  }
  /** i32.ne */
  ne(): this {
    return this.op(0x47);
  }
  /** i32.eqz */
  eqz(): this {
    return this.op(0x45);
  }
  /** i32.and */
  and(): this {
    return this.op(0x71);
  }
  /** select (pops condition, second, first) */
  select(): this {
    return this.op(0x1b);
  }
  /** Memory access with a static byte `offset` and log2 alignment `align`. */
  private mem(prefix: number[], align: number, offset: number): this {
    this.code.push(...prefix);
    uleb(this.code, align);
    uleb(this.code, offset);
    return this;
  }
  /** f32.load */
  f32Load(offset = 0): this {
    return this.mem([0x2a], 2, offset);
  }
  /** f32.store */
  f32Store(offset = 0): this {
    return this.mem([0x38], 2, offset);
  }
  /** f32.add */
  f32Add(): this {
    return this.op(0x92);
  }
  /** f32.mul */
  f32Mul(): this {
    return this.op(0x94);
  }
  /** v128.load */
  v128Load(offset = 0): this {
    return this.mem([0xfd, 0x00], 4, offset);
  }
  /** v128.store */
  v128Store(offset = 0): this {
    return this.mem([0xfd, 0x0b], 4, offset);
  }
  /** v128.load32_splat: one float broadcast to four lanes. */
  v128Load32Splat(offset = 0): this {
    return this.mem([0xfd, 0x09], 2, offset);
  }
  /** v128.load64_zero: two floats into the low lanes, zeros above. */
  v128Load64Zero(offset = 0): this {
    return this.mem([0xfd, 0x5d], 3, offset);
  }
  /** v128.store64_lane: stores 64-bit lane `lane` (two floats). */
  v128Store64Lane(offset: number, lane: number): this {
    this.mem([0xfd, 0x5b], 3, offset);
    this.code.push(lane);
    return this;
  }
  /** i8x16.shuffle by float lanes: `lanes[i]` in 0..3 picks from the first operand, 4..7 the second. */
  f32x4Shuffle(lanes: [number, number, number, number]): this {
    this.code.push(0xfd, 0x0d);
    for (const lane of lanes) for (let b = 0; b < 4; b++) this.code.push(lane * 4 + b);
    return this;
  }
  /** f32x4.splat */
  f32x4Splat(): this {
    return this.op(0xfd, 0x13);
  }
  /** f32x4.add */
  f32x4Add(): this {
    return this.op(0xfd, 0xe4, 0x01);
  }
  /** f32x4.mul */
  f32x4Mul(): this {
    return this.op(0xfd, 0xe6, 0x01);
  }
  /** f32x4.relaxed_madd: a*b+c, fused where the CPU has FMA (relaxed-simd proposal). */
  f32x4RelaxedMadd(): this {
    return this.op(0xfd, 0x85, 0x02);
  }
  /** v128.const of zeros */
  v128Zero(): this {
    this.code.push(0xfd, 0x0c);
    for (let i = 0; i < 16; i++) this.code.push(0);
    return this;
  }
  /** block ... end around `body`; a `br 0` inside leaves it. */
  block(body: () => void): this {
    this.code.push(0x02, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }
  /** loop ... end around `body`; a `br 0` inside jumps back to its start. */
  loop(body: () => void): this {
    this.code.push(0x03, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }
  /** if (pops condition) then `then` else `otherwise`; `result` types a value-producing if. */
  if(then: () => void, otherwise?: () => void, result?: number): this {
    this.code.push(0x04, result ?? 0x40);
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.code.push(0x0b);
    return this;
  }
  /** br_if to the `depth`-th enclosing label. */
  brIf(depth: number): this {
    this.code.push(0x0d);
    uleb(this.code, depth);
    return this;
  }
  /** br to the `depth`-th enclosing label. */
  br(depth: number): this {
    this.code.push(0x0c);
    uleb(this.code, depth);
    return this;
  }
}

/**
 * Assembles a module that imports `env.memory` (shared, `minPages`..`maxPages`) and exports each
 * function under its name.
 */
export function buildModule(
  functions: FunctionBuilder[],
  memory: { minPages: number; maxPages: number; shared: boolean },
): Uint8Array<ArrayBuffer> {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, body: number[]) => {
    out.push(id);
    uleb(out, body.length);
    out.push(...body);
  };
  // Type section: one signature per function (duplicates are legal and keep this simple).
  const types: number[] = [];
  uleb(types, functions.length);
  for (const f of functions) {
    types.push(0x60);
    uleb(types, f.params.length);
    types.push(...f.params);
    uleb(types, f.results.length);
    types.push(...f.results);
  }
  section(1, types);
  // Import section: the memory.
  const imports: number[] = [];
  uleb(imports, 1);
  utf8(imports, "env");
  utf8(imports, "memory");
  imports.push(0x02, memory.shared ? 0x03 : 0x01);
  uleb(imports, memory.minPages);
  uleb(imports, memory.maxPages);
  section(2, imports);
  // Function section.
  const funcs: number[] = [];
  uleb(funcs, functions.length);
  functions.forEach((_, i) => uleb(funcs, i));
  section(3, funcs);
  // Export section.
  const exports: number[] = [];
  uleb(exports, functions.length);
  functions.forEach((f, i) => {
    utf8(exports, f.name);
    exports.push(0x00);
    uleb(exports, i);
  });
  section(7, exports);
  // Code section: locals run-length encoded one by one (simple, valid).
  const code: number[] = [];
  uleb(code, functions.length);
  for (const f of functions) {
    const body: number[] = [];
    uleb(body, f.localTypes.length);
    for (const t of f.localTypes) body.push(0x01, t);
    body.push(...f.code, 0x0b);
    uleb(code, body.length);
    code.push(...body);
  }
  section(10, code);
  return new Uint8Array(out);
}
