/**
 * The CPU backend: implements the raw `Backend` contract (../backend.ts) over Float32Array /
 * Int32Array buffers, running every op synchronously at call time. Buffers are pooled by exact
 * length so a training loop that allocates the same shapes every step reuses the same memory.
 * Matmul goes through the fast sgemm of ./gemm (OpenBLAS, WASM SIMD or JS, whichever loads).
 *
 * @module
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
import { createGemm, type Gemm, type GemmOptions } from "./gemm/mod.ts";
import { attentionBackward, attentionForward, Scratch } from "./attention.ts";
import { createVecMath, type VecMath, vecMathModule } from "./vecmath.ts";
import { RowPool } from "./threads.ts";
import {
  adamwKernel,
  binaryKernel,
  broadcastToKernel,
  crossEntropyBackwardKernel,
  crossEntropyKernel,
  muonMomentumKernel,
  muonUpdateKernel,
  normalizeFrobeniusKernel,
  pad4,
  reduceToKernel,
  rmsnormBackwardKernel,
  rmsnormKernel,
  rotaryKernel,
  unaryBackwardKernel,
  unaryKernel,
} from "./kernels.ts";

/** A CPU buffer: the handle owns a typed array until it is freed. */
class CpuBuffer<D extends DType = DType> implements DeviceBuffer<D> {
  freed = false;
  constructor(
    readonly dtype: D,
    readonly length: number,
    readonly data: HostArrayOf<D>,
  ) {}
}

/** Options of {@linkcode createCpuBackend}. */
export interface CpuBackendOptions {
  /** Options passed to the sgemm factory (threads, forced implementation). */
  gemm?: GemmOptions;
  /** Use the WebAssembly SIMD exp kernels where available (default true). */
  simd?: boolean;
  /**
   * Threads for the row-parallel kernels (cross-entropy), the caller included; 1 = none.
   * Default: the number of logical CPUs, at most 16.
   */
  threads?: number;
}

/** Cross-entropy calls smaller than this many logits stay on the calling thread. */
const PARALLEL_MIN_LOGITS = 1 << 18;

/** Default RMSNorm epsilon: torch's finfo(float32).eps, what F.rms_norm uses when eps=None. */
const DEFAULT_RMS_EPS = 1.1920928955078125e-7;

/** Creates a CPU backend (loads the fastest sgemm available). */
export async function createCpuBackend(options: CpuBackendOptions = {}): Promise<Backend> {
  const gemm = await createGemm(options.gemm);
  const simd = options.simd !== false;
  const threads = options.threads ?? Math.min(16, navigator.hardwareConcurrency || 1);
  const pool = RowPool.create(threads, simd ? vecMathModule() : null);
  return new CpuBackend(gemm, simd ? createVecMath() : null, pool);
}

/** The CPU implementation of `Backend`. */
class CpuBackend implements Backend {
  readonly info: BackendInfo;
  #pool = new Map<string, ArrayBufferView[]>();
  #inUse = 0;
  #pooled = 0;
  #peakInUse = 0;
  #peakReserved = 0;
  #live = 0;
  #scratch: Scratch;
  #destroyed = false;

  /**
   * `vm`: SIMD exp kernels, or null (plain JS loops; where WebAssembly SIMD is missing).
   * `pool`: row-parallel workers, or null; with a pool every buffer is a SharedArrayBuffer.
   */
  constructor(
    readonly gemm: Gemm,
    readonly vm: VecMath | null,
    readonly pool: RowPool | null,
  ) {
    const threads = `${gemm.threads} thread${gemm.threads === 1 ? "" : "s"}`;
    const rows = pool ? `, ${pool.threads} row threads` : "";
    this.#scratch = new Scratch(pool !== null);
    this.info = {
      name: "cpu",
      device: `CPU, sgemm ${gemm.kind}${gemm.detail ? ` (${gemm.detail})` : ""}, ${threads}${
        vm ? ", SIMD exp" : ""
      }${rows}`,
      isFallback: false,
    };
  }

  // ---- buffers ----

  alloc<D extends DType>(dtype: D, length: number): DeviceBuffer<D> {
    if (this.#destroyed) throw new Error("cpu backend: used after destroy()");
    if (!Number.isInteger(length) || length < 0) {
      throw new RangeError(`alloc: length must be a non-negative integer, got ${length}`);
    }
    const key = `${dtype}:${length}`;
    const free = this.#pool.get(key);
    let data = free?.pop() as HostArrayOf<D> | undefined;
    if (data) this.#pooled -= length * 4;
    else {
      // Shared memory lets the row workers read and write buffers in place.
      const bytes = this.pool ? new SharedArrayBuffer(length * 4) : new ArrayBuffer(length * 4);
      data = (dtype === "i32" ? new Int32Array(bytes) : new Float32Array(bytes)) as HostArrayOf<D>;
    }
    this.#inUse += length * 4;
    this.#live++;
    this.#peakInUse = Math.max(this.#peakInUse, this.#inUse);
    this.#peakReserved = Math.max(this.#peakReserved, this.#inUse + this.#pooled);
    return new CpuBuffer(dtype, length, data);
  }

  free(buffer: DeviceBuffer): void {
    const b = this.#own(buffer);
    b.freed = true;
    const key = `${b.dtype}:${b.length}`;
    let list = this.#pool.get(key);
    if (!list) this.#pool.set(key, list = []);
    list.push(b.data);
    this.#inUse -= b.length * 4;
    this.#pooled += b.length * 4;
    this.#live--;
  }

  write<D extends DType>(buffer: DeviceBuffer<D>, data: HostArrayOf<D>, offset = 0): void {
    const b = this.#own(buffer);
    if (offset < 0 || offset + data.length > b.length) {
      throw new RangeError(`write: ${data.length} elements at ${offset} exceed ${b.length}`);
    }
    (b.data as Float32Array).set(data as Float32Array, offset);
  }

  read<D extends DType>(
    buffer: DeviceBuffer<D>,
    offset = 0,
    length?: number,
  ): Promise<HostArrayOf<D>> {
    const b = this.#own(buffer);
    const len = length ?? b.length - offset;
    if (offset < 0 || len < 0 || offset + len > b.length) {
      return Promise.reject(new RangeError(`read: [${offset}, +${len}) outside ${b.length}`));
    }
    return Promise.resolve(b.data.slice(offset, offset + len) as HostArrayOf<D>);
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  memory(): MemoryStats {
    // Reserved also counts the attention scratch, which the backend keeps between calls.
    const reserved = this.#inUse + this.#pooled + this.#scratch.bytes();
    this.#peakReserved = Math.max(this.#peakReserved, reserved);
    return {
      inUseBytes: this.#inUse,
      peakInUseBytes: this.#peakInUse,
      reservedBytes: reserved,
      peakReservedBytes: this.#peakReserved,
      liveBuffers: this.#live,
    };
  }

  resetPeak(): void {
    this.#peakInUse = this.#inUse;
    this.#peakReserved = this.#inUse + this.#pooled;
  }

  trim(): void {
    this.#pool.clear();
    this.#pooled = 0;
    this.#scratch.clear();
  }

  destroy(): void {
    this.trim();
    this.gemm.close();
    this.pool?.close();
    this.#destroyed = true;
  }

  /** The typed array behind a live handle of this backend. */
  #own<D extends DType>(buffer: DeviceBuffer<D>): CpuBuffer<D> {
    if (!(buffer instanceof CpuBuffer)) throw new TypeError("buffer is not from the cpu backend");
    if (buffer.freed) throw new Error("buffer used after free()");
    return buffer as CpuBuffer<D>;
  }

  /** The f32 array of a live handle, checked to hold at least `need` elements. */
  #f32(buffer: DeviceBuffer<"f32">, need: number, what: string): Float32Array {
    const b = this.#own(buffer);
    if (b.dtype !== "f32") throw new TypeError(`${what}: expected an f32 buffer`);
    if (b.length < need) throw new RangeError(`${what}: needs ${need} elements, has ${b.length}`);
    return b.data as Float32Array;
  }

  #i32(buffer: DeviceBuffer<"i32">, need: number, what: string): Int32Array {
    const b = this.#own(buffer);
    if (b.dtype !== "i32") throw new TypeError(`${what}: expected an i32 buffer`);
    if (b.length < need) throw new RangeError(`${what}: needs ${need} elements, has ${b.length}`);
    return b.data as Int32Array;
  }

  // ---- ops ----

  fill(p: FillParams): void {
    const b = this.#own(p.out);
    const offset = p.offset ?? 0;
    const length = p.length ?? b.length - offset;
    if (offset < 0 || length < 0 || offset + length > b.length) {
      throw new RangeError(`fill: [${offset}, +${length}) outside ${b.length}`);
    }
    b.data.fill(p.value, offset, offset + length);
  }

  copy2d(p: Copy2dParams): void {
    const so = p.srcOffset ?? 0, dOff = p.dstOffset ?? 0;
    const { rows, cols, srcStride, dstStride } = p;
    if (rows === 0 || cols === 0) return;
    const src = this.#f32(p.src, so + (rows - 1) * srcStride + cols, "copy2d src");
    const dst = this.#f32(p.dst, dOff + (rows - 1) * dstStride + cols, "copy2d dst");
    for (let r = 0; r < rows; r++) {
      const s = so + r * srcStride, d = dOff + r * dstStride;
      if (p.accumulate) { for (let c = 0; c < cols; c++) dst[d + c] += src[s + c]; }
      else dst.set(src.subarray(s, s + cols), d);
    }
  }

  matmul(p: MatmulParams): void {
    this.gemm.sgemm({
      ...p,
      a: this.#f32(p.a, 0, "matmul a"),
      b: this.#f32(p.b, 0, "matmul b"),
      c: this.#f32(p.c, 0, "matmul c"),
    });
  }

  embedding(p: EmbeddingParams): void {
    const { tokens, vocab, dim } = p;
    const table = this.#f32(p.table, vocab * dim, "embedding table");
    const ids = this.#i32(p.ids, tokens, "embedding ids");
    const out = this.#f32(p.out, tokens * dim, "embedding out");
    for (let t = 0; t < tokens; t++) {
      const id = ids[t];
      if (id < 0 || id >= vocab) throw new RangeError(`embedding: id ${id} outside [0, ${vocab})`);
      out.set(table.subarray(id * dim, id * dim + dim), t * dim);
    }
  }

  embeddingBackward(p: EmbeddingBackwardParams): void {
    const { tokens, vocab, dim } = p;
    const ids = this.#i32(p.ids, tokens, "embeddingBackward ids");
    const g = this.#f32(p.gradOut, tokens * dim, "embeddingBackward gradOut");
    const gt = this.#f32(p.gradTable, vocab * dim, "embeddingBackward gradTable");
    if (!p.accumulate) gt.fill(0, 0, vocab * dim);
    for (let t = 0; t < tokens; t++) {
      const row = ids[t] * dim, src = t * dim;
      for (let d = 0; d < dim; d++) gt[row + d] += g[src + d];
    }
  }

  binary(p: BinaryParams): void {
    const n = count(p.shape);
    binaryKernel(
      p.op,
      this.#f32(p.a, count(p.aShape), "binary a"),
      this.#f32(p.b, count(p.bShape), "binary b"),
      this.#f32(p.out, n, "binary out"),
      p.shape,
      p.aShape,
      p.bShape,
      p.accumulate ?? false,
    );
  }

  reduceTo(p: ReduceToParams): void {
    reduceToKernel(
      this.#f32(p.x, count(p.shape), "reduceTo x"),
      this.#f32(p.out, count(p.outShape), "reduceTo out"),
      p.shape,
      p.outShape,
      p.alpha ?? 1,
      p.accumulate ?? false,
    );
  }

  broadcastTo(p: BroadcastToParams): void {
    broadcastToKernel(
      this.#f32(p.x, count(p.xShape), "broadcastTo x"),
      this.#f32(p.out, count(p.shape), "broadcastTo out"),
      p.xShape,
      p.shape,
      p.alpha ?? 1,
      p.accumulate ?? false,
    );
  }

  scale(p: ScaleParams): void {
    const x = this.#f32(p.x, p.n, "scale x"), out = this.#f32(p.out, p.n, "scale out");
    const a = p.alpha;
    if (p.accumulate) { for (let i = 0; i < p.n; i++) out[i] += a * x[i]; }
    else for (let i = 0; i < p.n; i++) out[i] = a * x[i];
  }

  unary(p: UnaryParams): void {
    unaryKernel(
      p.op,
      this.#f32(p.x, p.n, "unary x"),
      this.#f32(p.out, p.n, "unary out"),
      p.n,
      p.cap ?? 0,
      p.accumulate ?? false,
    );
  }

  unaryBackward(p: UnaryBackwardParams): void {
    unaryBackwardKernel(
      p.op,
      this.#f32(p.x, p.n, "unaryBackward x"),
      this.#f32(p.y, p.n, "unaryBackward y"),
      this.#f32(p.gradOut, p.n, "unaryBackward gradOut"),
      this.#f32(p.gradIn, p.n, "unaryBackward gradIn"),
      p.n,
      p.cap ?? 0,
      p.accumulate ?? false,
    );
  }

  rmsnorm(p: RmsNormParams): void {
    const n = p.rows * p.dim;
    rmsnormKernel(
      this.#f32(p.x, n, "rmsnorm x"),
      this.#f32(p.out, n, "rmsnorm out"),
      this.#f32(p.rstd, p.rows, "rmsnorm rstd"),
      p.rows,
      p.dim,
      p.eps ?? DEFAULT_RMS_EPS,
    );
  }

  rmsnormBackward(p: RmsNormBackwardParams): void {
    const n = p.rows * p.dim;
    rmsnormBackwardKernel(
      this.#f32(p.x, n, "rmsnormBackward x"),
      this.#f32(p.rstd, p.rows, "rmsnormBackward rstd"),
      this.#f32(p.gradOut, n, "rmsnormBackward gradOut"),
      this.#f32(p.gradIn, n, "rmsnormBackward gradIn"),
      p.rows,
      p.dim,
      p.accumulate ?? false,
    );
  }

  rotary(p: RotaryParams): void {
    const n = p.batch * p.seq * p.heads * p.headDim, half = p.headDim / 2;
    if (p.headDim % 2 !== 0) throw new RangeError(`rotary: headDim ${p.headDim} is odd`);
    rotaryKernel(
      this.#f32(p.x, n, "rotary x"),
      this.#f32(p.out, n, "rotary out"),
      this.#f32(p.cos, p.seq * half, "rotary cos"),
      this.#f32(p.sin, p.seq * half, "rotary sin"),
      p.batch,
      p.seq,
      p.heads,
      p.headDim,
      p.inverse ?? false,
      p.accumulate ?? false,
    );
  }

  attention(p: AttentionParams): void {
    const n = p.batch * p.seq * p.heads * p.headDim;
    attentionForward(
      this.gemm,
      this.#scratch,
      this.#f32(p.q, n, "attention q"),
      this.#f32(p.k, n, "attention k"),
      this.#f32(p.v, n, "attention v"),
      this.#f32(p.out, n, "attention out"),
      this.#f32(p.lse, p.batch * p.heads * p.seq, "attention lse"),
      { ...p, scale: p.scale ?? 1 / Math.sqrt(p.headDim) },
      this.vm,
      this.pool,
    );
  }

  attentionBackward(p: AttentionBackwardParams): void {
    const n = p.batch * p.seq * p.heads * p.headDim;
    attentionBackward(
      this.gemm,
      this.#scratch,
      this.#f32(p.q, n, "attentionBackward q"),
      this.#f32(p.k, n, "attentionBackward k"),
      this.#f32(p.v, n, "attentionBackward v"),
      this.#f32(p.out, n, "attentionBackward out"),
      this.#f32(p.lse, p.batch * p.heads * p.seq, "attentionBackward lse"),
      this.#f32(p.gradOut, n, "attentionBackward gradOut"),
      this.#f32(p.gradQ, n, "attentionBackward gradQ"),
      this.#f32(p.gradK, n, "attentionBackward gradK"),
      this.#f32(p.gradV, n, "attentionBackward gradV"),
      { ...p, scale: p.scale ?? 1 / Math.sqrt(p.headDim) },
      p.accumulate ?? false,
      this.vm,
      this.pool,
    );
  }

  crossEntropy(p: CrossEntropyParams): void {
    const { rows, vocab, softcap } = p;
    const logits = this.#f32(p.logits, rows * vocab, "crossEntropy logits");
    const targets = this.#i32(p.targets, rows, "crossEntropy targets");
    const losses = this.#f32(p.losses, rows, "crossEntropy losses");
    const lse = this.#f32(p.lse, rows, "crossEntropy lse");
    const run = (r0: number, r1: number) =>
      crossEntropyKernel(
        logits.subarray(r0 * vocab, r1 * vocab),
        targets.subarray(r0, r1),
        losses.subarray(r0, r1),
        lse.subarray(r0, r1),
        r1 - r0,
        vocab,
        softcap,
        this.vm,
      );
    if (!this.pool || rows * vocab < PARALLEL_MIN_LOGITS) return run(0, rows);
    checkTargets(targets, rows, vocab);
    const arrays = { logits, targets, losses, lse };
    this.pool.run("crossEntropy", arrays, { vocab, cap: softcap }, rows, run);
  }

  crossEntropyBackward(p: CrossEntropyBackwardParams): void {
    const { rows, vocab, softcap } = p;
    const accumulate = p.accumulate ?? false;
    const logits = this.#f32(p.logits, rows * vocab, "crossEntropyBackward logits");
    const targets = this.#i32(p.targets, rows, "crossEntropyBackward targets");
    const lse = this.#f32(p.lse, rows, "crossEntropyBackward lse");
    const gradLosses = this.#f32(p.gradLosses, rows, "crossEntropyBackward gradLosses");
    const gradLogits = this.#f32(p.gradLogits, rows * vocab, "crossEntropyBackward gradLogits");
    const run = (r0: number, r1: number) =>
      crossEntropyBackwardKernel(
        logits.subarray(r0 * vocab, r1 * vocab),
        targets.subarray(r0, r1),
        lse.subarray(r0, r1),
        gradLosses.subarray(r0, r1),
        gradLogits.subarray(r0 * vocab, r1 * vocab),
        r1 - r0,
        vocab,
        softcap,
        accumulate,
        this.vm,
      );
    if (!this.pool || rows * vocab < PARALLEL_MIN_LOGITS) return run(0, rows);
    checkTargets(targets, rows, vocab);
    const arrays = { logits, targets, lse, gradLosses, gradLogits };
    const scalars = { vocab, cap: softcap, accumulate: accumulate ? 1 : 0 };
    this.pool.run("crossEntropyBackward", arrays, scalars, rows, run);
  }

  adamw(p: AdamWParams): void {
    adamwKernel(
      this.#f32(p.param, p.n, "adamw param"),
      this.#f32(p.grad, p.n, "adamw grad"),
      this.#f32(p.m, p.n, "adamw m"),
      this.#f32(p.v, p.n, "adamw v"),
      p.n,
      p.lr,
      p.beta1,
      p.beta2,
      p.eps,
      p.weightDecay,
      p.step,
    );
  }

  muonMomentum(p: MuonMomentumParams): void {
    muonMomentumKernel(
      this.#f32(p.grad, p.n, "muonMomentum grad"),
      this.#f32(p.momentum, p.n, "muonMomentum momentum"),
      this.#f32(p.out, p.n, "muonMomentum out"),
      p.n,
      p.beta,
    );
  }

  normalizeFrobenius(p: NormalizeFrobeniusParams): void {
    normalizeFrobeniusKernel(
      this.#f32(p.x, p.n, "normalizeFrobenius x"),
      this.#f32(p.out, p.n, "normalizeFrobenius out"),
      p.n,
      p.factor ?? 1.02,
      p.eps ?? 1e-6,
    );
  }

  muonUpdate(p: MuonUpdateParams): void {
    const n = p.rows * p.cols;
    muonUpdateKernel(
      this.#f32(p.param, n, "muonUpdate param"),
      this.#f32(p.update, n, "muonUpdate update"),
      this.#f32(p.secondMoment, p.rows >= p.cols ? p.rows : p.cols, "muonUpdate secondMoment"),
      p.rows,
      p.cols,
      p.lr,
      p.weightDecay,
      p.beta2,
    );
  }

  // The grouped forms run the per-tensor kernels item by item: on a CPU one call per tensor costs
  // nothing extra, and the arithmetic stays exactly the per-tensor path's.

  adamwGroup(p: AdamWGroupParams): void {
    for (const item of p.items) {
      this.adamw({
        ...item,
        lr: p.lr,
        beta1: p.beta1,
        beta2: p.beta2,
        eps: p.eps,
        weightDecay: p.weightDecay,
      });
    }
  }

  muonMomentumStack(p: MuonMomentumStackParams): void {
    const { n } = p;
    if (p.momenta.length !== p.grads.length) {
      throw new RangeError("muonMomentumStack: grads and momenta differ in length");
    }
    const out = this.#f32(p.out, p.grads.length * n, "muonMomentumStack out");
    p.grads.forEach((grad, i) => {
      const x = out.subarray(i * n, (i + 1) * n);
      muonMomentumKernel(
        this.#f32(grad, n, "muonMomentumStack grad"),
        this.#f32(p.momenta[i], n, "muonMomentumStack momentum"),
        x,
        n,
        p.beta,
      );
      normalizeFrobeniusKernel(x, x, n, p.factor ?? 1.02, p.eps ?? 1e-6);
    });
  }

  muonUpdateStack(p: MuonUpdateStackParams): void {
    const n = p.rows * p.cols;
    const entries = p.rows >= p.cols ? p.rows : p.cols;
    if (p.secondMoments.length !== p.params.length) {
      throw new RangeError("muonUpdateStack: params and secondMoments differ in length");
    }
    const update = this.#f32(p.update, p.params.length * n, "muonUpdateStack update");
    p.params.forEach((param, i) => {
      muonUpdateKernel(
        this.#f32(param, n, "muonUpdateStack param"),
        update.subarray(i * n, (i + 1) * n),
        this.#f32(p.secondMoments[i], entries, "muonUpdateStack secondMoment"),
        p.rows,
        p.cols,
        p.lr,
        p.weightDecay,
        p.beta2,
      );
    });
  }
}

/** Targets must be < vocab (negative = ignored): checked here so worker threads never throw. */
function checkTargets(targets: Int32Array, rows: number, vocab: number): void {
  for (let r = 0; r < rows; r++) {
    if (targets[r] >= vocab) {
      throw new RangeError(`crossEntropy: target ${targets[r]} >= vocab ${vocab}`);
    }
  }
}

/** Number of elements of a shape (checks rank 1..4). */
function count(shape: readonly number[]): number {
  return pad4(shape).reduce((a, b) => a * b, 1);
}
