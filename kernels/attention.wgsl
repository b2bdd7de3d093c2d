// Flash-style causal sliding-window attention, forward and backward, without ever forming the
// (T x T) score matrix. Query i sees key j iff j <= i && i - j <= window. q, k, v, dq, dk, dv:
// (batch, seq, heads, D) with row stride heads*D; lse, delta: (batch, heads, seq).
//   attention        grid (ceil(seq/64), batch*heads); one invocation per query row; key/value
//                    tiles of BC rows staged in workgroup memory; online softmax rescaled once per
//                    tile; saves lse = max + log(sum) for the backward.
//   attention_delta  delta[i] = dO[i] . O[i]  (one invocation per row)
//   attention_dkdv   one invocation per KEY row, walking query tiles that can see it
//   attention_dq     one invocation per QUERY row, walking key tiles it can see
// The backward recomputes p = exp(scale * q.k - lse) in both passes instead of storing it.
// D_MAX is the head-dimension capacity (the host substitutes the value it needs).

const D_MAX: u32 = 128u;
const BR: u32 = 64u;  // rows (queries or keys) per workgroup, one per invocation
const BC: u32 = 16u;  // rows per staged tile

struct Params {
  batch: u32, seq: u32, heads: u32, head_dim: u32,
  window: u32, accumulate: u32, _pad0: u32, _pad1: u32,
  scale: f32, _pad2: f32, _pad3: f32, _pad4: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> o: array<f32>;       // forward output (backward only)
@group(0) @binding(5) var<storage, read> d_o: array<f32>;     // gradient of the output
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;  // forward out / dq / dk
@group(0) @binding(9) var<storage, read_write> out2: array<f32>; // dv

var<workgroup> tile_x: array<f32, BC * D_MAX>;
var<workgroup> tile_y: array<f32, BC * D_MAX>;

// Element offset of row t of head h in batch b.
fn row_base(b: u32, t: u32, h: u32) -> u32 {
  return ((b * p.seq + t) * p.heads + h) * p.head_dim;
}

fn visible(i: u32, j: u32) -> bool {
  return j <= i && i - j <= p.window;
}

// Stage rows [r0, r0 + BC) of two tensors of head (b, h) into the tiles (0 past the end).
fn stage_k_v(b: u32, h: u32, r0: u32, lid: u32) {
  for (var e = lid; e < BC * p.head_dim; e += BR) {
    let j = e / p.head_dim;
    let d = e % p.head_dim;
    var xv = 0.0;
    var yv = 0.0;
    if (r0 + j < p.seq) {
      let at = row_base(b, r0 + j, h) + d;
      xv = k[at];
      yv = v[at];
    }
    tile_x[j * D_MAX + d] = xv;
    tile_y[j * D_MAX + d] = yv;
  }
}

fn stage_q_do(b: u32, h: u32, r0: u32, lid: u32) {
  for (var e = lid; e < BC * p.head_dim; e += BR) {
    let j = e / p.head_dim;
    let d = e % p.head_dim;
    var xv = 0.0;
    var yv = 0.0;
    if (r0 + j < p.seq) {
      let at = row_base(b, r0 + j, h) + d;
      xv = q[at];
      yv = d_o[at];
    }
    tile_x[j * D_MAX + d] = xv;
    tile_y[j * D_MAX + d] = yv;
  }
}

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let q0 = wid.x * BR;
  let i = q0 + lid;
  let live = i < p.seq;
  let base = row_base(b, min(i, p.seq - 1u), h);
  var qi: array<f32, D_MAX>;
  var acc: array<f32, D_MAX>;
  for (var d = 0u; d < p.head_dim; d++) {
    qi[d] = q[base + d] * p.scale;
    acc[d] = 0.0;
  }
  var m = -3.0e38;
  var l = 0.0;
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + BR, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
    stage_k_v(b, h, kt, lid);
    workgroupBarrier();
    if (live) {
      var s: array<f32, BC>;
      var tile_max = -3.0e38;
      for (var j = 0u; j < BC; j++) {
        s[j] = -3.0e38;
        if (visible(i, kt + j)) {
          var qk = 0.0;
          for (var d = 0u; d < p.head_dim; d++) { qk += qi[d] * tile_x[j * D_MAX + d]; }
          s[j] = qk;
          tile_max = max(tile_max, qk);
        }
      }
      if (tile_max > -1.0e38) {
        let m_new = max(m, tile_max);
        let corr = exp(m - m_new);
        l *= corr;
        for (var d = 0u; d < p.head_dim; d++) { acc[d] *= corr; }
        for (var j = 0u; j < BC; j++) {
          if (s[j] > -1.0e38) {
            let pj = exp(s[j] - m_new);
            l += pj;
            for (var d = 0u; d < p.head_dim; d++) { acc[d] += pj * tile_y[j * D_MAX + d]; }
          }
        }
        m = m_new;
      }
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  let inv = 1.0 / l;
  for (var d = 0u; d < p.head_dim; d++) { out[base + d] = acc[d] * inv; }
  lse[(b * p.heads + h) * p.seq + i] = m + log(l);
}

// delta[b, h, i] = sum_d dO * O; grid folds (batch*heads*seq) / 64 into 2-D.
@compute @workgroup_size(64)
fn attention_delta(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * BR + lid;  // (b, h, i) flattened
  if (idx >= p.batch * p.heads * p.seq) { return; }
  let i = idx % p.seq;
  let bh = idx / p.seq;
  let base = row_base(bh / p.heads, i, bh % p.heads);
  var sum = 0.0;
  for (var d = 0u; d < p.head_dim; d++) { sum += d_o[base + d] * o[base + d]; }
  delta[idx] = sum;
}

// dK, dV for 64 key rows per workgroup. out = dk, out2 = dv.
@compute @workgroup_size(64)
fn attention_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let j0 = wid.x * BR;
  let j = j0 + lid;
  let live = j < p.seq;
  let base = row_base(b, min(j, p.seq - 1u), h);
  var kj: array<f32, D_MAX>;
  var vj: array<f32, D_MAX>;
  var dk: array<f32, D_MAX>;
  var dv: array<f32, D_MAX>;
  for (var d = 0u; d < p.head_dim; d++) {
    kj[d] = k[base + d];
    vj[d] = v[base + d];
    dk[d] = 0.0;
    dv[d] = 0.0;
  }
  let lse_base = (b * p.heads + h) * p.seq;
  let j_last = min(j0 + BR, p.seq) - 1u;
  let q_end = min(p.seq, j_last + p.window + 1u);
  for (var qt = j0; qt < q_end; qt += BC) {
    stage_q_do(b, h, qt, lid);
    workgroupBarrier();
    if (live) {
      for (var r = 0u; r < BC; r++) {
        let i = qt + r;
        if (i >= p.seq || !visible(i, j)) { continue; }
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < p.head_dim; d++) {
          s += tile_x[r * D_MAX + d] * kj[d];
          dp += tile_y[r * D_MAX + d] * vj[d];
        }
        let pij = exp(s * p.scale - lse[lse_base + i]);
        let ds = pij * (dp - delta[lse_base + i]) * p.scale;
        for (var d = 0u; d < p.head_dim; d++) {
          dv[d] += pij * tile_y[r * D_MAX + d];
          dk[d] += ds * tile_x[r * D_MAX + d];
        }
      }
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  for (var d = 0u; d < p.head_dim; d++) {
    if (p.accumulate != 0u) {
      out[base + d] += dk[d];
      out2[base + d] += dv[d];
    } else {
      out[base + d] = dk[d];
      out2[base + d] = dv[d];
    }
  }
}

// dQ for 64 query rows per workgroup. out = dq.
@compute @workgroup_size(64)
fn attention_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let q0 = wid.x * BR;
  let i = q0 + lid;
  let live = i < p.seq;
  let base = row_base(b, min(i, p.seq - 1u), h);
  var qi: array<f32, D_MAX>;
  var doi: array<f32, D_MAX>;
  var dq: array<f32, D_MAX>;
  for (var d = 0u; d < p.head_dim; d++) {
    qi[d] = q[base + d];
    doi[d] = d_o[base + d];
    dq[d] = 0.0;
  }
  let idx = (b * p.heads + h) * p.seq + min(i, p.seq - 1u);
  let lse_i = lse[idx];
  let delta_i = delta[idx];
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + BR, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
    stage_k_v(b, h, kt, lid);
    workgroupBarrier();
    if (live) {
      for (var r = 0u; r < BC; r++) {
        let j = kt + r;
        if (!visible(i, j)) { continue; }
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < p.head_dim; d++) {
          s += qi[d] * tile_x[r * D_MAX + d];
          dp += doi[d] * tile_y[r * D_MAX + d];
        }
        let pij = exp(s * p.scale - lse_i);
        let ds = pij * (dp - delta_i) * p.scale;
        for (var d = 0u; d < p.head_dim; d++) { dq[d] += ds * tile_x[r * D_MAX + d]; }
      }
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  for (var d = 0u; d < p.head_dim; d++) {
    if (p.accumulate != 0u) { out[base + d] += dq[d]; } else { out[base + d] = dq[d]; }
  }
}
