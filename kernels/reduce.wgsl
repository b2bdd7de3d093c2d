// reduce_to: sums over broadcast dimensions (the backward of broadcasting, and full sums/means).
// Layout: rank-4 input `shape`, `out_shape` with 1 on the reduced dims; out[o] (+)= alpha * the
// sum of the red_count input elements that map to output o.
// Grid: workgroups of 256 invocations in segments of LANES = 2^lanes_log2 (4..256) invocations,
// one segment per slot; the backend sizes LANES so each lane adds at most 8 elements of a
// short reduction (a gate's head dimension: 8 lanes, 32 outputs a workgroup) and uses 256
// lanes for long ones. For long reductions into few outputs, `parts` > 1 splits each output
// over `parts` slots that write partial sums (out[o * parts + part]); a second reduce_to over
// the partials finishes, so a full sum of millions of elements is spread over many workgroups.
// A segment's partials are summed with one barrier (each lane reads its segment's partials).
// `contiguous` != 0 when the reduced dims are the trailing ones: output o then sums the run
// x[o * red_count ..], read without unravelling each index.

struct Params {
  shape: vec4<u32>,      // input shape
  out_shape: vec4<u32>,  // output shape (dims equal to shape's or 1)
  out_count: u32, red_count: u32, accumulate: u32, parts: u32,
  alpha: f32, lanes_log2: u32, contiguous: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<vec4<f32>, 64>;

fn unravel(i: u32, s: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(i / (s.y * s.z * s.w), (i / (s.z * s.w)) % s.y, (i / s.w) % s.z, i % s.w);
}

@compute @workgroup_size(256)
fn reduce_to(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let lanes = 1u << p.lanes_log2;
  let lane = lid & (lanes - 1u);
  let slot = (wid.x + wid.y * nwg.x) * (WG >> p.lanes_log2) + (lid >> p.lanes_log2);
  let o = slot / p.parts;
  let part = slot % p.parts;
  // Every invocation of the workgroup takes part in the barrier, so no early return.
  let live = o < p.out_count;
  // Reduced shape: the input's dims where the output has 1 (others collapse to 1).
  let keep = vec4<u32>(p.out_shape != vec4<u32>(1u)) | vec4<u32>(p.shape == vec4<u32>(1u));
  let red_shape = select(p.shape, vec4<u32>(1u), keep == vec4<u32>(1u));
  let oc = unravel(min(o, p.out_count - 1u), p.out_shape);
  let strides = vec4<u32>(p.shape.y * p.shape.z * p.shape.w, p.shape.z * p.shape.w, p.shape.w, 1u);
  var sum = 0.0;
  if (live) {
    let step = lanes * p.parts;
    if (p.contiguous != 0u) {
      let base = o * p.red_count;
      for (var r = part * lanes + lane; r < p.red_count; r += step) { sum += x[base + r]; }
    } else {
      for (var r = part * lanes + lane; r < p.red_count; r += step) {
        // output coordinate on kept dims, reduced coordinate on the others
        let c = select(unravel(r, red_shape), oc, keep == vec4<u32>(1u));
        sum += x[dot(c, strides)];
      }
    }
  }
  partial[lid / 4u][lid % 4u] = sum;
  workgroupBarrier();
  if (!live || lane != 0u) { return; }
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < lanes / 4u; i++) { s += partial[lid / 4u + i]; }
  let v = p.alpha * (s.x + s.y + s.z + s.w);
  if (p.accumulate != 0u) { out[slot] += v; } else { out[slot] = v; }
}
