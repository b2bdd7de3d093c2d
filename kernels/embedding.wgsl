// Embedding lookup and its gradient. Layout: table / gradTable (vocab, dim), out / gradOut
// (tokens, dim) row-major, read in packs (vec4 when dim % 4 == 0, else scalars: kernels.ts swaps
// the prelude). WGSL has no float atomics, so the backward is a counting sort of the token ids
// (integer atomics only), then a segment of lanes per vocabulary row summing its gradOut rows:
//   count    counts[id] += 1                      (one invocation per token)
//   scan     offsets = exclusive prefix sum       (one workgroup; vocab/256 per invocation)
//   scatter  order[offsets[id] + k] = t           (atomic cursor per id)
//   segsum   gradTable[v, :] (+)= sum over the segment of v of gradOut[t, :]
// Rows that no token uses get 0 (or are left alone with accumulate). count, scan and scatter do
// not touch packs; the backend runs them from the vec4 module for every dim.

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
  tokens: u32, vocab: u32, packs: u32, accumulate: u32,  // packs per row
  lanes_log2: u32, _pad0: u32, _pad1: u32, _pad2: u32,   // segment_sum: lanes per vocab row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> src: array<V>;        // table / gradOut
@group(0) @binding(3) var<storage, read_write> dst: array<V>;  // out / gradTable
@group(0) @binding(4) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> offsets: array<u32>;  // vocab + 1 entries
@group(0) @binding(6) var<storage, read_write> order: array<u32>;

const WG: u32 = 256u;

// out[t, :] = table[ids[t], :]; one invocation per output pack.
@compute @workgroup_size(256)
fn embedding(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.tokens * p.packs) { return; }
  let t = i / p.packs;
  let d = i % p.packs;
  dst[i] = src[u32(ids[t]) * p.packs + d];
}

@compute @workgroup_size(256)
fn count(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= p.tokens) { return; }
  atomicAdd(&counts[u32(ids[t])], 1u);
}

var<workgroup> chunk_sums: array<u32, 256>;

// Exclusive prefix sum of counts into offsets (and counts reset to 0 for use as cursors).
@compute @workgroup_size(256)
fn scan(@builtin(local_invocation_index) lid: u32) {
  let per = (p.vocab + WG - 1u) / WG;
  let start = lid * per;
  let end = min(start + per, p.vocab);
  var sum = 0u;
  for (var v = start; v < end; v++) { sum += atomicLoad(&counts[v]); }
  chunk_sums[lid] = sum;
  workgroupBarrier();
  // Hillis-Steele inclusive scan over the 256 chunk sums.
  for (var s = 1u; s < WG; s <<= 1u) {
    var add = 0u;
    if (lid >= s) { add = chunk_sums[lid - s]; }
    workgroupBarrier();
    chunk_sums[lid] += add;
    workgroupBarrier();
  }
  var running = chunk_sums[lid] - sum;
  for (var v = start; v < end; v++) {
    offsets[v] = running;
    running += atomicLoad(&counts[v]);
    atomicStore(&counts[v], 0u);
  }
  if (lid == WG - 1u) { offsets[p.vocab] = chunk_sums[WG - 1u]; }
}

@compute @workgroup_size(256)
fn scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= p.tokens) { return; }
  let id = u32(ids[t]);
  let k = atomicAdd(&counts[id], 1u);
  order[offsets[id] + k] = t;
}

// A segment of 2^lanes_log2 lanes per vocabulary row (sized to the row's packs, so short rows
// share a workgroup), lanes across the row's packs.
@compute @workgroup_size(256)
fn segment_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let lanes = 1u << p.lanes_log2;
  let v = (wid.x + wid.y * nwg.x) * (WG >> p.lanes_log2) + (lid >> p.lanes_log2);
  if (v >= p.vocab) { return; }
  let begin = offsets[v];
  let end = offsets[v + 1u];
  for (var d = lid & (lanes - 1u); d < p.packs; d += lanes) {
    var sum = V(0.0);
    for (var s = begin; s < end; s++) { sum += src[order[s] * p.packs + d]; }
    let at = v * p.packs + d;
    if (p.accumulate != 0u) { dst[at] += sum; } else { dst[at] = sum; }
  }
}
