// Embedding lookup and its gradient. WGSL has no float atomics, so the backward is a counting
// sort of the token ids (integer atomics only), then one workgroup per vocabulary row summing
// its segment of gradOut rows:
//   count    counts[id] += 1                      (one invocation per token)
//   scan     offsets = exclusive prefix sum       (one workgroup; vocab/256 per invocation)
//   scatter  order[offsets[id] + k] = t           (atomic cursor per id)
//   segsum   gradTable[v, :] (+)= sum over the segment of v of gradOut[t, :]
// Rows that no token uses get 0 (or are left alone with accumulate).

struct Params {
  tokens: u32, vocab: u32, dim: u32, accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;        // table / gradOut
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;  // out / gradTable
@group(0) @binding(4) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> offsets: array<u32>;  // vocab + 1 entries
@group(0) @binding(6) var<storage, read_write> order: array<u32>;

const WG: u32 = 256u;

// out[t, d] = table[ids[t], d]; one invocation per output element.
@compute @workgroup_size(256)
fn embedding(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.tokens * p.dim) { return; }
  let t = i / p.dim;
  let d = i % p.dim;
  dst[i] = src[u32(ids[t]) * p.dim + d];
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

// One workgroup per vocabulary row; invocations across the row's columns.
@compute @workgroup_size(256)
fn segment_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let v = wid.x + wid.y * nwg.x;
  if (v >= p.vocab) { return; }
  let begin = offsets[v];
  let end = offsets[v + 1u];
  for (var d = lid; d < p.dim; d += WG) {
    var sum = 0.0;
    for (var s = begin; s < end; s++) { sum += src[order[s] * p.dim + d]; }
    let at = v * p.dim + d;
    if (p.accumulate != 0u) { dst[at] += sum; } else { dst[at] = sum; }
  }
}
