/**
 * Tensors and reverse-mode autograd with explicit lifetimes. JavaScript has no destructors, so
 * every device buffer has one owner that frees it deterministically:
 *
 * - a `Parameter` is persistent: its value and its gradient live until `dispose()`; gradients
 *   ACCUMULATE across backward passes until `zeroGrad()` (gradient accumulation for free);
 * - a `Tape` is an arena for one step: every tensor an op creates on it (activations, saved
 *   statistics, gradients of intermediates) is freed by `tape.dispose()` (or `using`).
 *
 * So a training step is `{ using tape = new Tape(backend); ...forward...; tape.backward(loss); }`
 * followed by an optimizer step, and memory is the same after every step.
 *
 * @module
 */
import { seededRandom } from "../util/random.ts";
import type { Backend, DeviceBuffer, DType, HostArrayOf } from "./backend.ts";

/** Number of elements of a shape (1 for a scalar, shape []). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`bad shape [${shape}]`);
  }
}

/**
 * A dense row-major array on a backend. A tensor either belongs to a `Tape` (freed with it) or
 * is a `Parameter` (persistent). `reshape` gives a view on the same buffer.
 */
export class Tensor<D extends DType = DType> {
  /** Elements in the tensor. */
  readonly size: number;

  /** @internal Use tape.tensor / ops / Parameter to create tensors. */
  constructor(
    /** The backend holding the buffer. */
    readonly backend: Backend,
    /** Dimensions, outermost first. */
    readonly shape: readonly number[],
    /** The device buffer (shared with the base for views). */
    readonly buffer: DeviceBuffer<D>,
    /** The tape that owns it, or null for a persistent tensor. */
    readonly tape: Tape | null,
    /** Whether gradients flow to this tensor. */
    readonly requiresGrad: boolean,
    /** The tensor this one is a view of (gradients go to the base). */
    readonly base: Tensor<D> | null = null,
  ) {
    checkShape(shape);
    this.size = numel(shape);
  }

  /** Element type. */
  get dtype(): D {
    return this.buffer.dtype;
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Copies the values to the host (waits for pending work). */
  read(): Promise<HostArrayOf<D>> {
    return this.backend.read(this.buffer, 0, this.size);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new RangeError(`item(): tensor has ${this.size} elements`);
    return (await this.backend.read(this.buffer, 0, 1))[0];
  }

  /** A view with another shape (same element count); `-1` infers one dimension. */
  reshape(shape: readonly number[]): Tensor<D> {
    const resolved = inferShape(shape, this.size);
    return new Tensor(
      this.backend,
      resolved,
      this.buffer,
      this.tape,
      this.requiresGrad,
      this.base ?? this,
    );
  }
}

function inferShape(shape: readonly number[], size: number): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = numel(out.filter((_, i) => i !== free));
    out[free] = rest === 0 ? 0 : size / rest;
  }
  if (numel(out) !== size || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`reshape: [${shape}] does not fit ${size} elements`);
  }
  return out;
}

/** Options of a Parameter. */
export interface ParameterOptions {
  /** A name for optimizer groups, checkpoints and error messages. */
  name?: string;
  /** Whether it is trained (default true). A false one is a persistent constant. */
  requiresGrad?: boolean;
}

/**
 * A persistent f32 tensor (weights, or constants such as rotary tables). Its gradient buffer is
 * allocated on the first backward that reaches it and accumulates until `zeroGrad()`.
 */
export class Parameter extends Tensor<"f32"> {
  /** Name given at creation ("" if none). */
  readonly name: string;
  #grad: DeviceBuffer<"f32"> | null = null;
  #gradValid = false;
  #disposed = false;

  /** A parameter with the given values (length = numel(shape)). */
  constructor(
    backend: Backend,
    shape: readonly number[],
    values: Float32Array,
    options: ParameterOptions = {},
  ) {
    const n = numel(shape);
    if (values.length !== n) {
      throw new RangeError(
        `Parameter ${options.name ?? ""}: ${values.length} values for [${shape}]`,
      );
    }
    const buffer = backend.alloc("f32", n);
    backend.write(buffer, values);
    super(backend, shape, buffer, null, options.requiresGrad ?? true);
    this.name = options.name ?? "";
  }

  /** A parameter of zeros (the recipe's output projections and gates). */
  static zeros(backend: Backend, shape: readonly number[], options?: ParameterOptions): Parameter {
    return new Parameter(backend, shape, new Float32Array(numel(shape)), options);
  }

  /** Uniform in [-bound, bound) from a seeded generator (the recipe: bound = sqrt(3 / fan_in)). */
  static uniform(
    backend: Backend,
    shape: readonly number[],
    bound: number,
    options: ParameterOptions & { seed?: number } = {},
  ): Parameter {
    const next = seededRandom(options.seed ?? 0);
    const v = new Float32Array(numel(shape));
    for (let i = 0; i < v.length; i++) v[i] = (2 * next() - 1) * bound;
    return new Parameter(backend, shape, v, options);
  }

  /** Normal with mean 0 and standard deviation `std` (Box-Muller over a seeded generator). */
  static normal(
    backend: Backend,
    shape: readonly number[],
    std: number,
    options: ParameterOptions & { seed?: number } = {},
  ): Parameter {
    const next = seededRandom(options.seed ?? 0);
    const v = new Float32Array(numel(shape));
    for (let i = 0; i < v.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - next())), a = 2 * Math.PI * next();
      v[i] = std * r * Math.cos(a);
      if (i + 1 < v.length) v[i + 1] = std * r * Math.sin(a);
    }
    return new Parameter(backend, shape, v, options);
  }

  /** The gradient buffer, or null when no gradient has been accumulated since zeroGrad(). */
  get grad(): DeviceBuffer<"f32"> | null {
    return this.#gradValid ? this.#grad : null;
  }

  /** Host copy of the gradient (zeros when none has been accumulated). */
  async readGrad(): Promise<Float32Array> {
    const g = this.grad;
    return g ? await this.backend.read(g, 0, this.size) : new Float32Array(this.size);
  }

  /** Forget the accumulated gradient (O(1): the next backward overwrites instead of adding). */
  zeroGrad(): void {
    this.#gradValid = false;
  }

  /** Overwrite the values from the host. */
  set(values: Float32Array): void {
    if (values.length !== this.size) throw new RangeError(`set: ${values.length} != ${this.size}`);
    this.backend.write(this.buffer, values);
  }

  /** @internal The gradient buffer to write and whether it already holds a gradient. */
  gradSlot(): { buffer: DeviceBuffer<"f32">; accumulate: boolean } {
    if (!this.#grad) this.#grad = this.backend.alloc("f32", this.size);
    const accumulate = this.#gradValid;
    this.#gradValid = true;
    return { buffer: this.#grad, accumulate };
  }

  /** Free the value and gradient buffers. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.backend.free(this.buffer);
    if (this.#grad) this.backend.free(this.#grad);
    this.#grad = null;
  }
}

/** Where a backward closure writes a gradient: the buffer and whether to add into it. */
export interface GradSlot {
  /** Gradient buffer (numel of the tensor). */
  buffer: DeviceBuffer<"f32">;
  /** True when the buffer already holds a partial gradient. */
  accumulate: boolean;
}

interface Node {
  output: Tensor;
  backward: (grad: DeviceBuffer<"f32">) => void;
}

/** Options of a Tape. */
export interface TapeOptions {
  /** Record the graph for backward (default true). False = inference: nothing is saved. */
  grad?: boolean;
}

/** A tape tensor's gradient: its buffer, whether written, and who holds the buffer. */
interface GradEntry {
  buffer: DeviceBuffer<"f32">;
  valid: boolean;
  /** Entries sharing the buffer (passGrad); the last one released frees it. */
  holders: { count: number };
}

/**
 * The arena and autograd tape of one step. Ops record a backward closure per output that needs
 * a gradient; `backward(loss)` runs them in reverse; `dispose()` frees every buffer the tape
 * allocated. Works with `using tape = new Tape(backend)`.
 */
export class Tape {
  /** Whether ops record backward closures. */
  readonly grad: boolean;
  #owned: DeviceBuffer[] = [];
  #nodes: Node[] = [];
  #grads = new Map<Tensor, GradEntry>();
  /** The gradient entry of the node whose backward is running. */
  #running: GradEntry | null = null;
  #disposed = false;
  #backwardDone = false;
  #cleanups: (() => void)[] = [];

  /** A tape on `backend`. */
  constructor(readonly backend: Backend, options: TapeOptions = {}) {
    this.grad = options.grad ?? true;
  }

  /** A buffer owned by this tape (freed by dispose). */
  alloc<D extends DType>(dtype: D, length: number): DeviceBuffer<D> {
    this.#check();
    const b = this.backend.alloc(dtype, length);
    this.#owned.push(b);
    return b;
  }

  /** A tensor with uninitialised contents (every op overwrites its output). */
  empty<D extends DType = "f32">(shape: readonly number[], dtype?: D): Tensor<D> {
    const dt = (dtype ?? "f32") as D;
    return new Tensor(this.backend, shape, this.alloc(dt, numel(shape)), this, false);
  }

  /** A constant f32 tensor from host values. */
  tensor(shape: readonly number[], values: Float32Array | readonly number[]): Tensor<"f32"> {
    const t = this.empty(shape, "f32");
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    if (data.length !== t.size) {
      throw new RangeError(`tensor: ${data.length} values for [${shape}]`);
    }
    this.backend.write(t.buffer, data);
    return t;
  }

  /** A constant i32 tensor (token ids, targets) from host values. */
  ids(shape: readonly number[], values: Int32Array | readonly number[]): Tensor<"i32"> {
    const t = this.empty(shape, "i32");
    const data = values instanceof Int32Array ? values : Int32Array.from(values);
    if (data.length !== t.size) throw new RangeError(`ids: ${data.length} values for [${shape}]`);
    this.backend.write(t.buffer, data);
    return t;
  }

  /**
   * A view of a persistent tensor (a Parameter) on this tape, for ops whose inputs would all be
   * Parameters (e.g. `mul(tape.use(a), b)`): same buffer, gradients go to the Parameter.
   */
  use<D extends DType>(t: Tensor<D>): Tensor<D> {
    this.#check();
    return new Tensor(t.backend, t.shape, t.buffer, this, t.requiresGrad, t.base ?? t);
  }

  /** A tensor filled with one value. */
  full(shape: readonly number[], value: number): Tensor<"f32"> {
    const t = this.empty(shape, "f32");
    this.backend.fill({ out: t.buffer, value });
    return t;
  }

  /**
   * @internal Create an op's output and, when any input needs a gradient and the tape records,
   * register its backward closure (called with the output's gradient buffer).
   */
  record(
    shape: readonly number[],
    inputs: readonly Tensor[],
    forward: (out: DeviceBuffer<"f32">) => void,
    backward: (grad: DeviceBuffer<"f32">, out: DeviceBuffer<"f32">) => void,
  ): Tensor<"f32"> {
    const needs = this.grad && inputs.some((t) => t.requiresGrad);
    const buffer = this.alloc("f32", numel(shape));
    forward(buffer);
    const out = new Tensor(this.backend, shape, buffer, this, needs);
    if (needs) this.#nodes.push({ output: out, backward: (g) => backward(g, buffer) });
    return out;
  }

  /**
   * @internal The gradient slot of `t` (its base for a view): a Parameter's own gradient or a
   * tape-owned buffer. Returns null when `t` needs no gradient.
   */
  gradSlot(t: Tensor): GradSlot | null {
    if (!t.requiresGrad) return null;
    const target = t.base ?? t;
    if (target instanceof Parameter) return target.gradSlot();
    let entry = this.#grads.get(target);
    if (!entry) {
      const buffer = this.backend.alloc("f32", target.size);
      entry = { buffer, valid: false, holders: { count: 1 } };
      this.#grads.set(target, entry);
    } else if (entry.holders.count > 1) {
      // Shared by passGrad: copy before writing (the others still read it).
      const copy = this.backend.alloc("f32", target.size);
      this.backend.scale({ x: entry.buffer, out: copy, n: target.size, alpha: 1 });
      entry.holders.count--;
      entry.buffer = copy;
      entry.holders = { count: 1 };
    }
    const accumulate = entry.valid;
    entry.valid = true;
    return { buffer: entry.buffer, accumulate };
  }

  /**
   * @internal Let `t`'s gradient be `grad`, the gradient of the node whose backward is running,
   * instead of a copy of it (the backward of `add`): possible when t is a tape tensor (not a
   * Parameter) of the same size that has no gradient yet. The buffer is then shared, read-only:
   * whoever writes into it first (a later gradient of t) copies it first, so an `add` whose
   * operands are each used once copies nothing. Returns false when it cannot (the caller copies).
   */
  passGrad(t: Tensor, grad: DeviceBuffer<"f32">): boolean {
    const running = this.#running;
    if (!running || running.buffer !== grad || !t.requiresGrad) return false;
    const target = t.base ?? t;
    if (target instanceof Parameter || target.size !== grad.length) return false;
    if (this.#grads.has(target)) return false;
    running.holders.count++;
    this.#grads.set(target, { buffer: grad, valid: true, holders: running.holders });
    return true;
  }

  /** Drop one holder of an entry's buffer; the last one frees it. */
  #release(entry: GradEntry): void {
    if (--entry.holders.count === 0) this.backend.free(entry.buffer);
  }

  /**
   * Backpropagate from a one-element `loss` (seed gradient `seed`, default 1; use 1/steps for
   * gradient accumulation over micro-steps). Parameter gradients accumulate.
   */
  backward(loss: Tensor, seed = 1): void {
    this.#check();
    if (loss.size !== 1) throw new RangeError(`backward: loss has ${loss.size} elements, not 1`);
    if (!loss.requiresGrad) throw new Error("backward: loss does not depend on any parameter");
    if (this.#backwardDone) throw new Error("backward: already run on this tape");
    this.#backwardDone = true;
    const slot = this.gradSlot(loss)!;
    this.backend.fill({ out: slot.buffer, value: seed });
    for (let i = this.#nodes.length - 1; i >= 0; i--) {
      const node = this.#nodes[i];
      const entry = this.#grads.get(node.output);
      if (!entry || !entry.valid) continue; // no gradient reached this output
      this.#running = entry;
      node.backward(entry.buffer);
      this.#running = null;
      // The output's gradient is consumed: release it now to keep the peak low.
      this.#release(entry);
      this.#grads.delete(node.output);
    }
  }

  /** Run `fn` when the tape is disposed (to tie other resources to this step). */
  onDispose(fn: () => void): void {
    this.#check();
    this.#cleanups.push(fn);
  }

  /** Free every buffer this tape allocated, then run the onDispose callbacks. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const fn of this.#cleanups.splice(0)) fn();
    for (const b of this.#owned) this.backend.free(b);
    for (const e of this.#grads.values()) this.#release(e);
    this.#owned = [];
    this.#grads.clear();
    this.#nodes = [];
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new Error("tape used after dispose()");
  }
}
