// Fused softcap + cross-entropy over logits (rows, vocab) row-major, read in packs (vec4 when
// vocab % 4 == 0, else scalars: kernels.ts swaps the prelude). z = cap * tanh(x / cap) (cap 0:
// z = x). A negative target is ignored (loss 0, gradient 0).
// Forward, one workgroup of 256 invocations per row (rows fold into a 2-D grid past 65535): ONE
// pass over the row with an online log-sum-exp: each invocation keeps a running max m and a sum
// s of exp(z - m), rescaling s when m grows; the 256 (m, s) pairs are merged in two rounds (16
// groups of 16, then the 16 results) with two barriers. losses[r] = lse - z[target]; lse saved.
// With a cap, z <= cap, so m settles after the first packs and rescales are rare.
// Backward, one invocation per pack of logits, one pass: gradLogits (+)= gradLoss *
// (exp(z - lse) - onehot) * dz/dx with dz/dx = 1 - (z/cap)^2.

// ---- pack prelude: vec4 flavour (kernels.ts swaps in the scalar flavour)
alias V = vec4<f32>;
alias VU = vec4<u32>;
const PACK: u32 = 4u;
const PACK_OFFSETS: VU = vec4<u32>(0u, 1u, 2u, 3u);
fn hsum(v: V) -> f32 { return v.x + v.y + v.z + v.w; }
fn hmax(v: V) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn pick(v: V, k: u32) -> f32 { return v[k]; }
// ---- end of prelude

struct Params {
  rows: u32, packs: u32, accumulate: u32, _pad0: u32,
  cap: f32, inv_cap: f32, _pad1: f32, _pad2: f32,  // inv_cap = 1 / cap: a multiply, not a divide
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<V>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read> lse_in: array<f32>;
@group(0) @binding(6) var<storage, read> grad_losses: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad_logits: array<V>;

const WG: u32 = 256u;
var<workgroup> part_max: array<f32, 256>;
var<workgroup> part_sum: array<f32, 256>;

// tanh saturates to 1 in f32 long before |t| = 15; the clamp keeps drivers whose tanh is
// exp-based from returning inf/inf = NaN on huge logits.
fn capped(v: V) -> V {
  if (p.cap == 0.0) { return v; }
  return p.cap * tanh(clamp(v * p.inv_cap, V(-15.0), V(15.0)));
}

// Merge the 16 (max, sum) pairs at first, first + stride, ... into one.
fn merge16(first: u32, stride: u32) -> vec2<f32> {
  var m = part_max[first];
  for (var k = 1u; k < 16u; k++) { m = max(m, part_max[first + k * stride]); }
  var s = 0.0;
  for (var k = 0u; k < 16u; k++) {
    s += part_sum[first + k * stride] * exp(part_max[first + k * stride] - m);
  }
  return vec2<f32>(m, s);
}

@compute @workgroup_size(256)
fn cross_entropy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;
  let base = min(row, p.rows - 1u) * p.packs;
  var m = -3.4e38;
  var s = 0.0;
  for (var i = lid; i < p.packs; i += WG) {
    let z = capped(logits[base + i]);
    let top = hmax(z);
    if (top > m) {
      s *= exp(m - top);
      m = top;
    }
    s += hsum(exp(z - m));
  }
  part_max[lid] = m;
  part_sum[lid] = s;
  workgroupBarrier();
  if (lid < 16u) {
    let merged = merge16(lid * 16u, 1u);
    part_max[lid * 16u] = merged.x;
    part_sum[lid * 16u] = merged.y;
  }
  workgroupBarrier();
  if (!live || lid != 0u) { return; }
  let total = merge16(0u, 16u);
  let l = total.x + log(total.y);
  lse[row] = l;
  let tgt = targets[row];
  if (tgt < 0) {
    losses[row] = 0.0;
  } else {
    let t = u32(tgt);
    losses[row] = l - pick(capped(logits[base + t / PACK]), t % PACK);
  }
}

@compute @workgroup_size(256)
fn cross_entropy_backward(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.packs) { return; }
  let row = i / p.packs;
  let first_col = (i % p.packs) * PACK;
  let tgt = targets[row];
  var v = V(0.0);
  if (tgt >= 0) {
    let z = capped(logits[i]);
    let onehot = select(V(0.0), V(1.0), VU(u32(tgt)) == first_col + PACK_OFFSETS);
    var d = exp(z - lse_in[row]) - onehot;
    if (p.cap != 0.0) {
      let t = z * p.inv_cap;
      d *= 1.0 - t * t;
    }
    v = grad_losses[row] * d;
  }
  if (p.accumulate != 0u) { grad_logits[i] += v; } else { grad_logits[i] = v; }
}
