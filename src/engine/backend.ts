/**
 * The raw backend contract: what the CPU backend (src/engine/cpu) and the WebGPU backend
 * (src/engine/webgpu) both implement, and what the autograd frontend (src/engine/tensor.ts) calls.
 * It is deliberately low level: opaque device buffers, explicit shapes, one entry point per op and
 * per backward, so that a GPU backend can enqueue everything and only wait in `read`/`sync`.
 *
 * FROZEN: once committed, existing signatures never change. New ops and new OPTIONAL fields on
 * parameter objects may be added.
 *
 * ## Conventions (read before implementing)
 *
 * Buffers
 * - A `DeviceBuffer` is an opaque handle to `length` elements of `dtype` ("f32" or "i32"; i32 only
 *   holds token ids and targets). Handles come from `alloc` of the SAME backend and are passed back
 *   to it; a backend may downcast them to its own class.
 * - `alloc` may hand out a pooled buffer: its contents are UNDEFINED (may hold old values or NaN).
 *   Every op below either overwrites its outputs completely or, with `accumulate: true` (or
 *   `beta != 0` for matmul), adds into them. An output that is overwritten is never read, so
 *   garbage or NaN in it must not leak into the result (in particular matmul with beta = 0).
 * - `free` returns a buffer to the pool; using or freeing a handle after `free` is a bug and
 *   backends should throw when they can detect it. `memory()` counts bytes of live handles
 *   (`inUseBytes`, `peakInUseBytes`) and bytes held from the device including the pool
 *   (`reservedBytes`, `peakReservedBytes`). WebGPU has no memory query: this is the only figure.
 * - `write` copies host data into the buffer (at an element offset) and may enqueue; the host
 *   array may be reused as soon as `write` returns. `read` resolves with a fresh host copy after
 *   every previously enqueued op has finished. `sync` waits for all enqueued work.
 * - Every op only ENQUEUES work. Ops are executed in the order they are called. The CPU backend
 *   runs them synchronously; that is allowed.
 *
 * Layouts
 * - All tensors are dense, row-major (C order), starting at element 0 of their buffer unless an
 *   op takes an explicit `offset*` field. Shapes in comments are written (A, B, C) with the last
 *   dimension contiguous. Sizes and offsets are in ELEMENTS, never bytes.
 * - Aliasing: an op's outputs never alias its inputs unless the field is documented as in-out.
 *   (WebGPU forbids binding one buffer as read and read_write in one dispatch.)
 * - Broadcasting shapes (`binary`, `reduceTo`, `broadcastTo`) are given at the same rank, between
 *   1 and 4 (the frontend pads with leading 1s); a broadcast dimension has size 1 on that side.
 *
 * Numerics
 * - f32 everywhere, f32 or better accumulation. Reductions over long rows (softmax, norms, loss)
 *   should subtract the max / use two passes where it matters for accuracy.
 * - Attention: query i (0-based position) sees key j iff `j <= i && i - j <= window`
 *   (flash-attn's `window_size=(window, 0)`); `window >= seq - 1` is plain causal attention.
 *   Scores are `scale * q.k` (default scale 1/sqrt(headDim)); `lse` saves the natural-log
 *   logsumexp of the scaled scores per (b, h, i) for the backward. The GPU path must not
 *   materialise a (T, T) matrix; the CPU one may, per (batch, head).
 * - Rotary (half split, as upstream): with h = headDim / 2, x1 = x[..., :h], x2 = x[..., h:],
 *   `y1 = x1*cos + x2*sin`, `y2 = -x1*sin + x2*cos`, cos/sin read from tables of shape
 *   (seq, h) at row t (the frontend builds them in f64 with base 10000:
 *   angle(t, i) = t * base^(-2i/headDim)). `inverse: true` rotates by -angle (that is the
 *   backward: sin negated).
 * - Softcap: `y = cap * tanh(x / cap)`; cap = 0 means no cap (identity).
 * - Cross-entropy: per row r, z = softcap(logits[r, :]), loss[r] = logsumexp(z) - z[target[r]];
 *   a target < 0 is ignored (loss 0, gradient 0). The backward writes
 *   dlogits = gradLosses[r] * (softmax(z) - onehot(target)) * dsoftcap/dx.
 * - Embedding backward: gradTable[v, :] (+)= sum over tokens t with ids[t] == v of gradOut[t, :].
 *   WGSL has no float atomics: sort/segment the ids (integer atomics for counting are fine), or
 *   emulate float add with an atomicCompareExchangeWeak loop on u32 bit patterns. With
 *   `accumulate: false` rows of ids that never occur must be written as 0.
 * - Muon on the device = `muonMomentum` -> `normalizeFrobenius` -> 5 Polar-Express iterations
 *   composed by the frontend from `matmul` (alpha/beta/transA/transB) and `scale`
 *   (wide X: A = X X^T, B = b A + c A A, X = a X + B X; tall X: A = X^T X, X = a X + X B)
 *   -> `muonUpdate`. Backends need no orthogonalisation kernel of their own. The optimizer runs
 *   matrices of one shape as a stack (`muonMomentumStack`, batched matmuls, `muonUpdateStack`),
 *   as upstream does, so a step costs a few dispatches per shape instead of ~30 per matrix.
 *
 * @module
 */

/** Element type of a device buffer: f32 for values, i32 for token ids and targets. */
export type DType = "f32" | "i32";

/** The host array type for a dtype. */
export type HostArrayOf<D extends DType> = D extends "i32" ? Int32Array : Float32Array;

/** Opaque handle to `length` elements of `dtype` on one backend. */
export interface DeviceBuffer<D extends DType = DType> {
  /** Element type. */
  readonly dtype: D;
  /** Number of elements requested at `alloc` (the pooled allocation may be larger). */
  readonly length: number;
}

/** Byte counters kept by the backend itself (WebGPU offers no memory query). */
export interface MemoryStats {
  /** Bytes of buffers currently handed out (allocated and not freed). */
  inUseBytes: number;
  /** Highest `inUseBytes` since creation or the last `resetPeak()`. */
  peakInUseBytes: number;
  /** Bytes held from the device: in use plus pooled free buffers. */
  reservedBytes: number;
  /** Highest `reservedBytes` since creation or the last `resetPeak()`. */
  peakReservedBytes: number;
  /** Number of live handles (useful to find leaks). */
  liveBuffers: number;
}

/** What a backend says about itself. */
export interface BackendInfo {
  /** "cpu" or "webgpu". */
  name: "cpu" | "webgpu";
  /** Human-readable device description, e.g. "llvmpipe (Vulkan)" or "CPU, 2 threads". */
  device: string;
  /** True when the device is a software fallback (e.g. lavapipe reports isFallbackAdapter). */
  isFallback: boolean;
}

/**
 * C = alpha * op(A) @ op(B) + beta * C, batched. op(A) is (m, k), op(B) is (k, n), C is (m, n).
 * A is stored (m, k), or (k, m) when transA; B is stored (k, n), or (n, k) when transB.
 * Batch i uses A at offsetA + i*strideA, B at offsetB + i*strideB, C at offsetC + i*strideC.
 * A stride of 0 broadcasts that operand over the batch (C's stride must not be 0 when batch > 1).
 * beta = 0 means C is not read (may hold NaN); beta = 1 accumulates (gradient accumulation).
 */
export interface MatmulParams extends MatmulShape {
  /** Left operand. */
  a: DeviceBuffer<"f32">;
  /** Right operand. */
  b: DeviceBuffer<"f32">;
  /** Output (in-out when beta != 0). */
  c: DeviceBuffer<"f32">;
}

/** The sizes, transposes, scales and batch layout of a matmul, whatever holds the operands. */
export interface MatmulShape {
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** A is stored transposed, (k, m). Default false. */
  transA?: boolean;
  /** B is stored transposed, (n, k). Default false. */
  transB?: boolean;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** Scale of the existing C. Default 0 (C overwritten, not read, NaNs in it vanish). */
  beta?: number;
  /** Number of matrices. Default 1. */
  batch?: number;
  /** Elements between consecutive A matrices. Default m*k; 0 broadcasts. */
  strideA?: number;
  /** Elements between consecutive B matrices. Default k*n; 0 broadcasts. */
  strideB?: number;
  /** Elements between consecutive C matrices. Default m*n. */
  strideC?: number;
  /** Element offset of the first A matrix. Default 0. */
  offsetA?: number;
  /** Element offset of the first B matrix. Default 0. */
  offsetB?: number;
  /** Element offset of the first C matrix. Default 0. */
  offsetC?: number;
}

/** out (tokens, dim) = table[ids[t], :] with table (vocab, dim), ids (tokens). */
export interface EmbeddingParams {
  /** Embedding table (vocab, dim). */
  table: DeviceBuffer<"f32">;
  /** Token ids (tokens), each in [0, vocab). */
  ids: DeviceBuffer<"i32">;
  /** Output (tokens, dim). */
  out: DeviceBuffer<"f32">;
  /** Number of tokens. */
  tokens: number;
  /** Rows in the table. */
  vocab: number;
  /** Row width. */
  dim: number;
}

/** gradTable (vocab, dim) (+)= scatter-add of gradOut (tokens, dim) by ids. See module doc. */
export interface EmbeddingBackwardParams {
  /** Token ids (tokens). */
  ids: DeviceBuffer<"i32">;
  /** Gradient of the lookup output (tokens, dim). */
  gradOut: DeviceBuffer<"f32">;
  /** Gradient of the table (vocab, dim). */
  gradTable: DeviceBuffer<"f32">;
  /** Number of tokens. */
  tokens: number;
  /** Rows in the table. */
  vocab: number;
  /** Row width. */
  dim: number;
  /** Add into gradTable instead of overwriting it. */
  accumulate?: boolean;
}

/** Elementwise binary ops with broadcasting. */
export type BinaryOp = "add" | "mul";

/**
 * out (shape) (+)= op(a, b). `aShape`/`bShape` have the rank of `shape` (1..4) and each dimension
 * equals shape's or is 1 (broadcast). a and b are dense in their own shapes. A learnable scalar
 * is b with bShape all 1s.
 */
export interface BinaryParams {
  /** Which op. */
  op: BinaryOp;
  /** Left operand, dense in aShape. */
  a: DeviceBuffer<"f32">;
  /** Right operand, dense in bShape. */
  b: DeviceBuffer<"f32">;
  /** Output, dense in shape. */
  out: DeviceBuffer<"f32">;
  /** Output shape (rank 1..4). */
  shape: readonly number[];
  /** Shape of a, same rank, dims equal to shape's or 1. */
  aShape: readonly number[];
  /** Shape of b, same rank, dims equal to shape's or 1. */
  bShape: readonly number[];
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * out (outShape) (+)= alpha * sum of x (shape) over the dimensions where outShape is 1
 * (the backward of broadcasting; `sum` is outShape all 1s).
 */
export interface ReduceToParams {
  /** Input, dense in shape. */
  x: DeviceBuffer<"f32">;
  /** Output, dense in outShape. */
  out: DeviceBuffer<"f32">;
  /** Input shape (rank 1..4). */
  shape: readonly number[];
  /** Output shape, same rank, dims equal to shape's or 1. */
  outShape: readonly number[];
  /** Factor applied to the sum (1/count for a mean). Default 1. */
  alpha?: number;
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
}

/** out (shape) (+)= alpha * x broadcast from xShape (the backward of `reduceTo`). */
export interface BroadcastToParams {
  /** Input, dense in xShape. */
  x: DeviceBuffer<"f32">;
  /** Output, dense in shape. */
  out: DeviceBuffer<"f32">;
  /** Input shape, same rank as shape, dims equal to shape's or 1. */
  xShape: readonly number[];
  /** Output shape (rank 1..4). */
  shape: readonly number[];
  /** Default 1. */
  alpha?: number;
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
}

/** out[i] (+)= alpha * x[i] for i < n (scale; with accumulate it is axpy). */
export interface ScaleParams {
  /** Input (n). */
  x: DeviceBuffer<"f32">;
  /** Output (n). */
  out: DeviceBuffer<"f32">;
  /** Number of elements. */
  n: number;
  /** Factor. */
  alpha: number;
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
}

/** Pointwise activations. relu2: max(x, 0)^2; sigmoid; softcap: cap * tanh(x / cap). */
export type UnaryOp = "relu2" | "sigmoid" | "softcap";

/** out[i] (+)= f(x[i]) for i < n. */
export interface UnaryParams {
  /** Which activation. */
  op: UnaryOp;
  /** Input (n). */
  x: DeviceBuffer<"f32">;
  /** Output (n). */
  out: DeviceBuffer<"f32">;
  /** Number of elements. */
  n: number;
  /** Softcap value (softcap only; 0 = identity). */
  cap?: number;
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * gradIn[i] (+)= gradOut[i] * f'(x[i]). Both the input x and the forward output y are given;
 * a backend uses whichever is cheaper (sigmoid: y*(1-y); softcap: 1-(y/cap)^2; relu2: 2*max(x,0)).
 */
export interface UnaryBackwardParams {
  /** Which activation. */
  op: UnaryOp;
  /** Forward input (n). */
  x: DeviceBuffer<"f32">;
  /** Forward output (n). */
  y: DeviceBuffer<"f32">;
  /** Gradient of y (n). */
  gradOut: DeviceBuffer<"f32">;
  /** Gradient of x (n). */
  gradIn: DeviceBuffer<"f32">;
  /** Number of elements. */
  n: number;
  /** Softcap value (softcap only). */
  cap?: number;
  /** Add into gradIn instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * Parameter-free RMSNorm over the last dim: rstd[r] = 1/sqrt(mean(x[r,:]^2) + eps),
 * out[r,:] = x[r,:] * rstd[r]. x, out (rows, dim); rstd (rows) is saved for the backward.
 */
export interface RmsNormParams {
  /** Input (rows, dim). */
  x: DeviceBuffer<"f32">;
  /** Output (rows, dim). */
  out: DeviceBuffer<"f32">;
  /** Saved reciprocal RMS (rows). */
  rstd: DeviceBuffer<"f32">;
  /** Number of rows. */
  rows: number;
  /** Normalised dimension. */
  dim: number;
  /** Default 1.1920929e-7 (torch's F.rms_norm default for f32: finfo(f32).eps). */
  eps?: number;
}

/**
 * gradIn (+)= rstd * (gradOut - y * mean(gradOut * y)) with y = x * rstd, per row.
 */
export interface RmsNormBackwardParams {
  /** Forward input (rows, dim). */
  x: DeviceBuffer<"f32">;
  /** Saved reciprocal RMS (rows). */
  rstd: DeviceBuffer<"f32">;
  /** Gradient of the output (rows, dim). */
  gradOut: DeviceBuffer<"f32">;
  /** Gradient of x (rows, dim). */
  gradIn: DeviceBuffer<"f32">;
  /** Number of rows. */
  rows: number;
  /** Normalised dimension. */
  dim: number;
  /** Add into gradIn instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * Rotary embedding on x (batch, seq, heads, headDim), half split; see module doc. cos and sin are
 * tables (seq, headDim/2) indexed by position t. `inverse` negates sin: the backward is the same
 * call on gradOut with inverse = true.
 */
export interface RotaryParams {
  /** Input (batch, seq, heads, headDim). */
  x: DeviceBuffer<"f32">;
  /** Output, same shape. */
  out: DeviceBuffer<"f32">;
  /** cos table (seq, headDim/2); may have more rows than seq. */
  cos: DeviceBuffer<"f32">;
  /** sin table (seq, headDim/2); may have more rows than seq. */
  sin: DeviceBuffer<"f32">;
  /** Batch size. */
  batch: number;
  /** Sequence length. */
  seq: number;
  /** Number of heads. */
  heads: number;
  /** Head dimension (even). */
  headDim: number;
  /** Rotate by the negative angle (the backward). */
  inverse?: boolean;
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * Causal sliding-window attention. q, k, v (batch, seq, heads, headDim); out (batch, seq,
 * heads*headDim) (the same memory layout); lse (batch, heads, seq) saved for the backward.
 */
export interface AttentionParams {
  /** Queries (batch, seq, heads, headDim). */
  q: DeviceBuffer<"f32">;
  /** Keys (batch, seq, heads, headDim). */
  k: DeviceBuffer<"f32">;
  /** Values (batch, seq, heads, headDim). */
  v: DeviceBuffer<"f32">;
  /** Output (batch, seq, heads * headDim). */
  out: DeviceBuffer<"f32">;
  /** Saved logsumexp of the scaled scores (batch, heads, seq). */
  lse: DeviceBuffer<"f32">;
  /** Batch size. */
  batch: number;
  /** Sequence length. */
  seq: number;
  /** Number of heads. */
  heads: number;
  /** Head dimension. */
  headDim: number;
  /** Key j visible to query i iff j <= i && i - j <= window. */
  window: number;
  /** Score scale. Default 1/sqrt(headDim). */
  scale?: number;
}

/** Gradients of attention; forward tensors plus gradOut (batch, seq, heads*headDim). */
export interface AttentionBackwardParams {
  /** Forward queries. */
  q: DeviceBuffer<"f32">;
  /** Forward keys. */
  k: DeviceBuffer<"f32">;
  /** Forward values. */
  v: DeviceBuffer<"f32">;
  /** Forward output. */
  out: DeviceBuffer<"f32">;
  /** Saved logsumexp (batch, heads, seq). */
  lse: DeviceBuffer<"f32">;
  /** Gradient of out. */
  gradOut: DeviceBuffer<"f32">;
  /** Gradient of q (batch, seq, heads, headDim). */
  gradQ: DeviceBuffer<"f32">;
  /** Gradient of k. */
  gradK: DeviceBuffer<"f32">;
  /** Gradient of v. */
  gradV: DeviceBuffer<"f32">;
  /** Batch size. */
  batch: number;
  /** Sequence length. */
  seq: number;
  /** Number of heads. */
  heads: number;
  /** Head dimension. */
  headDim: number;
  /** As in the forward. */
  window: number;
  /** As in the forward. Default 1/sqrt(headDim). */
  scale?: number;
  /** Add into gradQ/gradK/gradV instead of overwriting them. */
  accumulate?: boolean;
}

/**
 * 2-D strided copy: for r < rows, c < cols:
 * dst[dstOffset + r*dstStride + c] (+)= src[srcOffset + r*srcStride + c].
 * narrow(x, start, len) over the last dim D is {srcStride: D, srcOffset: start, dstStride: len};
 * its backward is the same with src/dst swapped and accumulate (or a zeroed gradIn).
 */
export interface Copy2dParams {
  /** Source. */
  src: DeviceBuffer<"f32">;
  /** Destination (must not be src). */
  dst: DeviceBuffer<"f32">;
  /** Number of rows. */
  rows: number;
  /** Elements copied per row. */
  cols: number;
  /** Elements between source rows. */
  srcStride: number;
  /** Elements between destination rows. */
  dstStride: number;
  /** Default 0. */
  srcOffset?: number;
  /** Default 0. */
  dstOffset?: number;
  /** Add into dst instead of overwriting it. */
  accumulate?: boolean;
}

/** out[offset .. offset+length) = value. */
export interface FillParams {
  /** Output buffer (f32 or i32). */
  out: DeviceBuffer;
  /** Value written. */
  value: number;
  /** Default 0. */
  offset?: number;
  /** Default out.length - offset. */
  length?: number;
}

/**
 * Fused softcap + cross-entropy forward: per row r of logits (rows, vocab),
 * losses[r] = logsumexp(z) - z[targets[r]] with z = softcap(logits[r]); lse[r] saved.
 * targets < 0 are ignored (loss 0).
 */
export interface CrossEntropyParams {
  /** Raw logits (rows, vocab). */
  logits: DeviceBuffer<"f32">;
  /** Targets (rows), in [0, vocab) or negative to ignore. */
  targets: DeviceBuffer<"i32">;
  /** Per-row losses in nats (rows). */
  losses: DeviceBuffer<"f32">;
  /** Saved logsumexp of the capped logits (rows). */
  lse: DeviceBuffer<"f32">;
  /** Number of rows (tokens). */
  rows: number;
  /** Vocabulary size. */
  vocab: number;
  /** Softcap applied to the logits first; 0 = none. */
  softcap: number;
}

/** gradLogits (+)= gradLosses[r] * (softmax(z) - onehot) * dz/dlogits; see module doc. */
export interface CrossEntropyBackwardParams {
  /** Raw logits (rows, vocab). */
  logits: DeviceBuffer<"f32">;
  /** Targets (rows). */
  targets: DeviceBuffer<"i32">;
  /** Saved logsumexp (rows). */
  lse: DeviceBuffer<"f32">;
  /** Gradient of each row's loss (rows) (for a mean loss: g / count). */
  gradLosses: DeviceBuffer<"f32">;
  /** Gradient of the logits (rows, vocab). */
  gradLogits: DeviceBuffer<"f32">;
  /** Number of rows. */
  rows: number;
  /** Vocabulary size. */
  vocab: number;
  /** As in the forward. */
  softcap: number;
  /** Add into gradLogits instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * One AdamW step on n elements, upstream's form (decoupled decay, bias correction):
 * param *= 1 - lr*weightDecay; m = lerp(m, g, 1-beta1); v = lerp(v, g^2, 1-beta2);
 * param -= (lr / (1 - beta1^step)) * m / (sqrt(v / (1 - beta2^step)) + eps).
 */
export interface AdamWParams {
  /** Parameter (n), in-out. */
  param: DeviceBuffer<"f32">;
  /** Gradient (n). */
  grad: DeviceBuffer<"f32">;
  /** First moment (n), in-out. */
  m: DeviceBuffer<"f32">;
  /** Second moment (n), in-out. */
  v: DeviceBuffer<"f32">;
  /** Number of elements. */
  n: number;
  /** Learning rate for this step. */
  lr: number;
  /** First-moment decay (upstream 0.8). */
  beta1: number;
  /** Second-moment decay (upstream 0.95). */
  beta2: number;
  /** Added to the denominator (upstream 1e-10). */
  eps: number;
  /** Decoupled weight decay (upstream 0). */
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/**
 * Muon's Nesterov momentum: momentum = lerp(momentum, grad, 1 - beta);
 * out = lerp(grad, momentum, beta) (the vector handed to orthogonalisation).
 */
export interface MuonMomentumParams {
  /** Gradient (n). */
  grad: DeviceBuffer<"f32">;
  /** Momentum buffer (n), in-out. */
  momentum: DeviceBuffer<"f32">;
  /** Nesterov output (n). */
  out: DeviceBuffer<"f32">;
  /** Number of elements. */
  n: number;
  /** Momentum coefficient (0.85 -> 0.95 upstream). */
  beta: number;
}

/** out = x / (||x||_F * factor + eps), over all n elements (Muon's pre-normalisation). */
export interface NormalizeFrobeniusParams {
  /** Input (n). */
  x: DeviceBuffer<"f32">;
  /** Output (n). */
  out: DeviceBuffer<"f32">;
  /** Number of elements. */
  n: number;
  /** Default 1.02 (upstream). */
  factor?: number;
  /** Default 1e-6 (upstream). */
  eps?: number;
}

/**
 * Muon's last stage for one (rows, cols) matrix, after orthogonalisation (NorMuon second-moment
 * normalisation, then cautious decoupled weight decay), exactly upstream's arithmetic:
 * red = cols when rows >= cols (reduce along each row, secondMoment has `rows` entries),
 * else rows (reduce down each column, `cols` entries).
 *   vMean = mean(u^2 along red);          vNorm = sqrt(sum(vMean) * redSize)
 *   secondMoment = lerp(secondMoment, vMean, 1 - beta2)
 *   s = rsqrt(max(secondMoment, 1e-10));  vNormNew = sqrt(sum(vMean * redSize * s^2))
 *   u' = u * s * (vNorm / max(vNormNew, 1e-10))
 *   param -= lr * u' + lr * weightDecay * param * (u' * param >= 0)
 * `lr` is the final rate (the frontend already applied sqrt(max(1, rows/cols))).
 */
export interface MuonUpdateParams {
  /** Parameter (rows, cols), in-out. */
  param: DeviceBuffer<"f32">;
  /** Orthogonalised update (rows, cols). */
  update: DeviceBuffer<"f32">;
  /** Second-moment buffer (rows if rows >= cols else cols), in-out. */
  secondMoment: DeviceBuffer<"f32">;
  /** Matrix rows. */
  rows: number;
  /** Matrix columns. */
  cols: number;
  /** Learning rate for this step. */
  lr: number;
  /** Cautious decoupled weight decay. */
  weightDecay: number;
  /** Second-moment decay (upstream 0.95). */
  beta2: number;
}

/** One tensor of an {@linkcode AdamWGroupParams} list: its buffers, size and step count. */
export interface AdamWGroupItem {
  /** Parameter (n), in-out. */
  param: DeviceBuffer<"f32">;
  /** Gradient (n). */
  grad: DeviceBuffer<"f32">;
  /** First moment (n), in-out. */
  m: DeviceBuffer<"f32">;
  /** Second moment (n), in-out. */
  v: DeviceBuffer<"f32">;
  /** Number of elements. */
  n: number;
  /** 1-based step count of this tensor, for bias correction. */
  step: number;
}

/**
 * One AdamW step over a list of tensors that share the hyper-parameters (one parameter group):
 * exactly `adamw` applied to every item, which a GPU backend may do in one dispatch.
 */
export interface AdamWGroupParams {
  /** The tensors (distinct buffers; each item's four buffers distinct). */
  items: readonly AdamWGroupItem[];
  /** Learning rate for this step. */
  lr: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Added to the denominator. */
  eps: number;
  /** Decoupled weight decay. */
  weightDecay: number;
}

/**
 * Muon's first stage over a stack of `grads.length` matrices of `n` elements each (same shape),
 * `muonMomentum` then `normalizeFrobenius` per item, the result stacked: for item i,
 *   momenta[i] = lerp(momenta[i], grads[i], 1 - beta);  x = lerp(grads[i], momenta[i], beta)
 *   out[i*n .. (i+1)*n) = x / (||x||_F * factor + eps)
 * The stack then runs the Polar-Express iterations as batched matmuls.
 */
export interface MuonMomentumStackParams {
  /** Gradient of each item (n each). */
  grads: readonly DeviceBuffer<"f32">[];
  /** Momentum buffer of each item (n each), in-out. */
  momenta: readonly DeviceBuffer<"f32">[];
  /** The normalised Nesterov vectors, stacked (grads.length * n). */
  out: DeviceBuffer<"f32">;
  /** Elements per item. */
  n: number;
  /** Momentum coefficient. */
  beta: number;
  /** Default 1.02 (upstream). */
  factor?: number;
  /** Default 1e-6 (upstream). */
  eps?: number;
}

/**
 * Muon's last stage over a stack of (rows, cols) matrices: `muonUpdate` per item i with
 * param = params[i], update = update[i*rows*cols ..], secondMoment = secondMoments[i].
 */
export interface MuonUpdateStackParams {
  /** Parameter of each item (rows, cols), in-out. */
  params: readonly DeviceBuffer<"f32">[];
  /** Orthogonalised updates, stacked (params.length * rows * cols). */
  update: DeviceBuffer<"f32">;
  /** Second-moment buffer of each item (rows if rows >= cols else cols), in-out. */
  secondMoments: readonly DeviceBuffer<"f32">[];
  /** Matrix rows. */
  rows: number;
  /** Matrix columns. */
  cols: number;
  /** Learning rate for this step (the same for every item). */
  lr: number;
  /** Cautious decoupled weight decay. */
  weightDecay: number;
  /** Second-moment decay. */
  beta2: number;
}

/**
 * The raw backend. All ops enqueue; `read` and `sync` are the only waits. See the module doc for
 * buffer, layout and numeric conventions.
 */
export interface Backend {
  /** Identity and device description. */
  readonly info: BackendInfo;

  /** A buffer of `length` elements (contents undefined; see module doc). */
  alloc<D extends DType>(dtype: D, length: number): DeviceBuffer<D>;
  /** Return a buffer to the pool. */
  free(buffer: DeviceBuffer): void;
  /** Copy host data into the buffer starting at element `offset` (default 0). */
  write<D extends DType>(buffer: DeviceBuffer<D>, data: HostArrayOf<D>, offset?: number): void;
  /** A host copy of elements [offset, offset + length) (defaults: the whole buffer). */
  read<D extends DType>(
    buffer: DeviceBuffer<D>,
    offset?: number,
    length?: number,
  ): Promise<HostArrayOf<D>>;
  /** Wait for all enqueued work. */
  sync(): Promise<void>;
  /** Byte counters. */
  memory(): MemoryStats;
  /** Restart the peak counters at the current values. */
  resetPeak(): void;
  /** Release pooled (free) buffers back to the device. */
  trim(): void;
  /** Release everything; the backend is unusable afterwards. */
  destroy(): void;

  /** out[offset..] = value. */
  fill(p: FillParams): void;
  /** Strided 2-D copy (narrow/slice and its backward, concatenation). */
  copy2d(p: Copy2dParams): void;
  /** Batched, transposable GEMM with alpha/beta. */
  matmul(p: MatmulParams): void;
  /** Embedding lookup. */
  embedding(p: EmbeddingParams): void;
  /** Embedding gradient (scatter-add without float atomics). */
  embeddingBackward(p: EmbeddingBackwardParams): void;
  /** Broadcasting add/mul. */
  binary(p: BinaryParams): void;
  /** Sum over broadcast dimensions (also full sum and mean). */
  reduceTo(p: ReduceToParams): void;
  /** Broadcast to a larger shape. */
  broadcastTo(p: BroadcastToParams): void;
  /** out (+)= alpha * x. */
  scale(p: ScaleParams): void;
  /** Pointwise activation. */
  unary(p: UnaryParams): void;
  /** Pointwise activation gradient. */
  unaryBackward(p: UnaryBackwardParams): void;
  /** Parameter-free RMSNorm over the last dim. */
  rmsnorm(p: RmsNormParams): void;
  /** RMSNorm gradient. */
  rmsnormBackward(p: RmsNormBackwardParams): void;
  /** Rotary embedding (and, with inverse, its backward). */
  rotary(p: RotaryParams): void;
  /** Causal sliding-window attention forward. */
  attention(p: AttentionParams): void;
  /** Attention backward. */
  attentionBackward(p: AttentionBackwardParams): void;
  /** Fused softcap + cross-entropy forward (per-row losses). */
  crossEntropy(p: CrossEntropyParams): void;
  /** Fused softcap + cross-entropy backward. */
  crossEntropyBackward(p: CrossEntropyBackwardParams): void;
  /** One AdamW step. */
  adamw(p: AdamWParams): void;
  /** Muon Nesterov momentum. */
  muonMomentum(p: MuonMomentumParams): void;
  /** Frobenius normalisation before orthogonalisation. */
  normalizeFrobenius(p: NormalizeFrobeniusParams): void;
  /** Muon's second-moment normalisation and cautious update. */
  muonUpdate(p: MuonUpdateParams): void;
  /** One AdamW step over a parameter group (`adamw` per item, in as few dispatches as fit). */
  adamwGroup(p: AdamWGroupParams): void;
  /** `muonMomentum` + `normalizeFrobenius` over a stack of same-shape matrices. */
  muonMomentumStack(p: MuonMomentumStackParams): void;
  /** `muonUpdate` over a stack of same-shape matrices. */
  muonUpdateStack(p: MuonUpdateStackParams): void;
}
