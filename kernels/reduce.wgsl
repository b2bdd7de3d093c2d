// Reductions. reduce_to: sum over broadcast dimensions (the backward of broadcasting, and full
// sums/means), one workgroup per output element with a tree reduction in workgroup memory.
// Rank-4 shapes; out_shape has 1 on reduced dims. The reduced index space is walked by the
// workgroup's 256 invocations in turn, so any reduction length works. For long reductions into
// few outputs, `parts` > 1 splits each output's range over `parts` workgroups writing partial
// sums (out[o * parts + part]); a second reduce_to over those partials finishes the job, so a
// full sum of millions of elements is not left to a single workgroup.

struct Params {
  shape: vec4<u32>,      // input shape
  out_shape: vec4<u32>,  // output shape (dims equal to shape's or 1)
  out_count: u32, red_count: u32, accumulate: u32, parts: u32,
  alpha: f32, _pad1: f32, _pad2: f32, _pad3: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, 256>;

fn unravel(i: u32, s: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(i / (s.y * s.z * s.w), (i / (s.z * s.w)) % s.y, (i / s.w) % s.z, i % s.w);
}

@compute @workgroup_size(256)
fn reduce_to(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let wg = wid.x + wid.y * nwg.x;
  let o = wg / p.parts;
  let part = wg % p.parts;
  // Every invocation of the workgroup takes part in the barriers, so no early return.
  let live = o < p.out_count;
  // Reduced shape: the input's dims where the output has 1 (others collapse to 1).
  let keep = vec4<u32>(p.out_shape != vec4<u32>(1u)) | vec4<u32>(p.shape == vec4<u32>(1u));
  let red_shape = select(p.shape, vec4<u32>(1u), keep == vec4<u32>(1u));
  let oc = unravel(min(o, p.out_count - 1u), p.out_shape);
  let strides = vec4<u32>(p.shape.y * p.shape.z * p.shape.w, p.shape.z * p.shape.w, p.shape.w, 1u);
  var sum = 0.0;
  if (live) {
    for (var r = part * WG + lid; r < p.red_count; r += WG * p.parts) {
      let rc = unravel(r, red_shape);
      // output coordinate on kept dims, reduced coordinate on the others
      let c = select(rc, oc, keep == vec4<u32>(1u));
      sum += x[dot(c, strides)];
    }
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (live && lid == 0u) {
    let v = p.alpha * partial[0];
    if (p.accumulate != 0u) { out[wg] += v; } else { out[wg] = v; }
  }
}
