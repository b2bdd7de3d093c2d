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
const RI: u32 = 1u;         // query rows per invocation (they share each staged K/V load)
const RIK: u32 = 1u;        // key rows per invocation (they share each staged Q/dO load)
const PART: u32 = 1024u;    // partial dots per buffer: BC * max(RQ * S, RK * SK)
const NP: u32 = D_MAX / PACK;  // packs per staged row
const RQL: u32 = RQ / RI;      // query rows one pass of the workgroup's invocations covers
const RKL: u32 = RK / RIK;     // key rows likewise
const WGQ: u32 = RQL * S;      // invocations per workgroup (query kernels)
const WGK: u32 = RKL * SK;     // invocations per workgroup (dkdv)
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
  let s = lid % S;
  // Invocation (row0, s) owns rows row0, row0 + RQ/RI, ...: one staged K/V load feeds RI rows.
  let row0 = lid / S;
  var qi: array<V, RI * DQ>;
  var acc: array<V, RI * DQ>;
  var m: array<f32, RI>;
  var l: array<f32, RI>;
  for (var ri = 0u; ri < RI; ri++) {
    let base = row_base(b, min(q0 + row0 + ri * RQL, p.seq - 1u), h);
    for (var e = 0u; e < DQ; e++) {
      let c = e * S + s;
      qi[ri * DQ + e] = select(V(0.0), q[base + min(c, hp - 1u)] * p.scale, c < hp);
      acc[ri * DQ + e] = V(0.0);
    }
    m[ri] = -3.0e38;
    l[ri] = 0.0;
  }
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + RQ, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
    stage_k_v(b, h, kt, lid);
    workgroupBarrier();
    for (var j = 0u; j < BC; j++) {
      var qk: array<f32, RI>;
      for (var ri = 0u; ri < RI; ri++) { qk[ri] = 0.0; }
      for (var e = 0u; e < DQ; e++) {
        let kv = tile_x[j * NP + e * S + s];
        for (var ri = 0u; ri < RI; ri++) { qk[ri] += dotp(qi[ri * DQ + e], kv); }
      }
      for (var ri = 0u; ri < RI; ri++) { part[((row0 + ri * RQL) * BC + j) * S + s] = qk[ri]; }
    }
    workgroupBarrier();
    // Online softmax per row: the tile's probabilities (0 where masked), rescaled state.
    var pr: array<f32, RI * BC>;
    for (var ri = 0u; ri < RI; ri++) {
      let r = row0 + ri * RQL;
      let i = q0 + r;
      var sc: array<f32, BC>;
      var tile_max = -3.0e38;
      for (var j = 0u; j < BC; j++) {
        var total = 0.0;
        for (var t = 0u; t < S; t++) { total += part[(r * BC + j) * S + t]; }
        sc[j] = select(-3.0e38, total, i < p.seq && visible(i, kt + j));
        tile_max = max(tile_max, sc[j]);
      }
      let m_new = max(m[ri], tile_max);
      let corr = exp(m[ri] - m_new);
      l[ri] *= corr;
      for (var e = 0u; e < DQ; e++) { acc[ri * DQ + e] *= corr; }
      for (var j = 0u; j < BC; j++) {
        let pj = select(0.0, exp(sc[j] - m_new), sc[j] > -1.0e38);
        l[ri] += pj;
        pr[ri * BC + j] = pj;
      }
      m[ri] = m_new;
    }
    for (var j = 0u; j < BC; j++) {
      for (var e = 0u; e < DQ; e++) {
        let vv = tile_y[j * NP + e * S + s];
        for (var ri = 0u; ri < RI; ri++) { acc[ri * DQ + e] += pr[ri * BC + j] * vv; }
      }
    }
    workgroupBarrier();
  }
  for (var ri = 0u; ri < RI; ri++) {
    let i = q0 + row0 + ri * RQL;
    if (i < p.seq) {
      let base = row_base(b, i, h);
      let inv = 1.0 / l[ri];
      for (var e = 0u; e < DQ; e++) {
        let c = e * S + s;
        if (c < hp) { out[base + c] = acc[ri * DQ + e] * inv; }
      }
      if (s == 0u) { lse[(b * p.heads + h) * p.seq + i] = m[ri] + log(l[ri]); }
    }
  }
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

// dK, dV for RK key rows per workgroup, SK invocations per key, RIK keys per invocation.
// out = dk, out2 = dv.
@compute @workgroup_size(WGK)
fn attention_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = head_packs();
  let j0 = wid.x * RK;
  let s = lid % SK;
  let row0 = lid / SK;
  var kj: array<V, RIK * DK>;
  var vj: array<V, RIK * DK>;
  var dk: array<V, RIK * DK>;
  var dv: array<V, RIK * DK>;
  for (var ri = 0u; ri < RIK; ri++) {
    let base = row_base(b, min(j0 + row0 + ri * RKL, p.seq - 1u), h);
    for (var e = 0u; e < DK; e++) {
      let c = min(e * SK + s, hp - 1u);
      let inside = e * SK + s < hp;
      kj[ri * DK + e] = select(V(0.0), k[base + c], inside);
      vj[ri * DK + e] = select(V(0.0), v[base + c], inside);
      dk[ri * DK + e] = V(0.0);
      dv[ri * DK + e] = V(0.0);
    }
  }
  let lse_base = (b * p.heads + h) * p.seq;
  let j_last = min(j0 + RK, p.seq) - 1u;
  let q_end = min(p.seq, j_last + p.window + 1u);
  for (var qt = j0; qt < q_end; qt += BC) {
    stage_q_do(b, h, qt, lid);
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      var qk: array<f32, RIK>;
      var dov: array<f32, RIK>;
      for (var ri = 0u; ri < RIK; ri++) {
        qk[ri] = 0.0;
        dov[ri] = 0.0;
      }
      for (var e = 0u; e < DK; e++) {
        let qv = tile_x[t * NP + e * SK + s];
        let gv = tile_y[t * NP + e * SK + s];
        for (var ri = 0u; ri < RIK; ri++) {
          qk[ri] += dotp(qv, kj[ri * DK + e]);
          dov[ri] += dotp(gv, vj[ri * DK + e]);
        }
      }
      for (var ri = 0u; ri < RIK; ri++) {
        part[((row0 + ri * RKL) * BC + t) * SK + s] = qk[ri];
        part2[((row0 + ri * RKL) * BC + t) * SK + s] = dov[ri];
      }
    }
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      let i = qt + t;
      let i_in = min(i, p.seq - 1u);
      let lse_i = lse[lse_base + i_in];
      let delta_i = delta[lse_base + i_in];
      // p and dS of query i with each of this invocation's keys (0 where i cannot see it).
      var pij: array<f32, RIK>;
      var ds: array<f32, RIK>;
      for (var ri = 0u; ri < RIK; ri++) {
        let r = row0 + ri * RKL;
        var qk = 0.0;
        var dp = 0.0;
        for (var u = 0u; u < SK; u++) {
          qk += part[(r * BC + t) * SK + u];
          dp += part2[(r * BC + t) * SK + u];
        }
        let j = j0 + r;
        let seen = j < p.seq && i < p.seq && visible(i, j);
        pij[ri] = select(0.0, exp(qk * p.scale - lse_i), seen);
        ds[ri] = pij[ri] * (dp - delta_i) * p.scale;
      }
      for (var e = 0u; e < DK; e++) {
        let gv = tile_y[t * NP + e * SK + s];
        let qv = tile_x[t * NP + e * SK + s];
        for (var ri = 0u; ri < RIK; ri++) {
          dv[ri * DK + e] += pij[ri] * gv;
          dk[ri * DK + e] += ds[ri] * qv;
        }
      }
    }
    workgroupBarrier();
  }
  for (var ri = 0u; ri < RIK; ri++) {
    let j = j0 + row0 + ri * RKL;
    if (j < p.seq) {
      let base = row_base(b, j, h);
      for (var e = 0u; e < DK; e++) {
        let c = e * SK + s;
        if (c < hp) {
          if (p.accumulate != 0u) {
            out[base + c] += dk[ri * DK + e];
            out2[base + c] += dv[ri * DK + e];
          } else {
            out[base + c] = dk[ri * DK + e];
            out2[base + c] = dv[ri * DK + e];
          }
        }
      }
    }
  }
}

// dQ for RQ query rows per workgroup, S invocations per query, RI queries per invocation.
// out = dq.
@compute @workgroup_size(WGQ)
fn attention_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = head_packs();
  let q0 = wid.x * RQ;
  let s = lid % S;
  let row0 = lid / S;
  var qi: array<V, RI * DQ>;
  var doi: array<V, RI * DQ>;
  var dq: array<V, RI * DQ>;
  var lse_i: array<f32, RI>;
  var delta_i: array<f32, RI>;
  for (var ri = 0u; ri < RI; ri++) {
    let i_in = min(q0 + row0 + ri * RQL, p.seq - 1u);
    let base = row_base(b, i_in, h);
    for (var e = 0u; e < DQ; e++) {
      let c = min(e * S + s, hp - 1u);
      let inside = e * S + s < hp;
      qi[ri * DQ + e] = select(V(0.0), q[base + c], inside);
      doi[ri * DQ + e] = select(V(0.0), d_o[base + c], inside);
      dq[ri * DQ + e] = V(0.0);
    }
    let idx = (b * p.heads + h) * p.seq + i_in;
    lse_i[ri] = lse[idx];
    delta_i[ri] = delta[idx];
  }
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + RQ, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
    stage_k_v(b, h, kt, lid);
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      var qk: array<f32, RI>;
      var dov: array<f32, RI>;
      for (var ri = 0u; ri < RI; ri++) {
        qk[ri] = 0.0;
        dov[ri] = 0.0;
      }
      for (var e = 0u; e < DQ; e++) {
        let kv = tile_x[t * NP + e * S + s];
        let vv = tile_y[t * NP + e * S + s];
        for (var ri = 0u; ri < RI; ri++) {
          qk[ri] += dotp(qi[ri * DQ + e], kv);
          dov[ri] += dotp(doi[ri * DQ + e], vv);
        }
      }
      for (var ri = 0u; ri < RI; ri++) {
        part[((row0 + ri * RQL) * BC + t) * S + s] = qk[ri];
        part2[((row0 + ri * RQL) * BC + t) * S + s] = dov[ri];
      }
    }
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      var ds: array<f32, RI>;
      for (var ri = 0u; ri < RI; ri++) {
        let r = row0 + ri * RQL;
        let i = q0 + r;
        var qk = 0.0;
        var dp = 0.0;
        for (var u = 0u; u < S; u++) {
          qk += part[(r * BC + t) * S + u];
          dp += part2[(r * BC + t) * S + u];
        }
        let pij = exp(qk * p.scale - lse_i[ri]);
        ds[ri] = select(0.0, pij * (dp - delta_i[ri]) * p.scale, i < p.seq && visible(i, kt + t));
      }
      for (var e = 0u; e < DQ; e++) {
        let kv = tile_x[t * NP + e * S + s];
        for (var ri = 0u; ri < RI; ri++) { dq[ri * DQ + e] += ds[ri] * kv; }
      }
    }
    workgroupBarrier();
  }
  for (var ri = 0u; ri < RI; ri++) {
    let i = q0 + row0 + ri * RQL;
    if (i < p.seq) {
      let base = row_base(b, i, h);
      for (var e = 0u; e < DQ; e++) {
        let c = e * S + s;
        if (c < hp) {
          if (p.accumulate != 0u) { out[base + c] += dq[ri * DQ + e]; } else { out[base + c] = dq[ri * DQ + e]; }
        }
      }
    }
  }
}
