/**
 * The CPU backend's pointwise, reduction, normalisation, rotary, loss and optimizer kernels:
 * plain loops over Float32Arrays (f64 accumulators where a sum is long). Matmul and attention
 * live elsewhere (gemm/ and attention.ts). Each function follows the matching parameter object
 * of ../backend.ts, taking the raw arrays instead of handles.
 *
 * @module
 */
import type { VecMath } from "./vecmath.ts";

/** Pads a shape of rank 1..4 to rank 4 with leading 1s. */
export function pad4(shape: readonly number[]): [number, number, number, number] {
  if (shape.length < 1 || shape.length > 4) throw new RangeError(`rank ${shape.length} not 1..4`);
  const s = [1, 1, 1, ...shape].slice(-4);
  return [s[0], s[1], s[2], s[3]];
}

/** Dense strides of a rank-4 shape, with 0 where `small` broadcasts (size 1 vs larger). */
export function broadcastStrides(
  small: readonly number[],
  full: readonly number[],
): [number, number, number, number] {
  const s = pad4(small), f = pad4(full);
  const strides: [number, number, number, number] = [0, 0, 0, 0];
  let acc = 1;
  for (let d = 3; d >= 0; d--) {
    if (s[d] !== f[d] && s[d] !== 1) {
      throw new RangeError(`shape [${small}] does not broadcast to [${full}]`);
    }
    strides[d] = s[d] === 1 && f[d] !== 1 ? 0 : acc;
    acc *= s[d];
  }
  return strides;
}

/** out (shape) (+)= a op b with broadcasting; see BinaryParams. */
export function binaryKernel(
  op: "add" | "mul",
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  shape: readonly number[],
  aShape: readonly number[],
  bShape: readonly number[],
  accumulate: boolean,
): void {
  const [n0, n1, n2, n3] = pad4(shape);
  const [a0, a1, a2, a3] = broadcastStrides(aShape, shape);
  const [b0, b1, b2, b3] = broadcastStrides(bShape, shape);
  const mul = op === "mul";
  const n = n0 * n1 * n2 * n3;
  const aFull = a.length >= n && a3 === 1 && a2 === n3 && a1 === n2 * n3 && a0 === n1 * n2 * n3;
  const bFull = b3 === 1 && b2 === n3 && b1 === n2 * n3 && b0 === n1 * n2 * n3;
  // A b of one element is a scalar whatever its rank (its size-1 dims may keep a stride).
  const bScalar = pad4(bShape).every((d) => d === 1);
  if (aFull && (bFull || bScalar)) {
    // Common cases (same shape, or times a scalar) in one flat loop each.
    flatBinary(mul, a, b, out, n, bScalar, accumulate);
    return;
  }
  let o = 0;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const ai = i0 * a0 + i1 * a1 + i2 * a2, bi = i0 * b0 + i1 * b1 + i2 * b2;
        // One inner loop per (op, accumulate): V8 does not hoist the choice out of the loop.
        if (mul) {
          if (accumulate) {
            for (let i3 = 0; i3 < n3; i3++) out[o + i3] += a[ai + i3 * a3] * b[bi + i3 * b3];
          } else for (let i3 = 0; i3 < n3; i3++) out[o + i3] = a[ai + i3 * a3] * b[bi + i3 * b3];
        } else if (accumulate) {
          for (let i3 = 0; i3 < n3; i3++) out[o + i3] += a[ai + i3 * a3] + b[bi + i3 * b3];
        } else for (let i3 = 0; i3 < n3; i3++) out[o + i3] = a[ai + i3 * a3] + b[bi + i3 * b3];
        o += n3;
      }
    }
  }
}

/** binaryKernel's dense cases: out[i] (+)= a[i] op (b[i], or b[0] when `bScalar`). */
function flatBinary(
  mul: boolean,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  n: number,
  bScalar: boolean,
  accumulate: boolean,
): void {
  if (bScalar) {
    const s = b[0];
    if (accumulate) {
      if (mul) { for (let i = 0; i < n; i++) out[i] += a[i] * s; }
      else for (let i = 0; i < n; i++) out[i] += a[i] + s;
    } else if (mul) { for (let i = 0; i < n; i++) out[i] = a[i] * s; }
    else for (let i = 0; i < n; i++) out[i] = a[i] + s;
  } else if (accumulate) {
    if (mul) { for (let i = 0; i < n; i++) out[i] += a[i] * b[i]; }
    else for (let i = 0; i < n; i++) out[i] += a[i] + b[i];
  } else if (mul) { for (let i = 0; i < n; i++) out[i] = a[i] * b[i]; }
  else for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/** out (outShape) (+)= alpha * sum of x (shape) over broadcast dims; f64 accumulation. */
export function reduceToKernel(
  x: Float32Array,
  out: Float32Array,
  shape: readonly number[],
  outShape: readonly number[],
  alpha: number,
  accumulate: boolean,
): void {
  const [n0, n1, n2, n3] = pad4(shape);
  const [s0, s1, s2, s3] = broadcastStrides(outShape, shape);
  const outN = pad4(outShape).reduce((p, q) => p * q, 1);
  const acc = new Float64Array(outN);
  let i = 0;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        let oi = i0 * s0 + i1 * s1 + i2 * s2;
        if (s3 === 0) {
          let s = 0;
          for (let i3 = 0; i3 < n3; i3++, i++) s += x[i];
          acc[oi] += s;
        } else {
          for (let i3 = 0; i3 < n3; i3++, i++, oi += s3) acc[oi] += x[i];
        }
      }
    }
  }
  for (let j = 0; j < outN; j++) out[j] = (accumulate ? out[j] : 0) + alpha * acc[j];
}

/** out (shape) (+)= alpha * x broadcast from xShape. */
export function broadcastToKernel(
  x: Float32Array,
  out: Float32Array,
  xShape: readonly number[],
  shape: readonly number[],
  alpha: number,
  accumulate: boolean,
): void {
  const [n0, n1, n2, n3] = pad4(shape);
  const [s0, s1, s2, s3] = broadcastStrides(xShape, shape);
  let o = 0;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        let xi = i0 * s0 + i1 * s1 + i2 * s2;
        for (let i3 = 0; i3 < n3; i3++, o++, xi += s3) {
          const v = alpha * x[xi];
          out[o] = accumulate ? out[o] + v : v;
        }
      }
    }
  }
}

/** out (+)= f(x) for relu2 / sigmoid / softcap (one loop per op keeps the JIT's loop tight). */
export function unaryKernel(
  op: "relu2" | "sigmoid" | "softcap",
  x: Float32Array,
  out: Float32Array,
  n: number,
  cap: number,
  accumulate: boolean,
): void {
  const acc = accumulate ? 1 : 0;
  if (op === "relu2") {
    // Branch-free relu, 0.5 * (a + |a|) (exact): activations have random signs, and V8 compiles
    // `a > 0 ? a * a : 0` to a branch that mispredicts half the time (~10x slower).
    for (let i = 0; i < n; i++) {
      const a = x[i], r = 0.5 * (a + Math.abs(a));
      const v = r * r;
      out[i] = acc ? out[i] + v : v;
    }
  } else if (op === "sigmoid") {
    for (let i = 0; i < n; i++) {
      const v = 1 / (1 + Math.exp(-x[i]));
      out[i] = acc ? out[i] + v : v;
    }
  } else if (cap > 0) {
    const k = 2 / cap;
    for (let i = 0; i < n; i++) {
      const v = capTanh(x[i], k, cap);
      out[i] = acc ? out[i] + v : v;
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = acc ? out[i] + x[i] : x[i];
  }
}

/** gradIn (+)= gradOut * f'(x) using the saved output y where cheaper. */
export function unaryBackwardKernel(
  op: "relu2" | "sigmoid" | "softcap",
  x: Float32Array,
  y: Float32Array,
  gradOut: Float32Array,
  gradIn: Float32Array,
  n: number,
  cap: number,
  accumulate: boolean,
): void {
  // One loop per op keeps each loop free of per-element dispatch.
  const acc = accumulate ? 1 : 0;
  if (op === "relu2") {
    // (a + |a|) = 2 * relu(a), exact and branch-free (see unaryKernel)
    for (let i = 0; i < n; i++) {
      const a = x[i];
      const g = (a + Math.abs(a)) * gradOut[i];
      gradIn[i] = acc ? gradIn[i] + g : g;
    }
  } else if (op === "sigmoid") {
    for (let i = 0; i < n; i++) {
      const g = gradOut[i] * y[i] * (1 - y[i]);
      gradIn[i] = acc ? gradIn[i] + g : g;
    }
  } else {
    const inv = cap > 0 ? 1 / cap : 0;
    for (let i = 0; i < n; i++) {
      const t = y[i] * inv;
      const g = gradOut[i] * (1 - t * t);
      gradIn[i] = acc ? gradIn[i] + g : g;
    }
  }
}

/** RMSNorm forward over rows of `dim`; rstd saved. */
export function rmsnormKernel(
  x: Float32Array,
  out: Float32Array,
  rstd: Float32Array,
  rows: number,
  dim: number,
  eps: number,
): void {
  for (let r = 0, o = 0; r < rows; r++, o += dim) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[o + j] * x[o + j];
    const s = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = s;
    for (let j = 0; j < dim; j++) out[o + j] = x[o + j] * s;
  }
}

/** RMSNorm backward: gradIn (+)= rstd * (g - y * mean(g * y)), y = x * rstd. */
export function rmsnormBackwardKernel(
  x: Float32Array,
  rstd: Float32Array,
  gradOut: Float32Array,
  gradIn: Float32Array,
  rows: number,
  dim: number,
  accumulate: boolean,
): void {
  for (let r = 0, o = 0; r < rows; r++, o += dim) {
    const s = rstd[r];
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += gradOut[o + j] * x[o + j];
    // y * mean(g * y) = x * (s^2 * dot / dim): folded so y is never stored
    const c = dot * s * s / dim;
    for (let j = 0; j < dim; j++) {
      const g = s * (gradOut[o + j] - x[o + j] * c);
      gradIn[o + j] = accumulate ? gradIn[o + j] + g : g;
    }
  }
}

/** Rotary embedding, half split, on (batch, seq, heads, headDim); inverse negates sin. */
export function rotaryKernel(
  x: Float32Array,
  out: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
  inverse: boolean,
  accumulate: boolean,
): void {
  const h = headDim >> 1;
  const sign = inverse ? -1 : 1;
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      const tr = t * h;
      for (let hd = 0; hd < heads; hd++, o += headDim) {
        for (let i = 0; i < h; i++) {
          const c = cos[tr + i], s = sign * sin[tr + i];
          const x1 = x[o + i], x2 = x[o + h + i];
          const y1 = x1 * c + x2 * s, y2 = -x1 * s + x2 * c;
          if (accumulate) {
            out[o + i] += y1;
            out[o + h + i] += y2;
          } else {
            out[o + i] = y1;
            out[o + h + i] = y2;
          }
        }
      }
    }
  }
}

/**
 * cap * tanh(x / cap) through one exp (Math.tanh is several times slower in V8):
 * tanh(u) = 1 - 2 / (exp(2u) + 1), exact at both infinities.
 */
export function capTanh(x: number, twoOverCap: number, cap: number): number {
  return cap - (2 * cap) / (Math.exp(twoOverCap * x) + 1);
}

/** Fused softcap + cross-entropy forward; per-row losses and lse. SIMD exp when `vm` is given. */
export function crossEntropyKernel(
  logits: Float32Array,
  targets: Int32Array,
  losses: Float32Array,
  lse: Float32Array,
  rows: number,
  vocab: number,
  cap: number,
  vm: VecMath | null = null,
): void {
  const k = 2 / cap;
  const n4 = vm ? vocab & ~3 : 0; // floats the SIMD kernel takes; the JS loops do the rest
  const view = vm ? vm.view(vocab + 4) : null;
  for (let r = 0, o = 0; r < rows; r++, o += vocab) {
    let max: number, sum = 0;
    if (n4 > 0) view!.set(logits.subarray(o, o + n4), 0);
    // The max over raw logits (no transcendental) gives the shift; the cap is monotonic.
    max = n4 > 0 ? vm!.rowMax(n4) : -Infinity;
    for (let j = n4; j < vocab; j++) if (logits[o + j] > max) max = logits[o + j];
    if (cap > 0) {
      max = capTanh(max, k, cap);
      if (n4 > 0) sum = vm!.sumExpSoftcap(n4, cap, max);
      for (let j = n4; j < vocab; j++) sum += Math.exp(capTanh(logits[o + j], k, cap) - max);
    } else {
      if (n4 > 0) sum = vm!.expShift(n4, 0, max);
      for (let j = n4; j < vocab; j++) sum += Math.exp(logits[o + j] - max);
    }
    const l = max + Math.log(sum);
    lse[r] = l;
    const t = targets[r];
    if (t >= vocab) throw new RangeError(`crossEntropy: target ${t} >= vocab ${vocab}`);
    const zt = t < 0 ? 0 : cap > 0 ? capTanh(logits[o + t], k, cap) : logits[o + t];
    losses[r] = t < 0 ? 0 : l - zt;
  }
}

/** Fused softcap + cross-entropy backward. SIMD exp when `vm` is given. */
export function crossEntropyBackwardKernel(
  logits: Float32Array,
  targets: Int32Array,
  lse: Float32Array,
  gradLosses: Float32Array,
  gradLogits: Float32Array,
  rows: number,
  vocab: number,
  cap: number,
  accumulate: boolean,
  vm: VecMath | null = null,
): void {
  const k = 2 / cap;
  const n4 = vm ? vocab & ~3 : 0;
  const dst = (vocab + 3) & ~3; // the kernel writes the row's gradient here in module memory
  const view = vm ? vm.view(dst + vocab + 4) : null;
  for (let r = 0, o = 0; r < rows; r++, o += vocab) {
    const t = targets[r];
    const g = t < 0 ? 0 : gradLosses[r];
    const l = lse[r];
    if (g === 0) {
      if (!accumulate) gradLogits.fill(0, o, o + vocab);
      continue;
    }
    if (n4 > 0) {
      const v = view!;
      v.set(logits.subarray(o, o + n4), 0);
      if (cap > 0) vm!.gradSoftcap(n4, dst, cap, l, g);
      else vm!.gradShift(n4, dst, l, g);
      for (let j = n4; j < vocab; j++) {
        const x = logits[o + j];
        v[dst + j] = cap > 0
          ? g * Math.exp(capTanh(x, k, cap) - l) * (1 - (capTanh(x, k, cap) / cap) ** 2)
          : g * Math.exp(x - l);
      }
      // the one-hot term at the target
      if (cap > 0) {
        const th = capTanh(logits[o + t], k, cap) / cap;
        v[dst + t] -= g * (1 - th * th);
      } else v[dst + t] -= g;
      if (accumulate) { for (let j = 0; j < vocab; j++) gradLogits[o + j] += v[dst + j]; }
      else gradLogits.set(v.subarray(dst, dst + vocab), o);
      continue;
    }
    if (cap > 0) {
      for (let j = 0; j < vocab; j++) {
        const z = capTanh(logits[o + j], k, cap), th = z / cap;
        const d = g * (Math.exp(z - l) - (j === t ? 1 : 0)) * (1 - th * th);
        gradLogits[o + j] = accumulate ? gradLogits[o + j] + d : d;
      }
    } else {
      for (let j = 0; j < vocab; j++) {
        const d = g * (Math.exp(logits[o + j] - l) - (j === t ? 1 : 0));
        gradLogits[o + j] = accumulate ? gradLogits[o + j] + d : d;
      }
    }
  }
}

/** One AdamW step (upstream arithmetic; see AdamWParams). */
export function adamwKernel(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
): void {
  const decay = 1 - lr * weightDecay;
  const bias1 = 1 - beta1 ** step, bias2 = 1 - beta2 ** step;
  const stepSize = lr / bias1;
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    const mi = m[i] + (g - m[i]) * (1 - beta1);
    const vi = v[i] + (g * g - v[i]) * (1 - beta2);
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - stepSize * mi / (Math.sqrt(vi / bias2) + eps);
  }
}

/** Muon Nesterov momentum: momentum = lerp(momentum, g, 1-beta); out = lerp(g, momentum, beta). */
export function muonMomentumKernel(
  grad: Float32Array,
  momentum: Float32Array,
  out: Float32Array,
  n: number,
  beta: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    const mo = momentum[i] + (g - momentum[i]) * (1 - beta);
    momentum[i] = mo;
    out[i] = g + (mo - g) * beta;
  }
}

/** out = x / (||x||_F * factor + eps). */
export function normalizeFrobeniusKernel(
  x: Float32Array,
  out: Float32Array,
  n: number,
  factor: number,
  eps: number,
): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[i] * x[i];
  const s = 1 / (Math.sqrt(ss) * factor + eps);
  for (let i = 0; i < n; i++) out[i] = x[i] * s;
}

/** NorMuon second-moment normalisation and cautious update; see MuonUpdateParams. */
export function muonUpdateKernel(
  param: Float32Array,
  update: Float32Array,
  secondMoment: Float32Array,
  rows: number,
  cols: number,
  lr: number,
  weightDecay: number,
  beta2: number,
): void {
  const alongRows = rows >= cols; // reduce over each row (size cols): one entry per row
  const entries = alongRows ? rows : cols;
  const redSize = alongRows ? cols : rows;
  const vMean = new Float64Array(entries);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const u = update[r * cols + c];
      vMean[alongRows ? r : c] += u * u;
    }
  }
  let vSum = 0;
  for (let e = 0; e < entries; e++) {
    vMean[e] /= redSize;
    vSum += vMean[e];
  }
  const vNorm = Math.sqrt(vSum * redSize);
  const step = new Float64Array(entries);
  let scaledSum = 0;
  for (let e = 0; e < entries; e++) {
    const sm = secondMoment[e] + (vMean[e] - secondMoment[e]) * (1 - beta2);
    secondMoment[e] = sm;
    const s = 1 / Math.sqrt(Math.max(Math.fround(sm), 1e-10));
    step[e] = s;
    scaledSum += vMean[e] * redSize * s * s;
  }
  const ratio = vNorm / Math.max(Math.sqrt(scaledSum), 1e-10);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const u = update[i] * step[alongRows ? r : c] * ratio;
      const p = param[i];
      const mask = u * p >= 0 ? 1 : 0;
      param[i] = p - (lr * u + lr * weightDecay * p * mask);
    }
  }
}
