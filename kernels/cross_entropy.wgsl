// Fused softcap + cross-entropy. Forward: one workgroup per row, two passes over the vocab
// (max, then sum of exp) reduced in workgroup memory; losses[r] = lse - z[target], lse saved.
// Backward: one invocation per logit, gradLogits (+)= gradLoss * (softmax(z) - onehot) * dz/dx,
// with z = cap * tanh(x / cap) so dz/dx = 1 - (z/cap)^2. A negative target is ignored.

struct Params {
  rows: u32, vocab: u32, accumulate: u32, _pad0: u32,
  cap: f32, _pad1: f32, _pad2: f32, _pad3: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read> lse_in: array<f32>;
@group(0) @binding(6) var<storage, read> grad_losses: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad_logits: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, 256>;

fn capped(v: f32) -> f32 {
  if (p.cap == 0.0) { return v; }
  return p.cap * tanh(v / p.cap);
}

@compute @workgroup_size(256)
fn cross_entropy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;
  let base = min(row, p.rows - 1u) * p.vocab;
  var m = -3.4e38;
  for (var i = lid; i < p.vocab; i += WG) { m = max(m, capped(logits[base + i])); }
  partial[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = max(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  let row_max = partial[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var i = lid; i < p.vocab; i += WG) { sum += exp(capped(logits[base + i]) - row_max); }
  partial[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (!live || lid != 0u) { return; }
  let l = row_max + log(partial[0]);
  lse[row] = l;
  let tgt = targets[row];
  if (tgt < 0) { losses[row] = 0.0; } else { losses[row] = l - capped(logits[base + u32(tgt)]); }
}

@compute @workgroup_size(256)
fn cross_entropy_backward(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.vocab) { return; }
  let row = i / p.vocab;
  let col = i % p.vocab;
  let tgt = targets[row];
  var v = 0.0;
  if (tgt >= 0) {
    let z = capped(logits[i]);
    var d = exp(z - lse_in[row]);
    if (u32(tgt) == col) { d -= 1.0; }
    var dz = 1.0;
    if (p.cap != 0.0) { let t = z / p.cap; dz = 1.0 - t * t; }
    v = grad_losses[row] * d * dz;
  }
  if (p.accumulate != 0u) { grad_logits[i] += v; } else { grad_logits[i] = v; }
}
