// Optimizer kernels, run on the device: AdamW (decoupled decay, bias correction), Muon's Nesterov
// momentum, the Frobenius pre-normalisation (two-stage reduction), and Muon's final stage
// (NorMuon second-moment normalisation + cautious decoupled weight decay). The Newton-Schulz /
// Polar-Express iterations in between are matmuls (matmul.wgsl), composed by the frontend.

struct Params {
  n: u32, rows: u32, cols: u32, along_rows: u32,   // along_rows: rows >= cols (reduce each row)
  entries: u32, red: u32, partials: u32, _pad0: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  weight_decay: f32, step_size: f32, bias2: f32, factor: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;     // grad / update / x
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;  // m / momentum / second moment
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;  // v / out / per-entry scale
@group(0) @binding(5) var<storage, read_write> scratch: array<f32>;  // partial sums / stats

const WG: u32 = 256u;
var<workgroup> red_a: array<f32, 256>;
var<workgroup> red_b: array<f32, 256>;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn tree2(lid: u32, a: f32, b: f32) -> vec2<f32> {
  red_a[lid] = a;
  red_b[lid] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red_a[lid] += red_a[lid + s];
      red_b[lid] += red_b[lid + s];
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(red_a[0], red_b[0]);
  workgroupBarrier();
  return r;
}

// step_size = lr / (1 - beta1^step), bias2 = 1 - beta2^step (computed on the host in f64).
@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  let g = grad[i];
  let m = m1[i] + (1.0 - p.beta1) * (g - m1[i]);
  let v = m2[i] + (1.0 - p.beta2) * (g * g - m2[i]);
  m1[i] = m;
  m2[i] = v;
  let decayed = param[i] * (1.0 - p.lr * p.weight_decay);
  param[i] = decayed - p.step_size * m / (sqrt(v / p.bias2) + p.eps);
}

// momentum = lerp(momentum, g, 1 - beta); out = lerp(g, momentum, beta). beta is in beta1.
@compute @workgroup_size(256)
fn muon_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  let g = grad[i];
  let mom = m1[i] + (1.0 - p.beta1) * (g - m1[i]);
  m1[i] = mom;
  m2[i] = g + p.beta1 * (mom - g);
}

// Stage 1 of ||x||_F: `partials` workgroups each sum x^2 over a strided share into scratch.
@compute @workgroup_size(256)
fn sumsq_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = wid.x * WG + lid; i < p.n; i += p.partials * WG) { let v = grad[i]; sum += v * v; }
  let total = tree2(lid, sum, 0.0);
  if (lid == 0u) { scratch[wid.x] = total.x; }
}

// Stage 2: out = x / (||x||_F * factor + eps); each workgroup re-reduces the partials.
@compute @workgroup_size(256)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  var part = 0.0;
  if (lid < p.partials) { part = scratch[lid]; }
  let total = tree2(lid, part, 0.0);
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  m2[i] = grad[i] / (sqrt(total.x) * p.factor + p.eps);
}

// Muon stage A: per entry e (a row when along_rows, else a column), mean of update^2 -> m2[e].
@compute @workgroup_size(256)
fn muon_vmean(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let e = wid.x + wid.y * nwg.x;
  let live = e < p.entries;
  var sum = 0.0;
  if (live) {
    for (var j = lid; j < p.red; j += WG) {
      var at: u32;
      if (p.along_rows != 0u) { at = e * p.cols + j; } else { at = j * p.cols + e; }
      let u = grad[at];
      sum += u * u;
    }
  }
  let total = tree2(lid, sum, 0.0);
  if (live && lid == 0u) { m2[e] = total.x / f32(p.red); }
}

// Muon stage B (one workgroup): second moment update, per-entry scale s = rsqrt(max(sm, 1e-10))
// into m2 (replacing vMean), and the norm ratio vNorm / max(vNormNew, 1e-10) into scratch[0].
@compute @workgroup_size(256)
fn muon_stats(@builtin(local_invocation_index) lid: u32) {
  var sum_v = 0.0;
  var sum_new = 0.0;
  let red = f32(p.red);
  for (var e = lid; e < p.entries; e += WG) {
    let vm = m2[e];
    let sm = m1[e] + (1.0 - p.beta2) * (vm - m1[e]);
    m1[e] = sm;
    let s = inverseSqrt(max(sm, 1e-10));
    m2[e] = s;
    sum_v += vm;
    sum_new += vm * red * s * s;
  }
  let totals = tree2(lid, sum_v, sum_new);
  if (lid == 0u) {
    scratch[0] = sqrt(totals.x * red) / max(sqrt(totals.y), 1e-10);
  }
}

// Muon stage C: u' = u * s[e] * ratio; param -= lr * u' + lr * wd * param * (u' * param >= 0).
@compute @workgroup_size(256)
fn muon_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  var e: u32;
  if (p.along_rows != 0u) { e = i / p.cols; } else { e = i % p.cols; }
  let u = grad[i] * m2[e] * scratch[0];
  let w = param[i];
  var decay = 0.0;
  if (u * w >= 0.0) { decay = p.lr * p.weight_decay * w; }
  param[i] = w - p.lr * u - decay;
}
