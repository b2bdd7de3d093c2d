/**
 * The WebGPU implementation of the raw `Backend` contract: pooled device buffers, one WGSL kernel
 * family per op (kernels/*.wgsl), every op recorded into the dispatcher's open command encoder,
 * and only `read`/`sync` waiting on the device. Scratch buffers an op needs (embedding sort,
 * attention delta, norm partials) come from the same pool and go back right after recording:
 * the queue runs in order, so the next op that reuses them runs after this one.
 */
import type {
  AdamWGroupParams,
  AdamWParams,
  AttentionBackwardParams,
  AttentionParams,
  Backend,
  BackendInfo,
  BinaryParams,
  BroadcastToParams,
  Copy2dParams,
  CrossEntropyBackwardParams,
  CrossEntropyParams,
  DeviceBuffer,
  DType,
  EmbeddingBackwardParams,
  EmbeddingParams,
  FillParams,
  HostArrayOf,
  MatmulParams,
  MemoryStats,
  MuonMomentumParams,
  MuonMomentumStackParams,
  MuonUpdateParams,
  MuonUpdateStackParams,
  NormalizeFrobeniusParams,
  ReduceToParams,
  RmsNormBackwardParams,
  RmsNormParams,
  RotaryParams,
  ScaleParams,
  UnaryBackwardParams,
  UnaryParams,
} from "../backend.ts";
import { createGpuDevice, type GpuDevice, type GpuDeviceOptions } from "./device.ts";
import { type BufferBinding, Dispatcher, type KernelSpec } from "./dispatch.ts";
import {
  CROSS_ENTROPY,
  ELEMENTWISE,
  EMBEDDING,
  NORM,
  OPTIM,
  packFor,
  REDUCE_TO,
  ROTARY,
} from "./kernels.ts";
import { BufferPool } from "./pool.ts";
import {
  type AttentionRecorder,
  type AttentionShape,
  attentionShape,
  type AttentionVariant,
  defaultAttentionVariant,
} from "./attention_variants.ts";
import {
  slotBuffers,
  stackChunks,
  type StackEntry,
  stackKernel,
  stackSlots,
} from "./optim_stack.ts";
import {
  defaultMatmulVariant,
  type MatmulDeviceCaps,
  type MatmulLaunch,
  matmulLaunchAligned,
  type MatmulRecorder,
  type MatmulShape,
  type MatmulVariant,
} from "./matmul_variants.ts";

/** A device buffer of the WebGPU backend. */
export class WebGpuBuffer<D extends DType = DType> implements DeviceBuffer<D> {
  /** Element type. */
  readonly dtype: D;
  /** Elements requested. */
  readonly length: number;
  /** The pooled GPU buffer (bucket-sized, at least length * 4 bytes). */
  readonly gpu: GPUBuffer;
  /** The backend it belongs to. */
  readonly owner: WebGpuBackend;
  /** Set by `free`; any later use throws. */
  freed = false;

  /** Wrap a pooled buffer (use `WebGpuBackend.alloc`). */
  constructor(owner: WebGpuBackend, dtype: D, length: number, gpu: GPUBuffer) {
    this.owner = owner;
    this.dtype = dtype;
    this.length = length;
    this.gpu = gpu;
  }
}

/** Uniform block builder: 32-bit words, set as u32 or f32 by index. */
class Uniforms {
  readonly u32: Uint32Array;
  readonly f32: Float32Array;
  constructor(words: number) {
    this.u32 = new Uint32Array(words);
    this.f32 = new Float32Array(this.u32.buffer);
  }
  /** Set consecutive u32 words from `at`. */
  u(at: number, ...values: number[]): this {
    values.forEach((v, i) => this.u32[at + i] = v >>> 0);
    return this;
  }
  /** Set consecutive f32 words from `at`. */
  f(at: number, ...values: number[]): this {
    values.forEach((v, i) => this.f32[at + i] = v);
    return this;
  }
}

const WG = 256;

/** A byte range of a buffer bound for one dispatch, and the element offset inside it. */
interface Window {
  binding: BufferBinding;
  rem: number;
}

/** Row-major element strides of `shape` (rank 4), 0 where the operand broadcasts. */
function broadcastStrides(operand: readonly number[], out: readonly number[]): number[] {
  const strides = [0, 0, 0, 0];
  let stride = 1;
  for (let d = 3; d >= 0; d--) {
    strides[d] = operand[d] === 1 && out[d] !== 1 ? 0 : stride;
    stride *= operand[d];
  }
  return strides;
}

/** Pad a shape of rank 1..4 to rank 4 with leading 1s, checking it against `out`. */
function rank4(shape: readonly number[]): number[] {
  if (shape.length < 1 || shape.length > 4) {
    throw new RangeError(`webgpu: shapes must have rank 1..4, got [${shape}]`);
  }
  return [...Array(4 - shape.length).fill(1), ...shape];
}

function checkBroadcast(name: string, operand: readonly number[], out: readonly number[]) {
  for (let d = 0; d < 4; d++) {
    if (operand[d] !== out[d] && operand[d] !== 1) {
      throw new RangeError(`webgpu: ${name} shape [${operand}] does not broadcast to [${out}]`);
    }
  }
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * log2 of the lanes that share one row of `packs` packs in the row kernels (norm): the smallest
 * power of two in [4, 256] that leaves each lane at most two packs, so short rows pack several
 * to a 256-invocation workgroup and every lane has a couple of loads in flight.
 */
function rowLanesLog2(packs: number): number {
  let log2 = 2;
  while (log2 < 8 && (1 << log2) * 2 < packs) log2++;
  return log2;
}

/**
 * A launch's variant when one is forced (it must support the shape: tests and tuners force
 * variants) or tuned (used when it supports the shape); undefined leaves it to the default.
 */
function forcedOrTuned<S, C, V extends { id: string; supports(shape: S, caps: C): boolean }>(
  what: string,
  shape: S,
  caps: C,
  forced: V | null,
  choice: ((shape: S) => V | undefined) | null,
): V | undefined {
  if (forced) {
    if (!forced.supports(shape, caps)) {
      throw new RangeError(`webgpu: ${what} variant ${forced.id} does not support this shape`);
    }
    return forced;
  }
  const tuned = choice?.(shape);
  return tuned && tuned.supports(shape, caps) ? tuned : undefined;
}

/** Options for `createWebGpuBackend`. */
export interface WebGpuBackendOptions extends GpuDeviceOptions {
  /** Use this device (the caller keeps ownership of the adapter; destroy() still destroys it). */
  gpuDevice?: GpuDevice;
}

/** The WebGPU backend. Create it with `createWebGpuBackend`. */
export class WebGpuBackend implements Backend {
  /** Identity and device description. */
  readonly info: BackendInfo;
  /** The device and its granted limits. */
  readonly gpu: GpuDevice;
  /** The dispatcher (exposed for tests and benchmarks: dispatch and submit counts). */
  readonly dispatcher: Dispatcher;
  readonly #pool: BufferPool;
  #destroyed = false;
  #lost: string | null = null;
  /**
   * Untuned matmul uses 128x128 output tiles when a product has at least this many of them
   * (enough workgroups to fill a large GPU), else 64x64 tiles. Tunable for benchmarks and tests.
   */
  largeTileMinTiles = 64;
  /** A matmul variant every product must use (tests and the tuner set it). */
  forcedMatmulVariant: MatmulVariant | null = null;
  /** The tuned choice per shape (set by `applyMatmulTuning`); null = untuned defaults. */
  matmulChoice: ((shape: MatmulShape) => MatmulVariant | undefined) | null = null;
  /** Called with every matmul's shape (the tuner collects what a run uses). */
  onMatmulShape: ((shape: MatmulShape) => void) | null = null;

  /** Use `createWebGpuBackend`. */
  constructor(gpu: GpuDevice) {
    this.gpu = gpu;
    this.info = { name: "webgpu", device: gpu.description, isFallback: gpu.isFallback };
    this.dispatcher = new Dispatcher(gpu.device);
    this.#pool = new BufferPool(gpu.device);
    gpu.device.lost.then((info) => {
      if (!this.#destroyed) this.#lost = `webgpu: device lost (${info.reason}): ${info.message}`;
    });
  }

  #live(): void {
    if (this.#lost) throw new Error(this.#lost);
    if (this.#destroyed) throw new Error("webgpu: backend used after destroy()");
  }

  /** Unwrap a handle of this backend, checking it is alive and fits one storage binding. */
  #buf(handle: DeviceBuffer, name = "buffer", whole = true): GPUBuffer {
    const b = handle as WebGpuBuffer;
    if (!(b instanceof WebGpuBuffer) || b.owner !== this) {
      throw new TypeError(`webgpu: ${name} is not a buffer of this backend`);
    }
    if (b.freed) throw new Error(`webgpu: ${name} used after free`);
    if (whole && b.length * 4 > this.dispatcher.maxStorageBindingBytes) {
      throw new RangeError(
        `webgpu: ${name} has ${b.length * 4} bytes, over this adapter's storage binding limit ` +
          `${this.dispatcher.maxStorageBindingBytes}; split the tensor`,
      );
    }
    return b.gpu;
  }

  /**
   * Run an op over `n` items in windows that each fit one storage binding. `buffers` are indexed
   * as item * perItem[i] (elementwise: 1; row-wise ops: the row length). Each window binds a byte
   * range of every buffer, so the kernel sees its window starting at element 0. One window, with
   * whole-buffer bindings, when everything fits.
   */
  #windows(
    n: number,
    buffers: { handle: DeviceBuffer; name: string; perItem: number }[],
    body: (bindings: BufferBinding[], start: number, count: number) => void,
  ): void {
    const limit = this.dispatcher.maxStorageBindingBytes;
    const gpus = buffers.map((b) => {
      const gpu = this.#buf(b.handle, b.name, false);
      if (n * b.perItem > b.handle.length) {
        throw new RangeError(
          `webgpu: ${b.name} needs ${n * b.perItem} elements, has ${b.handle.length}`,
        );
      }
      return gpu;
    });
    if (buffers.every((b) => b.handle.length * 4 <= limit)) {
      body(gpus.map((buffer) => ({ buffer })), 0, n);
      return;
    }
    // Window starts must be aligned for every buffer: items a multiple of `align`.
    const alignElems = this.gpu.limits.minStorageBufferOffsetAlignment / 4;
    const widest = Math.max(...buffers.map((b) => b.perItem));
    let step = Math.floor(limit / 4 / widest);
    step -= step % alignElems;
    if (step < alignElems) {
      throw new RangeError(`webgpu: rows of ${widest} elements exceed one storage binding`);
    }
    for (let start = 0; start < n; start += step) {
      const count = Math.min(step, n - start);
      body(
        gpus.map((buffer, i) => ({
          buffer,
          offset: start * buffers[i].perItem * 4,
          // Round the size up to 16 bytes (a vec4 view must cover a window's last partial
          // quad); never past the buffer.
          size: Math.min(
            Math.ceil(count * buffers[i].perItem / 4) * 16,
            buffer.size - start * buffers[i].perItem * 4,
          ),
        })),
        start,
        count,
      );
    }
  }

  #need(handle: DeviceBuffer, elements: number, name: string): GPUBuffer {
    const gpu = this.#buf(handle, name);
    if (elements > handle.length) {
      throw new RangeError(`webgpu: ${name} needs ${elements} elements, has ${handle.length}`);
    }
    return gpu;
  }

  #run(spec: KernelSpec, u: Uniforms, buffers: (GPUBuffer | BufferBinding)[], grid: number[]) {
    this.#live();
    this.dispatcher.dispatch(spec, u.u32, buffers, grid as [number, number?, number?]);
  }

  /** A 1-D launch of `n` invocations in workgroups of `wg`, folded to 2-D when needed. */
  #grid(n: number, wg = WG): number[] {
    return this.dispatcher.grid1d(Math.ceil(n / wg));
  }

  #scratch(elements: number): WebGpuBuffer<"f32"> {
    return this.alloc("f32", Math.max(elements, 1));
  }

  // ---- buffers -------------------------------------------------------------------------------

  /** A pooled buffer of `length` elements (contents undefined). */
  alloc<D extends DType>(dtype: D, length: number): WebGpuBuffer<D> {
    this.#live();
    if (!Number.isInteger(length) || length < 0) {
      throw new RangeError(`webgpu: alloc length must be a non-negative integer, got ${length}`);
    }
    const bytes = length * 4;
    if (bytes > this.gpu.limits.maxBufferSize) {
      throw new RangeError(
        `webgpu: ${bytes} bytes exceed this adapter's maxBufferSize ${this.gpu.limits.maxBufferSize}`,
      );
    }
    return new WebGpuBuffer(this, dtype, length, this.#pool.acquire(bytes));
  }

  /** Return a buffer to the pool. */
  free(buffer: DeviceBuffer): void {
    const b = buffer as WebGpuBuffer;
    if (!(b instanceof WebGpuBuffer) || b.owner !== this) {
      throw new TypeError("webgpu: free of a buffer from another backend");
    }
    if (b.freed) throw new Error("webgpu: double free");
    b.freed = true;
    if (!this.#destroyed) this.#pool.release(b.gpu);
  }

  /** Copy host data in at element `offset` (pending ops are submitted first to keep order). */
  write<D extends DType>(buffer: DeviceBuffer<D>, data: HostArrayOf<D>, offset = 0): void {
    this.#live();
    const gpu = this.#buf(buffer, "buffer", false); // copies have no binding limit
    if (offset < 0 || offset + data.length > buffer.length) {
      throw new RangeError(
        `webgpu: write of ${data.length} at ${offset} exceeds ${buffer.length} elements`,
      );
    }
    if (data.length === 0) return;
    // queue.writeBuffer runs before any not-yet-submitted commands: submit them first.
    this.dispatcher.flush();
    // A SharedArrayBuffer-backed view is valid here too; the types only name ArrayBuffer.
    this.gpu.device.queue.writeBuffer(
      gpu,
      offset * 4,
      data as unknown as Float32Array<ArrayBuffer>,
    );
  }

  /** A host copy of [offset, offset + length) once all enqueued work is done. */
  async read<D extends DType>(
    buffer: DeviceBuffer<D>,
    offset = 0,
    length?: number,
  ): Promise<HostArrayOf<D>> {
    this.#live();
    const gpu = this.#buf(buffer, "buffer", false); // copies have no binding limit
    const count = length ?? buffer.length - offset;
    if (offset < 0 || count < 0 || offset + count > buffer.length) {
      throw new RangeError(`webgpu: read [${offset}, +${count}) outside ${buffer.length} elements`);
    }
    const make = (bytes: ArrayBuffer) =>
      (buffer.dtype === "i32" ? new Int32Array(bytes) : new Float32Array(bytes)) as HostArrayOf<D>;
    if (count === 0) return make(new ArrayBuffer(0));
    const staging = this.gpu.device.createBuffer({
      size: count * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      this.dispatcher.copy(gpu, offset * 4, staging, 0, count * 4);
      this.dispatcher.flush();
      await staging.mapAsync(GPUMapMode.READ);
      if (this.#lost) throw new Error(this.#lost);
      return make(staging.getMappedRange().slice(0));
    } finally {
      staging.destroy();
    }
  }

  /** Wait for all enqueued work. */
  async sync(): Promise<void> {
    this.#live();
    await this.dispatcher.sync();
    if (this.#lost) throw new Error(this.#lost);
  }

  /** Byte counters of the pool. */
  memory(): MemoryStats {
    return this.#pool.stats();
  }

  /** Restart the peaks. */
  resetPeak(): void {
    this.#pool.resetPeak();
  }

  /** Destroy pooled free buffers. Submits first so no recorded command uses a destroyed one. */
  trim(): void {
    if (this.#destroyed) return;
    this.dispatcher.flush();
    this.#pool.trim();
  }

  /** Destroy the device and everything on it. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.dispatcher.destroy();
    this.gpu.device.destroy();
  }

  // ---- elementwise ---------------------------------------------------------------------------

  /** out[offset..offset+length) = value (f32 or i32 bits; windowed past the binding limit). */
  fill(p: FillParams): void {
    const offset = p.offset ?? 0;
    const length = p.length ?? p.out.length - offset;
    if (length <= 0) return;
    const bits = p.out.dtype === "i32"
      ? new Uint32Array(new Int32Array([p.value]).buffer)[0]
      : new Uint32Array(new Float32Array([p.value]).buffer)[0];
    if (offset + length > p.out.length) {
      throw new RangeError(`webgpu: fill [${offset}, +${length}) outside ${p.out.length} elements`);
    }
    // Windows over the whole buffer; each fills its share of [offset, offset + length).
    const buffers = [{ handle: p.out, name: "out", perItem: 1 }];
    this.#windows(p.out.length, buffers, (bindings, start, count) => {
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + count);
      if (to <= from) return;
      const u = new Uniforms(28).u(0, to - from, 0, 0, from - start).u(6, bits);
      const quads = Math.ceil((to - start) / 4) - Math.floor((from - start) / 4);
      this.#run(ELEMENTWISE.fill, u, bindings, this.#grid(quads));
    });
  }

  /** dst (+)= src over a strided 2-D block. */
  copy2d(p: Copy2dParams): void {
    const srcOffset = p.srcOffset ?? 0;
    const dstOffset = p.dstOffset ?? 0;
    const n = p.rows * p.cols;
    if (n === 0) return;
    if (p.src === p.dst) throw new RangeError("webgpu: copy2d src and dst must differ");
    const src = this.#need(p.src, srcOffset + (p.rows - 1) * p.srcStride + p.cols, "src");
    const dst = this.#need(p.dst, dstOffset + (p.rows - 1) * p.dstStride + p.cols, "dst");
    // vec4 when the rows are whole quads that start on quads.
    const layout = [p.cols, p.srcStride, p.dstStride, srcOffset, dstOffset];
    const pack = layout.every((v) => v % 4 === 0) ? 4 : 1;
    const u = new Uniforms(28).u(0, n / pack, 0, p.accumulate ? 1 : 0, 0)
      .u(8, p.rows, ...layout.map((v) => v / pack));
    const kernel = pack === 4 ? ELEMENTWISE.copy2d4 : ELEMENTWISE.copy2d;
    this.#run(kernel, u, [src, dst], this.#grid(n / pack));
  }

  /** out (+)= alpha * x (windowed past the binding limit). */
  scale(p: ScaleParams): void {
    if (p.n === 0) return;
    const buffers = [{ handle: p.x, name: "x", perItem: 1 }, {
      handle: p.out,
      name: "out",
      perItem: 1,
    }];
    this.#windows(p.n, buffers, (bindings, _start, count) => {
      const u = new Uniforms(28).u(0, count, 0, p.accumulate ? 1 : 0).f(4, p.alpha);
      this.#run(ELEMENTWISE.scale, u, bindings, this.#grid(Math.ceil(count / 4)));
    });
  }

  #unaryCode(op: string): number {
    const code = { relu2: 0, sigmoid: 1, softcap: 2 }[op];
    if (code === undefined) throw new RangeError(`webgpu: unknown unary op ${op}`);
    return code;
  }

  /** out (+)= f(x) (windowed past the binding limit). */
  unary(p: UnaryParams): void {
    if (p.n === 0) return;
    const code = this.#unaryCode(p.op);
    const buffers = [{ handle: p.x, name: "x", perItem: 1 }, {
      handle: p.out,
      name: "out",
      perItem: 1,
    }];
    this.#windows(p.n, buffers, (bindings, _start, count) => {
      const u = new Uniforms(28).u(0, count, code, p.accumulate ? 1 : 0).f(5, p.cap ?? 0);
      this.#run(ELEMENTWISE.unary, u, bindings, this.#grid(Math.ceil(count / 4)));
    });
  }

  /** gradIn (+)= gradOut * f'(x) (windowed past the binding limit). */
  unaryBackward(p: UnaryBackwardParams): void {
    if (p.n === 0) return;
    const code = this.#unaryCode(p.op);
    const buffers = [
      { handle: p.x, name: "x", perItem: 1 },
      { handle: p.y, name: "y", perItem: 1 },
      { handle: p.gradOut, name: "gradOut", perItem: 1 },
      { handle: p.gradIn, name: "gradIn", perItem: 1 },
    ];
    this.#windows(p.n, buffers, (bindings, _start, count) => {
      const u = new Uniforms(28).u(0, count, code, p.accumulate ? 1 : 0).f(5, p.cap ?? 0);
      this.#run(ELEMENTWISE.unaryBackward, u, bindings, this.#grid(Math.ceil(count / 4)));
    });
  }

  /** out (+)= a op b with broadcasting (rank 1..4). */
  binary(p: BinaryParams): void {
    const shape = rank4(p.shape);
    const aShape = rank4(p.aShape);
    const bShape = rank4(p.bShape);
    checkBroadcast("a", aShape, shape);
    checkBroadcast("b", bShape, shape);
    const n = product(shape);
    if (n === 0) return;
    const a = this.#need(p.a, product(aShape), "a");
    const b = this.#need(p.b, product(bShape), "b");
    const out = this.#need(p.out, n, "out");
    const op = p.op === "add" ? 0 : p.op === "mul" ? 1 : -1;
    if (op < 0) throw new RangeError(`webgpu: unknown binary op ${p.op}`);
    // vec4 over quads of the last dimension when it is a multiple of 4
    const pack = packFor(shape[3]);
    const u = new Uniforms(28).u(0, n / pack, op, p.accumulate ? 1 : 0)
      .u(16, ...shape, ...broadcastStrides(aShape, shape), ...broadcastStrides(bShape, shape));
    const kernel = pack === 4 ? ELEMENTWISE.binary4 : ELEMENTWISE.binary;
    this.#run(kernel, u, [a, b, out], this.#grid(n / pack));
  }

  /** out (+)= alpha * x broadcast from xShape. */
  broadcastTo(p: BroadcastToParams): void {
    const shape = rank4(p.shape);
    const xShape = rank4(p.xShape);
    checkBroadcast("x", xShape, shape);
    const n = product(shape);
    if (n === 0) return;
    const x = this.#need(p.x, product(xShape), "x");
    const out = this.#need(p.out, n, "out");
    const pack = packFor(shape[3]);
    const u = new Uniforms(28).u(0, n / pack, 0, p.accumulate ? 1 : 0).f(4, p.alpha ?? 1)
      .u(16, ...shape, ...broadcastStrides(xShape, shape));
    const kernel = pack === 4 ? ELEMENTWISE.broadcastTo4 : ELEMENTWISE.broadcastTo;
    this.#run(kernel, u, [x, out], this.#grid(n / pack));
  }

  /** out (+)= alpha * sum of x over the dims where outShape is 1 (see kernels/reduce.wgsl). */
  reduceTo(p: ReduceToParams): void {
    const shape = rank4(p.shape);
    const outShape = rank4(p.outShape);
    checkBroadcast("out", outShape, shape);
    const outCount = product(outShape);
    if (outCount === 0) return;
    const x = this.#need(p.x, product(shape), "x");
    const out = this.#need(p.out, outCount, "out");
    const redCount = product(shape) / outCount;
    const alpha = p.alpha ?? 1;
    const accumulate = p.accumulate ?? false;
    // Long reductions into few outputs: partial sums over `parts` slots per output first.
    const parts = outCount < 1024 && redCount >= 16384
      ? Math.min(1024, Math.ceil(redCount / 8192))
      : 1;
    if (parts === 1) {
      this.#reduce(x, out, shape, outShape, 1, alpha, accumulate);
      return;
    }
    const partials = this.#scratch(outCount * parts);
    try {
      this.#reduce(x, partials.gpu, shape, outShape, parts, 1, false);
      const partShape = [1, 1, outCount, parts];
      this.#reduce(partials.gpu, out, partShape, [1, 1, outCount, 1], 1, alpha, accumulate);
    } finally {
      this.free(partials);
    }
  }

  /** One reduce_to dispatch: outputs times `parts` slots, lanes per slot sized to the run. */
  #reduce(
    x: GPUBuffer,
    out: GPUBuffer,
    shape: number[],
    outShape: number[],
    parts: number,
    alpha: number,
    accumulate: boolean,
  ): void {
    const outCount = product(outShape);
    const redCount = product(shape) / outCount;
    const perSlot = Math.ceil(redCount / parts);
    let lanesLog2 = 2;
    while (lanesLog2 < 8 && (1 << lanesLog2) * 8 < perSlot) lanesLog2++;
    // Reduced dims all trailing: output o sums the contiguous run x[o * redCount ..].
    const lastKept = outShape.findLastIndex((d) => d !== 1);
    const contiguous = outShape.every((d, i) => i >= lastKept || d === shape[i]);
    const u = new Uniforms(16)
      .u(0, ...shape, ...outShape, outCount, redCount, accumulate ? 1 : 0, parts)
      .f(12, alpha).u(13, lanesLog2, contiguous ? 1 : 0);
    const slots = outCount * parts;
    this.#run(REDUCE_TO, u, [x, out], this.dispatcher.grid1d(Math.ceil(slots / (WG >> lanesLog2))));
  }

  // ---- matmul --------------------------------------------------------------------------------

  /** C = alpha * op(A) @ op(B) + beta * C, batched. */
  matmul(p: MatmulParams): void {
    const { m, n, k } = p;
    const batch = p.batch ?? 1;
    if (m === 0 || n === 0 || batch === 0) return;
    const transA = p.transA ?? false;
    const transB = p.transB ?? false;
    const strideA = p.strideA ?? m * k;
    const strideB = p.strideB ?? k * n;
    const strideC = p.strideC ?? m * n;
    const offsetA = p.offsetA ?? 0;
    const offsetB = p.offsetB ?? 0;
    const offsetC = p.offsetC ?? 0;
    const alpha = p.alpha ?? 1;
    const beta = p.beta ?? 0;
    if (batch > 1 && strideC < m * n) throw new RangeError("webgpu: matmul outputs overlap");
    if (p.c === p.a || p.c === p.b) throw new RangeError("webgpu: matmul c must not alias a or b");
    const limit = this.dispatcher.maxStorageBindingBytes;
    if ([p.a, p.b, p.c].some((h) => h.length * 4 > limit)) {
      this.#matmulWindowed(p, batch, [strideA, strideB, strideC], [offsetA, offsetB, offsetC]);
      return;
    }
    const a = this.#need(p.a, offsetA + (batch - 1) * strideA + m * k, "a");
    const b = this.#need(p.b, offsetB + (batch - 1) * strideB + k * n, "b");
    const c = this.#need(p.c, offsetC + (batch - 1) * strideC + m * n, "c");
    this.#recordMatmul({
      shape: { m, n, k, batch, transA, transB },
      alpha,
      beta,
      a: { buffer: a },
      b: { buffer: b },
      c: { buffer: c },
      offsetA,
      offsetB,
      offsetC,
      strideA,
      strideB,
      strideC,
    });
  }

  /** The device capabilities matmul variants are checked against. */
  get matmulCaps(): MatmulDeviceCaps {
    const limits = this.gpu.limits;
    return {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: this.dispatcher.maxWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: limits.minStorageBufferOffsetAlignment,
      shaderF16: this.gpu.device.features.has("shader-f16"),
    };
  }

  /**
   * The variant a shape runs with: the forced one when set (tests, tuner), else the tuned
   * table's choice, else the untuned default.
   */
  matmulVariantFor(shape: MatmulShape): MatmulVariant {
    return forcedOrTuned(
      "matmul",
      shape,
      this.matmulCaps,
      this.forcedMatmulVariant,
      this.matmulChoice,
    ) ??
      defaultMatmulVariant(shape, this.largeTileMinTiles);
  }

  #recordMatmul(launch: MatmulLaunch): void {
    this.#live();
    // vec4 variants need every offset and stride a multiple of 4: the shape says so.
    launch = { ...launch, shape: { ...launch.shape, aligned: matmulLaunchAligned(launch) } };
    this.onMatmulShape?.(launch.shape);
    const variant = this.matmulVariantFor(launch.shape);
    const { recorder, release } = this.#launchRecorder();
    try {
      variant.record(launch, recorder);
    } finally {
      release();
    }
  }

  /** A recorder of one variant launch's dispatches; `release` frees the scratch it handed out. */
  #launchRecorder(): { recorder: MatmulRecorder & AttentionRecorder; release: () => void } {
    const scratch: WebGpuBuffer[] = [];
    return {
      recorder: {
        caps: this.matmulCaps,
        dispatch: (spec, uniforms, buffers, grid) =>
          this.dispatcher.dispatch(spec, uniforms, buffers, grid),
        scratch: (elements) => {
          const buffer = this.#scratch(elements);
          scratch.push(buffer);
          return { buffer: buffer.gpu };
        },
      },
      release: () => {
        for (const buffer of scratch.splice(0)) this.free(buffer);
      },
    };
  }

  /**
   * A binding of elements [start, start + count) of a buffer: the binding starts at the aligned
   * element at or before `start` and `rem` is what the kernel adds to reach `start`.
   */
  #window(handle: DeviceBuffer, name: string, start: number, count: number): Window | null {
    const gpu = this.#buf(handle, name, false);
    if (start + count > handle.length) {
      throw new RangeError(`webgpu: ${name} needs ${start + count} elements, has ${handle.length}`);
    }
    const align = this.gpu.limits.minStorageBufferOffsetAlignment / 4;
    const rem = start % align;
    const bytes = (rem + count) * 4;
    if (bytes > this.dispatcher.maxStorageBindingBytes) return null;
    const offset = (start - rem) * 4;
    return { binding: { buffer: gpu, offset, size: bytes }, rem };
  }

  /**
   * matmul with an operand larger than one storage binding: batch items one at a time, and an
   * item that still does not fit is cut into row windows of A and C (A not transposed) or into
   * windows of the inner dimension accumulated into C (A transposed, B not): the forms of the
   * LM head (logits = x W^T, dx = dlogits W, dW = dlogits^T x).
   */
  #matmulWindowed(p: MatmulParams, batch: number, strides: number[], offsets: number[]): void {
    const { m, n, k } = p;
    const transA = p.transA ?? false;
    const transB = p.transB ?? false;
    const alpha = p.alpha ?? 1;
    const beta = p.beta ?? 0;
    const limitElems = Math.floor(this.dispatcher.maxStorageBindingBytes / 4) - 64;
    const run = (
      rows: number,
      inner: number,
      itemBeta: number,
      a: Window | null,
      b: Window | null,
      c: Window | null,
    ) =>
      this.#recordMatmul({
        shape: { m: rows, n, k: inner, batch: 1, transA, transB },
        alpha,
        beta: itemBeta,
        a: a!.binding,
        b: b!.binding,
        c: c!.binding,
        offsetA: a!.rem,
        offsetB: b!.rem,
        offsetC: c!.rem,
        strideA: 0,
        strideB: 0,
        strideC: 0,
      });
    const tooBig = () =>
      new RangeError(
        `webgpu: matmul (${m}x${k})x(${k}x${n}) transA=${transA} transB=${transB} has an operand ` +
          `over the storage binding limit ${this.dispatcher.maxStorageBindingBytes} that cannot be ` +
          "split; split the tensor",
      );
    for (let item = 0; item < batch; item++) {
      const [oa, ob, oc] = offsets.map((o, i) => o + item * strides[i]);
      const whole = [
        this.#window(p.a, "a", oa, m * k),
        this.#window(p.b, "b", ob, k * n),
        this.#window(p.c, "c", oc, m * n),
      ];
      if (whole.every((w) => w)) {
        run(m, k, beta, whole[0], whole[1], whole[2]);
      } else if (!transA && whole[1]) {
        // Row windows: A rows [r0, r0 + rows) and the same rows of C.
        let step = Math.floor(limitElems / Math.max(k, n));
        step -= step % 64;
        if (step < 64) throw tooBig();
        for (let r0 = 0; r0 < m; r0 += step) {
          const rows = Math.min(step, m - r0);
          const a = this.#window(p.a, "a", oa + r0 * k, rows * k);
          const c = this.#window(p.c, "c", oc + r0 * n, rows * n);
          run(rows, k, beta, a, whole[1], c);
        }
      } else if (transA && !transB && whole[2]) {
        // Inner windows: rows [k0, k0 + kc) of A (k, m) and of B (k, n), accumulated into C.
        let step = Math.floor(limitElems / Math.max(m, n));
        step -= step % 64;
        if (step < 64) throw tooBig();
        for (let k0 = 0; k0 < k; k0 += step) {
          const kc = Math.min(step, k - k0);
          const a = this.#window(p.a, "a", oa + k0 * m, kc * m);
          const b = this.#window(p.b, "b", ob + k0 * n, kc * n);
          run(m, kc, k0 === 0 ? beta : 1, a, b, whole[2]);
        }
      } else {
        throw tooBig();
      }
    }
  }

  // ---- embedding -----------------------------------------------------------------------------

  /** out[t, :] = table[ids[t], :]. */
  embedding(p: EmbeddingParams): void {
    const n = p.tokens * p.dim;
    if (n === 0) return;
    const bufs = [
      this.#need(p.ids, p.tokens, "ids"),
      this.#need(p.table, p.vocab * p.dim, "table"),
      this.#need(p.out, n, "out"),
    ];
    const pack = packFor(p.dim);
    const u = new Uniforms(8).u(0, p.tokens, p.vocab, p.dim / pack, 0);
    this.#run(EMBEDDING.forward[pack], u, bufs, this.#grid(n / pack));
  }

  /** gradTable (+)= scatter-add of gradOut by ids, via a counting sort (no float atomics). */
  embeddingBackward(p: EmbeddingBackwardParams): void {
    if (p.vocab === 0 || p.dim === 0) return;
    const ids = this.#need(p.ids, p.tokens, "ids");
    const gradOut = this.#need(p.gradOut, p.tokens * p.dim, "gradOut");
    const gradTable = this.#need(p.gradTable, p.vocab * p.dim, "gradTable");
    const counts = this.alloc("i32", p.vocab);
    const offsets = this.alloc("i32", p.vocab + 1);
    const order = this.alloc("i32", Math.max(p.tokens, 1));
    try {
      this.fill({ out: counts, value: 0 });
      const pack = packFor(p.dim);
      const packs = p.dim / pack;
      // Lanes per vocabulary row: the row's packs rounded up to a power of two, at most 256.
      let lanesLog2 = 0;
      while (lanesLog2 < 8 && 1 << lanesLog2 < packs) lanesLog2++;
      const u = new Uniforms(8).u(0, p.tokens, p.vocab, packs, p.accumulate ? 1 : 0, lanesLog2);
      const [c, o, ord] = [counts, offsets, order].map((b) => (b as WebGpuBuffer).gpu);
      this.#run(EMBEDDING.count, u, [ids, c], this.#grid(p.tokens));
      this.#run(EMBEDDING.scan, u, [c, o], [1]);
      this.#run(EMBEDDING.scatter, u, [ids, c, o, ord], this.#grid(p.tokens));
      const grid = this.dispatcher.grid1d(Math.ceil(p.vocab / (WG >> lanesLog2)));
      this.#run(EMBEDDING.segmentSum[pack], u, [gradOut, gradTable, o, ord], grid);
    } finally {
      this.free(counts);
      this.free(offsets);
      this.free(order);
    }
  }

  // ---- norms, rotary -------------------------------------------------------------------------

  /** RMSNorm forward, saving rstd (one pass; see kernels/norm.wgsl). */
  rmsnorm(p: RmsNormParams): void {
    if (p.rows === 0) return;
    const n = p.rows * p.dim;
    const bufs = [
      this.#need(p.x, n, "x"),
      this.#need(p.rstd, p.rows, "rstd"),
      this.#need(p.out, n, "out"),
    ];
    const pack = packFor(p.dim);
    const lanesLog2 = rowLanesLog2(p.dim / pack);
    const u = new Uniforms(8).u(0, p.rows, p.dim / pack, 0, lanesLog2)
      .f(4, p.eps ?? 1.1920929e-7, p.dim);
    const grid = this.dispatcher.grid1d(Math.ceil(p.rows / (WG >> lanesLog2)));
    this.#run(NORM[pack].forward, u, bufs, grid);
  }

  /** RMSNorm backward (one pass; see kernels/norm.wgsl). */
  rmsnormBackward(p: RmsNormBackwardParams): void {
    if (p.rows === 0) return;
    const n = p.rows * p.dim;
    const bufs = [
      this.#need(p.x, n, "x"),
      this.#need(p.gradOut, n, "gradOut"),
      this.#need(p.gradIn, n, "gradIn"),
      this.#need(p.rstd, p.rows, "rstd"),
    ];
    const pack = packFor(p.dim);
    const lanesLog2 = rowLanesLog2(p.dim / pack);
    const u = new Uniforms(8).u(0, p.rows, p.dim / pack, p.accumulate ? 1 : 0, lanesLog2)
      .f(5, p.dim);
    const grid = this.dispatcher.grid1d(Math.ceil(p.rows / (WG >> lanesLog2)));
    this.#run(NORM[pack].backward, u, bufs, grid);
  }

  /** Rotary embedding (inverse = backward), PACK pairs per invocation. */
  rotary(p: RotaryParams): void {
    const n = p.batch * p.seq * p.heads * p.headDim;
    if (n === 0) return;
    if (p.headDim % 2 !== 0) throw new RangeError("webgpu: rotary needs an even headDim");
    const half = p.headDim / 2;
    const bufs = [
      this.#need(p.x, n, "x"),
      this.#need(p.cos, p.seq * half, "cos"),
      this.#need(p.sin, p.seq * half, "sin"),
      this.#need(p.out, n, "out"),
    ];
    const pack = packFor(half);
    const packs = n / 2 / pack;
    const u = new Uniforms(8)
      .u(0, p.seq, p.heads, half / pack, packs, p.inverse ? 1 : 0, p.accumulate ? 1 : 0);
    this.#run(ROTARY[pack], u, bufs, this.#grid(packs));
  }

  // ---- attention -----------------------------------------------------------------------------

  /** An attention variant every launch must use (tests and the tuner set it). */
  forcedAttentionVariant: AttentionVariant | null = null;
  /** The tuned choice per shape (set by `applyAttentionTuning`); null = untuned default. */
  attentionChoice: ((shape: AttentionShape) => AttentionVariant | undefined) | null = null;
  /** Called with every attention launch's shape (the tuner collects what a run uses). */
  onAttentionShape: ((shape: AttentionShape) => void) | null = null;

  /**
   * The variant a shape runs with: the forced one when set (tests, tuner), else the tuned
   * choice, else the catalogue's first variant that fits the adapter.
   */
  attentionVariantFor(shape: AttentionShape): AttentionVariant {
    const caps = this.matmulCaps;
    const chosen = forcedOrTuned(
      "attention",
      shape,
      caps,
      this.forcedAttentionVariant,
      this.attentionChoice,
    );
    if (chosen) return chosen;
    const fallback = defaultAttentionVariant(shape, caps);
    if (fallback) return fallback;
    if (shape.batch * shape.heads > caps.maxComputeWorkgroupsPerDimension) {
      throw new RangeError("webgpu: attention batch*heads exceeds the workgroup grid limit");
    }
    throw new RangeError(`webgpu: attention headDim ${shape.headDim} too large for this adapter`);
  }

  /** The shape, variant and recorder of one attention launch (scratch freed by `release`). */
  #attentionSetup(p: AttentionParams | AttentionBackwardParams) {
    this.#live();
    const shape = attentionShape(p);
    this.onAttentionShape?.(shape);
    const variant = this.attentionVariantFor(shape);
    const { recorder, release } = this.#launchRecorder();
    return { shape, variant, recorder, release, scale: p.scale ?? 1 / Math.sqrt(p.headDim) };
  }

  /** Flash-style causal sliding-window attention forward (the variant of its shape). */
  attention(p: AttentionParams): void {
    const n = p.batch * p.seq * p.heads * p.headDim;
    if (n === 0) return;
    const rows = p.batch * p.heads * p.seq;
    const bind = (handle: DeviceBuffer, elements: number, name: string) => ({
      buffer: this.#need(handle, elements, name),
    });
    const q = bind(p.q, n, "q");
    const k = bind(p.k, n, "k");
    const v = bind(p.v, n, "v");
    const lse = bind(p.lse, rows, "lse");
    const out = bind(p.out, n, "out");
    const { shape, variant, recorder, release, scale } = this.#attentionSetup(p);
    try {
      variant.recordForward({ shape, scale, q, k, v, out, lse }, recorder);
    } finally {
      release();
    }
  }

  /** Attention backward: delta, then dK/dV per key block, then dQ per query block. */
  attentionBackward(p: AttentionBackwardParams): void {
    const n = p.batch * p.seq * p.heads * p.headDim;
    if (n === 0) return;
    const rows = p.batch * p.heads * p.seq;
    const bind = (handle: DeviceBuffer, elements: number, name: string) => ({
      buffer: this.#need(handle, elements, name),
    });
    const launch = {
      q: bind(p.q, n, "q"),
      k: bind(p.k, n, "k"),
      v: bind(p.v, n, "v"),
      out: bind(p.out, n, "out"),
      lse: bind(p.lse, rows, "lse"),
      gradOut: bind(p.gradOut, n, "gradOut"),
      gradQ: bind(p.gradQ, n, "gradQ"),
      gradK: bind(p.gradK, n, "gradK"),
      gradV: bind(p.gradV, n, "gradV"),
      accumulate: p.accumulate ?? false,
    };
    const { shape, variant, recorder, release, scale } = this.#attentionSetup(p);
    try {
      variant.recordBackward({ ...launch, shape, scale }, recorder);
    } finally {
      release();
    }
  }

  // ---- loss ----------------------------------------------------------------------------------

  /** Fused softcap + cross-entropy forward, one pass per row (rows windowed past the limit). */
  crossEntropy(p: CrossEntropyParams): void {
    if (p.rows === 0) return;
    const buffers = [
      { handle: p.logits, name: "logits", perItem: p.vocab },
      { handle: p.targets, name: "targets", perItem: 1 },
      { handle: p.losses, name: "losses", perItem: 1 },
      { handle: p.lse, name: "lse", perItem: 1 },
    ];
    const pack = packFor(p.vocab);
    const invCap = p.softcap === 0 ? 0 : 1 / p.softcap;
    this.#windows(p.rows, buffers, (bindings, _start, rows) => {
      const u = new Uniforms(8).u(0, rows, p.vocab / pack, 0).f(4, p.softcap, invCap);
      this.#run(CROSS_ENTROPY[pack].forward, u, bindings, this.dispatcher.grid1d(rows));
    });
  }

  /** Fused softcap + cross-entropy backward, one pass (rows windowed past the binding limit). */
  crossEntropyBackward(p: CrossEntropyBackwardParams): void {
    if (p.rows * p.vocab === 0) return;
    const buffers = [
      { handle: p.logits, name: "logits", perItem: p.vocab },
      { handle: p.targets, name: "targets", perItem: 1 },
      { handle: p.lse, name: "lse", perItem: 1 },
      { handle: p.gradLosses, name: "gradLosses", perItem: 1 },
      { handle: p.gradLogits, name: "gradLogits", perItem: p.vocab },
    ];
    const pack = packFor(p.vocab);
    const invCap = p.softcap === 0 ? 0 : 1 / p.softcap;
    this.#windows(p.rows, buffers, (bindings, _start, rows) => {
      const u = new Uniforms(8).u(0, rows, p.vocab / pack, p.accumulate ? 1 : 0)
        .f(4, p.softcap, invCap);
      const grid = this.#grid(rows * p.vocab / pack);
      this.#run(CROSS_ENTROPY[pack].backward, u, bindings, grid);
    });
  }

  // ---- optimizers ----------------------------------------------------------------------------

  /** One AdamW step (bias corrections computed here in f64; windowed past the binding limit). */
  adamw(p: AdamWParams): void {
    if (p.n === 0) return;
    const buffers = [
      { handle: p.param, name: "param", perItem: 1 },
      { handle: p.grad, name: "grad", perItem: 1 },
      { handle: p.m, name: "m", perItem: 1 },
      { handle: p.v, name: "v", perItem: 1 },
    ];
    const stepSize = p.lr / (1 - p.beta1 ** p.step);
    const bias2 = 1 - p.beta2 ** p.step;
    this.#windows(p.n, buffers, (bindings, _start, count) => {
      const u = new Uniforms(16).u(0, count)
        .f(8, p.lr, p.beta1, p.beta2, p.eps, p.weightDecay, stepSize, bias2);
      this.#run(OPTIM.adamw, u, bindings, this.#grid(count));
    });
  }

  /** Muon's Nesterov momentum (windowed past the binding limit). */
  muonMomentum(p: MuonMomentumParams): void {
    if (p.n === 0) return;
    const buffers = [
      { handle: p.grad, name: "grad", perItem: 1 },
      { handle: p.momentum, name: "momentum", perItem: 1 },
      { handle: p.out, name: "out", perItem: 1 },
    ];
    this.#windows(p.n, buffers, (bindings, _start, count) => {
      const u = new Uniforms(16).u(0, count).f(9, p.beta);
      this.#run(OPTIM.muonMomentum, u, bindings, this.#grid(count));
    });
  }

  /** out = x / (||x||_F * factor + eps), two-stage reduction on the device. */
  normalizeFrobenius(p: NormalizeFrobeniusParams): void {
    if (p.n === 0) return;
    const x = this.#need(p.x, p.n, "x");
    const out = this.#need(p.out, p.n, "out");
    const partials = Math.min(256, Math.ceil(p.n / WG));
    const scratch = this.#scratch(partials);
    try {
      const u = new Uniforms(16).u(0, p.n).u(6, partials).f(11, p.eps ?? 1e-6).f(
        15,
        p.factor ?? 1.02,
      );
      this.#run(OPTIM.sumsqPartials, u, [x, scratch.gpu], [partials]);
      this.#run(OPTIM.normalize, u, [x, out, scratch.gpu], this.#grid(p.n));
    } finally {
      this.free(scratch);
    }
  }

  /** Muon's second-moment normalisation and cautious decoupled update. */
  muonUpdate(p: MuonUpdateParams): void {
    const n = p.rows * p.cols;
    if (n === 0) return;
    const alongRows = p.rows >= p.cols;
    const entries = alongRows ? p.rows : p.cols;
    const red = alongRows ? p.cols : p.rows;
    const param = this.#need(p.param, n, "param");
    const update = this.#need(p.update, n, "update");
    const secondMoment = this.#need(p.secondMoment, entries, "secondMoment");
    const perEntry = this.#scratch(entries);
    const stats = this.#scratch(1);
    try {
      const u = new Uniforms(16).u(0, n, p.rows, p.cols, alongRows ? 1 : 0, entries, red)
        .f(8, p.lr, 0, p.beta2, 0, p.weightDecay);
      this.#run(OPTIM.muonVmean, u, [update, perEntry.gpu], this.dispatcher.grid1d(entries));
      this.#run(OPTIM.muonStats, u, [secondMoment, perEntry.gpu, stats.gpu], [1]);
      this.#run(OPTIM.muonApply, u, [param, update, perEntry.gpu, stats.gpu], this.#grid(n));
    } finally {
      this.free(perEntry);
      this.free(stats);
    }
  }

  /** Slots one dispatch of a grouped optimizer kernel binds on this device. */
  #slots(entry: StackEntry): number {
    return stackSlots(entry, this.gpu.limits.maxStorageBuffersPerShaderStage);
  }

  /**
   * AdamW over a parameter group: one dispatch per up to 11 tensors (fewer where the device has
   * few storage bindings). A tensor larger than one binding takes the windowed per-tensor path.
   */
  adamwGroup(p: AdamWGroupParams): void {
    const limit = this.dispatcher.maxStorageBindingBytes / 4;
    const fits = p.items.filter((it) => it.n > 0 && it.n <= limit);
    for (const it of p.items) {
      if (it.n > limit) this.adamw({ ...p, ...it });
    }
    for (const [first, count] of stackChunks(fits.length, this.#slots("adamw_group"))) {
      const items = fits.slice(first, first + count);
      const u = new Uniforms(64).u(1, count)
        .f(14, p.eps, p.lr, p.weightDecay, p.beta1, p.beta2);
      let workgroups = 0;
      items.forEach((it, j) => {
        // Bias corrections in f64 on the host, as `adamw` computes them.
        const stepSize = p.lr / (1 - p.beta1 ** it.step);
        u.u(20 + 4 * j, workgroups, it.n).f(22 + 4 * j, stepSize, 1 - p.beta2 ** it.step);
        workgroups += Math.ceil(it.n / WG);
      });
      const buffers = slotBuffers("adamw_group", {
        param: items.map((it) => this.#need(it.param, it.n, "param")),
        grad: items.map((it) => this.#need(it.grad, it.n, "grad")),
        am: items.map((it) => this.#need(it.m, it.n, "m")),
        av: items.map((it) => this.#need(it.v, it.n, "v")),
      });
      this.#run(stackKernel("adamw_group", count), u, buffers, this.dispatcher.grid1d(workgroups));
    }
  }

  /**
   * Muon momentum + Frobenius normalisation over a stack: the momentum kernel binds up to
   * `#slots` items per dispatch and leaves each item's sum-of-squares partials; one dispatch then
   * normalises the whole stack in place.
   */
  muonMomentumStack(p: MuonMomentumStackParams): void {
    const { n } = p;
    const items = p.grads.length;
    if (p.momenta.length !== items) {
      throw new RangeError("webgpu: muonMomentumStack grads and momenta differ in length");
    }
    if (n === 0 || items === 0) return;
    const out = this.#need(p.out, items * n, "out");
    const partials = Math.min(256, Math.ceil(n / WG));
    const wgPerItem = Math.ceil(n / WG);
    const scratch = this.#scratch(items * partials);
    try {
      const uniforms = (first: number, count: number) =>
        new Uniforms(64).u(0, n, count, first, partials).u(9, wgPerItem)
          .f(12, p.beta, p.factor ?? 1.02, p.eps ?? 1e-6);
      for (const [first, count] of stackChunks(items, this.#slots("stack_momentum"))) {
        const buffers = slotBuffers("stack_momentum", {
          grad: p.grads.slice(first, first + count).map((g) => this.#need(g, n, "grad")),
          mom: p.momenta.slice(first, first + count).map((m) => this.#need(m, n, "momentum")),
        });
        this.#run(
          stackKernel("stack_momentum", count),
          uniforms(first, count),
          [out, scratch.gpu, ...buffers],
          [partials, count],
        );
      }
      this.#run(
        stackKernel("stack_normalize", 1),
        uniforms(0, items),
        [out, scratch.gpu],
        this.dispatcher.grid1d(wgPerItem * items),
      );
    } finally {
      this.free(scratch);
    }
  }

  /**
   * Muon's last stage over a stack: one dispatch for every item's vMean, then the second-moment
   * statistics and the update with up to `#slots` items per dispatch.
   */
  muonUpdateStack(p: MuonUpdateStackParams): void {
    const { rows, cols } = p;
    const n = rows * cols;
    const items = p.params.length;
    if (p.secondMoments.length !== items) {
      throw new RangeError("webgpu: muonUpdateStack params and secondMoments differ in length");
    }
    if (n === 0 || items === 0) return;
    const alongRows = rows >= cols;
    const entries = alongRows ? rows : cols;
    const red = alongRows ? cols : rows;
    const wgPerItem = Math.ceil(n / WG);
    const update = this.#need(p.update, items * n, "update");
    const perEntry = this.#scratch(items * entries);
    const stats = this.#scratch(items);
    try {
      const uniforms = (first: number, count: number) =>
        new Uniforms(64).u(0, n, count, first, 0, rows, cols, alongRows ? 1 : 0, entries, red)
          .u(9, wgPerItem).f(15, p.lr, p.weightDecay, 0, p.beta2);
      this.#run(
        stackKernel("stack_vmean", 1),
        uniforms(0, items),
        [update, perEntry.gpu],
        this.dispatcher.grid1d(items * entries),
      );
      for (const [first, count] of stackChunks(items, this.#slots("stack_stats"))) {
        const second = p.secondMoments.slice(first, first + count)
          .map((b) => this.#need(b, entries, "secondMoment"));
        this.#run(
          stackKernel("stack_stats", count),
          uniforms(first, count),
          [perEntry.gpu, stats.gpu, ...slotBuffers("stack_stats", { second })],
          [count],
        );
      }
      for (const [first, count] of stackChunks(items, this.#slots("stack_apply"))) {
        const param = p.params.slice(first, first + count).map((b) => this.#need(b, n, "param"));
        this.#run(
          stackKernel("stack_apply", count),
          uniforms(first, count),
          [update, perEntry.gpu, stats.gpu, ...slotBuffers("stack_apply", { param })],
          this.dispatcher.grid1d(wgPerItem * count),
        );
      }
    } finally {
      this.free(perEntry);
      this.free(stats);
    }
  }
}

/**
 * Create the WebGPU backend on the default (high-performance) adapter with its real limits.
 * Throws a clear error when the machine has no WebGPU adapter.
 */
export async function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<Backend> {
  const gpu = options.gpuDevice ?? await createGpuDevice(options);
  return new WebGpuBackend(gpu);
}
