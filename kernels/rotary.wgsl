// Rotary position embedding, half split (as upstream): with h = headDim/2, for each pair
// (x1 = x[..., i], x2 = x[..., i + h]): y1 = x1*cos + x2*sin, y2 = -x1*sin + x2*cos, with cos/sin
// tables (seq, h) read at the token's position. `inverse` negates sin (the backward).
// x, out: (batch, seq, heads, headDim). One invocation per pair.

struct Params {
  batch: u32, seq: u32, heads: u32, head_dim: u32,
  pairs: u32, inverse: u32, accumulate: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> cos_table: array<f32>;
@group(0) @binding(3) var<storage, read> sin_table: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn rotary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (idx >= p.pairs) { return; }
  let half = p.head_dim / 2u;
  let i = idx % half;
  let row = idx / half;             // (b, t, h) flattened
  let t = (row / p.heads) % p.seq;
  let base = row * p.head_dim;
  let c = cos_table[t * half + i];
  var s = sin_table[t * half + i];
  if (p.inverse != 0u) { s = -s; }
  let x1 = x[base + i];
  let x2 = x[base + i + half];
  let y1 = x1 * c + x2 * s;
  let y2 = -x1 * s + x2 * c;
  if (p.accumulate != 0u) {
    out[base + i] += y1;
    out[base + i + half] += y2;
  } else {
    out[base + i] = y1;
    out[base + i + half] = y2;
  }
}
