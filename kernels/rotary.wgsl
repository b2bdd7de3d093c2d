// Rotary position embedding, half split (as upstream): with h = headDim/2, for each pair
// (x1 = x[..., i], x2 = x[..., i + h]): y1 = x1*cos + x2*sin, y2 = -x1*sin + x2*cos, with cos/sin
// tables (seq, h) read at the token's position. `inverse` negates sin (the backward).
// Layout: x, out (batch, seq, heads, headDim) row-major, read in packs (vec4 when h % 4 == 0,
// else scalars: kernels.ts swaps the prelude), so an invocation rotates PACK pairs: one load of
// x1, x2, cos and sin each, two stores. Grid: one invocation per pack of pairs, 256 per
// workgroup, folded into 2-D past 65535 workgroups.

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
  seq: u32, heads: u32, half_packs: u32, packs: u32,  // packs: pair packs in all of x
  inverse: u32, accumulate: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> cos_table: array<V>;
@group(0) @binding(3) var<storage, read> sin_table: array<V>;
@group(0) @binding(4) var<storage, read_write> out: array<V>;

@compute @workgroup_size(256)
fn rotary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (idx >= p.packs) { return; }
  let i = idx % p.half_packs;
  let row = idx / p.half_packs;             // (b, t, h) flattened
  let t = (row / p.heads) % p.seq;
  let base = row * 2u * p.half_packs;
  let c = cos_table[t * p.half_packs + i];
  var s = sin_table[t * p.half_packs + i];
  if (p.inverse != 0u) { s = -s; }
  let x1 = x[base + i];
  let x2 = x[base + i + p.half_packs];
  let y1 = x1 * c + x2 * s;
  let y2 = -x1 * s + x2 * c;
  if (p.accumulate != 0u) {
    out[base + i] += y1;
    out[base + i + p.half_packs] += y2;
  } else {
    out[base + i] = y1;
    out[base + i + p.half_packs] = y2;
  }
}
