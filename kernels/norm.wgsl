// Parameter-free RMSNorm over the last dimension, forward and backward, one pass over the row.
//   forward:  rstd = 1/sqrt(mean(x^2) + eps); out = x * rstd
//   backward: gradIn (+)= rstd * g - x * rstd^3 * mean(g * x)   (= rstd * (g - y * mean(g * y)))
// Layout: x, g, out (rows, dim) row-major, read as packs (vec4 when dim % 4 == 0, else scalars:
// kernels.ts swaps the prelude). Grid: workgroups of 256 invocations, each row owned by a segment
// of LANES = 2^lanes_log2 consecutive invocations (the backend picks LANES so that a lane holds
// at most two packs of a row of the trainer's widths), so a workgroup handles 256 / LANES rows.
// Each lane keeps its packs in registers between the reduction and the write, so x (and g) are
// read from memory once. The row's sum is reduced with one barrier: every lane writes its partial
// and then reads its segment's partials back (broadcast reads, the same order in every lane).

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
  rows: u32, packs: u32, accumulate: u32, lanes_log2: u32,
  eps: f32, dim: f32, _pad0: f32, _pad1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> g: array<V>;       // backward: gradOut
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<V>;  // forward out / gradIn
@group(0) @binding(5) var<storage, read> rstd_in: array<f32>;  // backward: saved rstd

const WG: u32 = 256u;
// Packs a lane keeps in registers; packs past LANES * CACHED (rows over 1024 packs) are read
// again from memory for the write.
const CACHED: u32 = 4u;
var<workgroup> partial: array<vec4<f32>, 64>;

struct Lane { row: u32, lane: u32, lanes: u32, live: bool }

fn lane_of(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Lane {
  let lanes = 1u << p.lanes_log2;
  let row = (wid.x + wid.y * nwg.x) * (WG >> p.lanes_log2) + (lid >> p.lanes_log2);
  return Lane(row, lid & (lanes - 1u), lanes, row < p.rows);
}

// Sum of `v` over the segment of lanes (at least 4) that owns this lane's row: one barrier;
// called once per dispatch, so `partial` is never rewritten while another lane still reads it.
fn segment_sum(lid: u32, lanes: u32, v: f32) -> f32 {
  partial[lid / 4u][lid % 4u] = v;
  workgroupBarrier();
  let first = (lid & ~(lanes - 1u)) / 4u;
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < lanes / 4u; i++) { s += partial[first + i]; }
  return s.x + s.y + s.z + s.w;
}

@compute @workgroup_size(256)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let l = lane_of(wid, nwg, lid);
  let base = l.row * p.packs;
  var held: array<V, CACHED>;
  var ss = 0.0;
  if (l.live) {
    for (var k = 0u; k < CACHED; k++) {
      let i = l.lane + k * l.lanes;
      if (i < p.packs) { held[k] = x[base + i]; ss += hsum(held[k] * held[k]); }
    }
    for (var i = l.lane + CACHED * l.lanes; i < p.packs; i += l.lanes) {
      let v = x[base + i];
      ss += hsum(v * v);
    }
  }
  let r = inverseSqrt(segment_sum(lid, l.lanes, ss) / p.dim + p.eps);
  if (!l.live) { return; }
  for (var k = 0u; k < CACHED; k++) {
    let i = l.lane + k * l.lanes;
    if (i < p.packs) { out[base + i] = held[k] * r; }
  }
  for (var i = l.lane + CACHED * l.lanes; i < p.packs; i += l.lanes) {
    out[base + i] = x[base + i] * r;
  }
  if (l.lane == 0u) { rstd[l.row] = r; }
}

@compute @workgroup_size(256)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let l = lane_of(wid, nwg, lid);
  let base = l.row * p.packs;
  var hx: array<V, CACHED>;
  var hg: array<V, CACHED>;
  var gx = 0.0;
  var r = 0.0;
  if (l.live) {
    r = rstd_in[l.row];
    for (var k = 0u; k < CACHED; k++) {
      let i = l.lane + k * l.lanes;
      if (i < p.packs) { hx[k] = x[base + i]; hg[k] = g[base + i]; gx += hsum(hx[k] * hg[k]); }
    }
    for (var i = l.lane + CACHED * l.lanes; i < p.packs; i += l.lanes) {
      gx += hsum(x[base + i] * g[base + i]);
    }
  }
  // gradIn = r * g - c * x with c = r^3 * mean(g * x)
  let c = r * r * r * segment_sum(lid, l.lanes, gx) / p.dim;
  if (!l.live) { return; }
  let acc = p.accumulate != 0u;
  for (var k = 0u; k < CACHED; k++) {
    let i = l.lane + k * l.lanes;
    if (i < p.packs) {
      let v = r * hg[k] - c * hx[k];
      if (acc) { out[base + i] += v; } else { out[base + i] = v; }
    }
  }
  for (var i = l.lane + CACHED * l.lanes; i < p.packs; i += l.lanes) {
    let v = r * g[base + i] - c * x[base + i];
    if (acc) { out[base + i] += v; } else { out[base + i] = v; }
  }
}
