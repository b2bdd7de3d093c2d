// Parameter-free RMSNorm over the last dimension, forward and backward. One workgroup of 256
// invocations per row (rows fold into a 2-D grid past 65535), a tree reduction in workgroup
// memory for the row's sum of squares (forward) or sum of gradOut*y (backward).
//   forward:  rstd = 1/sqrt(mean(x^2) + eps); out = x * rstd
//   backward: gradIn (+)= rstd * (g - y * mean(g * y)), y = x * rstd

struct Params {
  rows: u32, dim: u32, accumulate: u32, _pad0: u32,
  eps: f32, _pad1: f32, _pad2: f32, _pad3: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;       // backward: gradOut
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // forward out / gradIn
@group(0) @binding(5) var<storage, read> rstd_in: array<f32>;  // backward: saved rstd

const WG: u32 = 256u;
var<workgroup> partial: array<f32, 256>;

fn tree_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(256)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;
  let base = min(row, p.rows - 1u) * p.dim;
  var ss = 0.0;
  for (var i = lid; i < p.dim; i += WG) { let v = x[base + i]; ss += v * v; }
  let r = inverseSqrt(tree_sum(lid, ss) / f32(p.dim) + p.eps);
  if (!live) { return; }
  for (var i = lid; i < p.dim; i += WG) { out[base + i] = x[base + i] * r; }
  if (lid == 0u) { rstd[row] = r; }
}

@compute @workgroup_size(256)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;
  let safe_row = min(row, p.rows - 1u);
  let base = safe_row * p.dim;
  let r = rstd_in[safe_row];
  var gy = 0.0;
  for (var i = lid; i < p.dim; i += WG) { gy += g[base + i] * x[base + i] * r; }
  let mean_gy = tree_sum(lid, gy) / f32(p.dim);
  if (!live) { return; }
  for (var i = lid; i < p.dim; i += WG) {
    let v = r * (g[base + i] - x[base + i] * r * mean_gy);
    if (p.accumulate != 0u) { out[base + i] += v; } else { out[base + i] = v; }
  }
}
