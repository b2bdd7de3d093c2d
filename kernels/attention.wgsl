// Flash-style causal sliding-window attention, forward and backward, without ever forming the
// (T x T) score matrix. Query i sees key j iff j <= i && i - j <= window. q, k, v, dq, dk, dv:
// (batch, seq, heads, D) with row stride heads*D; lse, delta: (batch, heads, seq).
//
// This file is a template: src/engine/webgpu/attention_variants.ts generates each variant from
// it by replacing the pack prelude (scalar f32, or vec4 loads when D % 4 == 0) and the tile
// constants below. As written it is the untuned default (scalar, the constants shown).
//
// Each row (a query, or a key in attention_dkdv) is owned by S invocations that split its head
// dimension interleaved by packs (invocation s holds packs s, s+S, s+2S, ...), so per-invocation
// state is D_MAX/S floats and stays in registers on a real GPU, and the S invocations of a row
// read neighbouring words of the staged tiles. Dot products are summed across the S invocations
// through workgroup memory (`part`). Key/value (or query/dO) rows are staged BC at a time.
//   attention        grid (ceil(seq/RQ), batch*heads); online softmax; saves lse = max + log(sum)
//   attention_delta  delta[i] = dO[i] . O[i]  (one invocation per row)
//   attention_dkdv   grid (ceil(seq/RK), batch*heads); per KEY row, walking the query tiles
//                    that can see it: dV += p dO, dK += scale * p (dP - delta) q
//   attention_dq     grid (ceil(seq/RQ), batch*heads); per QUERY row, walking the key tiles
//                    it can see: dQ += scale * p (dP - delta) k
// Tiles no row of the block can see are never staged: the query kernels walk keys from
// q0 - window to the block's last row, dkdv walks queries from j0 to the last key + window.
// The backward recomputes p = exp(scale * q.k - lse) in both passes instead of storing it.

// ---- pack prelude (generated) ----
alias V = f32;
const PACK: u32 = 1u;
fn dotp(a: V, b: V) -> f32 { return a * b; }
// ---- end pack prelude ----

const D_MAX: u32 = 128u;    // head-dimension capacity in floats (a multiple of PACK*S, PACK*SK)
const BC: u32 = 8u;         // rows per staged tile
const S: u32 = 4u;          // invocations per query row
const RQ: u32 = 32u;        // query rows per workgroup
const SK: u32 = 8u;         // invocations per key row
const RK: u32 = 16u;        // key rows per workgroup
const PART: u32 = 1024u;    // partial dots per buffer: BC * max(RQ * S, RK * SK)
const NP: u32 = D_MAX / PACK;  // packs per staged row
const WGQ: u32 = RQ * S;       // invocations per workgroup (query kernels)
const WGK: u32 = RK * SK;      // invocations per workgroup (dkdv)
const DQ: u32 = NP / S;        // packs per invocation (query kernels)
const DK: u32 = NP / SK;       // packs per invocation (dkdv)
const WG_DELTA: u32 = 128u;

struct Params {
  batch: u32, seq: u32, heads: u32, head_dim: u32,
  window: u32, accumulate: u32, _pad0: u32, _pad1: u32,
  scale: f32, _pad2: f32, _pad3: f32, _pad4: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<V>;
@group(0) @binding(2) var<storage, read> k: array<V>;
@group(0) @binding(3) var<storage, read> v: array<V>;
@group(0) @binding(4) var<storage, read> o: array<V>;       // forward output (backward only)
@group(0) @binding(5) var<storage, read> d_o: array<V>;     // gradient of the output
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<V>;  // forward out / dq / dk
@group(0) @binding(9) var<storage, read_write> out2: array<V>; // dv

var<workgroup> tile_x: array<V, BC * NP>;  // staged K (query kernels) or Q (dkdv)
var<workgroup> tile_y: array<V, BC * NP>;  // staged V (query kernels) or dO (dkdv)
var<workgroup> part: array<f32, PART>;     // partial dots [row][BC][S or SK]
var<workgroup> part2: array<f32, PART>;    // second partial dots (backward)

// Packs per row of the tensors (the host only runs vec4 packs when head_dim % 4 == 0).
fn head_packs() -> u32 {
  return p.head_dim / PACK;
}

// Pack offset of row t of head h in batch b.
fn row_base(b: u32, t: u32, h: u32) -> u32 {
  return ((b * p.seq + t) * p.heads + h) * head_packs();
}

fn visible(i: u32, j: u32) -> bool {
  return j <= i && i - j <= p.window;
}

// Stage rows [r0, r0 + BC) of head (b, h) of two tensors into the tiles, zero-padded past the
// sequence end and past head_dim (so register loops can run to the constant capacity).
fn stage_k_v(b: u32, h: u32, r0: u32, lid: u32) {
  let hp = head_packs();
  for (var e = lid; e < BC * NP; e += WGQ) {
    let j = e / NP;
    let c = e % NP;
    var xv = V(0.0);
    var yv = V(0.0);
    if (r0 + j < p.seq && c < hp) {
      let at = row_base(b, r0 + j, h) + c;
      xv = k[at];
      yv = v[at];
    }
    tile_x[e] = xv;
    tile_y[e] = yv;
  }
}

fn stage_q_do(b: u32, h: u32, r0: u32, lid: u32) {
  let hp = head_packs();
  for (var e = lid; e < BC * NP; e += WGK) {
    let j = e / NP;
    let c = e % NP;
    var xv = V(0.0);
    var yv = V(0.0);
    if (r0 + j < p.seq && c < hp) {
      let at = row_base(b, r0 + j, h) + c;
      xv = q[at];
      yv = d_o[at];
    }
    tile_x[e] = xv;
    tile_y[e] = yv;
  }
}

@compute @workgroup_size(WGQ)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = head_packs();
  let q0 = wid.x * RQ;
  let r = lid / S;
  let s = lid % S;
  let i = q0 + r;
  let live = i < p.seq;
  let base = row_base(b, min(i, p.seq - 1u), h);
  var qi: array<V, DQ>;
  var acc: array<V, DQ>;
  for (var e = 0u; e < DQ; e++) {
    let c = e * S + s;
    qi[e] = select(V(0.0), q[base + min(c, hp - 1u)] * p.scale, c < hp);
    acc[e] = V(0.0);
  }
  var m = -3.0e38;
  var l = 0.0;
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + RQ, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
    stage_k_v(b, h, kt, lid);
    workgroupBarrier();
    for (var j = 0u; j < BC; j++) {
      var qk = 0.0;
      for (var e = 0u; e < DQ; e++) { qk += dotp(qi[e], tile_x[j * NP + e * S + s]); }
      part[(r * BC + j) * S + s] = qk;
    }
    workgroupBarrier();
    var sc: array<f32, BC>;
    var tile_max = -3.0e38;
    for (var j = 0u; j < BC; j++) {
      var total = 0.0;
      for (var t = 0u; t < S; t++) { total += part[(r * BC + j) * S + t]; }
      sc[j] = select(-3.0e38, total, live && visible(i, kt + j));
      tile_max = max(tile_max, sc[j]);
    }
    if (tile_max > -1.0e38) {
      let m_new = max(m, tile_max);
      let corr = exp(m - m_new);
      l *= corr;
      for (var e = 0u; e < DQ; e++) { acc[e] *= corr; }
      for (var j = 0u; j < BC; j++) {
        if (sc[j] > -1.0e38) {
          let pj = exp(sc[j] - m_new);
          l += pj;
          for (var e = 0u; e < DQ; e++) { acc[e] += pj * tile_y[j * NP + e * S + s]; }
        }
      }
      m = m_new;
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  let inv = 1.0 / l;
  for (var e = 0u; e < DQ; e++) {
    let c = e * S + s;
    if (c < hp) { out[base + c] = acc[e] * inv; }
  }
  if (s == 0u) { lse[(b * p.heads + h) * p.seq + i] = m + log(l); }
}

// delta[b, h, i] = sum_d dO * O; one invocation per row, grid folded into 2-D.
@compute @workgroup_size(WG_DELTA)
fn attention_delta(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG_DELTA + lid;  // (b, h, i) flattened
  if (idx >= p.batch * p.heads * p.seq) { return; }
  let i = idx % p.seq;
  let bh = idx / p.seq;
  let base = row_base(bh / p.heads, i, bh % p.heads);
  var sum = 0.0;
  for (var c = 0u; c < head_packs(); c++) { sum += dotp(d_o[base + c], o[base + c]); }
  delta[idx] = sum;
}

// dK, dV for RK key rows per workgroup, SK invocations per key. out = dk, out2 = dv.
@compute @workgroup_size(WGK)
fn attention_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = head_packs();
  let j0 = wid.x * RK;
  let r = lid / SK;
  let s = lid % SK;
  let j = j0 + r;
  let live = j < p.seq;
  let base = row_base(b, min(j, p.seq - 1u), h);
  var kj: array<V, DK>;
  var vj: array<V, DK>;
  var dk: array<V, DK>;
  var dv: array<V, DK>;
  for (var e = 0u; e < DK; e++) {
    let c = min(e * SK + s, hp - 1u);
    let inside = e * SK + s < hp;
    kj[e] = select(V(0.0), k[base + c], inside);
    vj[e] = select(V(0.0), v[base + c], inside);
    dk[e] = V(0.0);
    dv[e] = V(0.0);
  }
  let lse_base = (b * p.heads + h) * p.seq;
  let j_last = min(j0 + RK, p.seq) - 1u;
  let q_end = min(p.seq, j_last + p.window + 1u);
  for (var qt = j0; qt < q_end; qt += BC) {
    stage_q_do(b, h, qt, lid);
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      var qk = 0.0;
      var dov = 0.0;
      for (var e = 0u; e < DK; e++) {
        qk += dotp(tile_x[t * NP + e * SK + s], kj[e]);
        dov += dotp(tile_y[t * NP + e * SK + s], vj[e]);
      }
      part[(r * BC + t) * SK + s] = qk;
      part2[(r * BC + t) * SK + s] = dov;
    }
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      let i = qt + t;
      // No `continue`: constant-trip loops unroll and keep dk/dv in registers.
      if (live && i < p.seq && visible(i, j)) {
        var qk = 0.0;
        var dp = 0.0;
        for (var u = 0u; u < SK; u++) {
          qk += part[(r * BC + t) * SK + u];
          dp += part2[(r * BC + t) * SK + u];
        }
        let pij = exp(qk * p.scale - lse[lse_base + i]);
        let ds = pij * (dp - delta[lse_base + i]) * p.scale;
        for (var e = 0u; e < DK; e++) {
          dv[e] += pij * tile_y[t * NP + e * SK + s];
          dk[e] += ds * tile_x[t * NP + e * SK + s];
        }
      }
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  for (var e = 0u; e < DK; e++) {
    let c = e * SK + s;
    if (c < hp) {
      if (p.accumulate != 0u) {
        out[base + c] += dk[e];
        out2[base + c] += dv[e];
      } else {
        out[base + c] = dk[e];
        out2[base + c] = dv[e];
      }
    }
  }
}

// dQ for RQ query rows per workgroup, S invocations per query. out = dq.
@compute @workgroup_size(WGQ)
fn attention_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = head_packs();
  let q0 = wid.x * RQ;
  let r = lid / S;
  let s = lid % S;
  let i = q0 + r;
  let live = i < p.seq;
  let base = row_base(b, min(i, p.seq - 1u), h);
  var qi: array<V, DQ>;
  var doi: array<V, DQ>;
  var dq: array<V, DQ>;
  for (var e = 0u; e < DQ; e++) {
    let c = min(e * S + s, hp - 1u);
    let inside = e * S + s < hp;
    qi[e] = select(V(0.0), q[base + c], inside);
    doi[e] = select(V(0.0), d_o[base + c], inside);
    dq[e] = V(0.0);
  }
  let idx = (b * p.heads + h) * p.seq + min(i, p.seq - 1u);
  let lse_i = lse[idx];
  let delta_i = delta[idx];
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + RQ, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
    stage_k_v(b, h, kt, lid);
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      var qk = 0.0;
      var dov = 0.0;
      for (var e = 0u; e < DQ; e++) {
        qk += dotp(qi[e], tile_x[t * NP + e * S + s]);
        dov += dotp(doi[e], tile_y[t * NP + e * S + s]);
      }
      part[(r * BC + t) * S + s] = qk;
      part2[(r * BC + t) * S + s] = dov;
    }
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      if (live && visible(i, kt + t)) {
        var qk = 0.0;
        var dp = 0.0;
        for (var u = 0u; u < S; u++) {
          qk += part[(r * BC + t) * S + u];
          dp += part2[(r * BC + t) * S + u];
        }
        let pij = exp(qk * p.scale - lse_i);
        let ds = pij * (dp - delta_i) * p.scale;
        for (var e = 0u; e < DQ; e++) { dq[e] += ds * tile_x[t * NP + e * S + s]; }
      }
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  for (var e = 0u; e < DQ; e++) {
    let c = e * S + s;
    if (c < hp) {
      if (p.accumulate != 0u) { out[base + c] += dq[e]; } else { out[base + c] = dq[e]; }
    }
  }
}
