// Elementwise kernels: fill, strided 2-D copy, scale, activations (relu^2, sigmoid, tanh softcap)
// and their gradients, broadcasting add/mul and broadcast-to. Every kernel reads each input
// element once and writes each output element once (twice with `accumulate` != 0, which adds
// into the output instead of overwriting it): memory-bound, so they move data as vec4 where
// they can. Grids: 256 invocations per workgroup, beyond 65535 workgroups folded into 2-D
// (linear index wid.x + wid.y * nwg.x).
// - Flat kernels (fill, scale, unary, unary_backward): one invocation per quad of 4 consecutive
//   elements, through the vec4 bindings; a quad that straddles an end of the range (n or the
//   fill's offset not a multiple of 4) stores only its elements inside the range.
// - Shaped kernels (copy2d, binary, broadcast_to): a vec4 entry point (`*4`) where the rows are
//   quads (last dimension, strides and offsets multiples of 4), else one invocation per element.

struct Params {
  n: u32, op: u32, accumulate: u32, offset: u32,
  alpha: f32, cap: f32, value_bits: u32, _pad0: u32,
  // copy2d (in quads for copy2d4)
  rows: u32, cols: u32, src_stride: u32, dst_stride: u32,
  src_offset: u32, dst_offset: u32, _pad1: u32, _pad2: u32,
  // broadcasting, rank 4: output shape and element strides of a and b (0 on broadcast dims)
  shape: vec4<u32>,
  a_strides: vec4<u32>,
  b_strides: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
// Scalar views (per-element kernels).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// vec4 views (flat and `*4` kernels).
@group(0) @binding(6) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> y4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> z4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> out4: array<vec4<f32>>;
// fill writes raw bits so one kernel serves f32 and i32 buffers
@group(0) @binding(10) var<storage, read_write> out4_bits: array<vec4<u32>>;

const WG: u32 = 256u;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn store(i: u32, v: f32) {
  if (p.accumulate != 0u) { out[i] = out[i] + v; } else { out[i] = v; }
}

fn store4(q: u32, v: vec4<f32>) {
  if (p.accumulate != 0u) { out4[q] = out4[q] + v; } else { out4[q] = v; }
}

// The quad an invocation of a flat kernel owns (quads counted from the one holding p.offset),
// and which of its elements lie in [p.offset, p.offset + p.n).
struct Quad { q: u32, live: bool, full: bool, inside: vec4<bool> }

fn quad_of(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Quad {
  let q = p.offset / 4u + linear(wid, nwg, lid);
  let e = vec4<u32>(q * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  let inside = (e >= vec4<u32>(p.offset)) & (e < vec4<u32>(p.offset + p.n));
  return Quad(q, any(inside), all(inside), inside);
}

// Store a flat kernel's result: one vec4 store for a whole quad, element stores at the ends.
fn store_quad(qd: Quad, v: vec4<f32>) {
  if (qd.full) { store4(qd.q, v); return; }
  for (var k = 0u; k < 4u; k++) {
    if (!qd.inside[k]) { continue; }
    if (p.accumulate != 0u) { out4[qd.q][k] += v[k]; } else { out4[qd.q][k] = v[k]; }
  }
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let qd = quad_of(wid, nwg, lid);
  if (!qd.live) { return; }
  if (qd.full) { out4_bits[qd.q] = vec4<u32>(p.value_bits); return; }
  for (var k = 0u; k < 4u; k++) {
    if (qd.inside[k]) { out4_bits[qd.q][k] = p.value_bits; }
  }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let qd = quad_of(wid, nwg, lid);
  if (!qd.live) { return; }
  store_quad(qd, p.alpha * x4[qd.q]);
}

// op: 0 relu2, 1 sigmoid, 2 softcap
fn activate(v: vec4<f32>) -> vec4<f32> {
  switch p.op {
    case 0u: { let r = max(v, vec4<f32>(0.0)); return r * r; }
    case 1u: { return 1.0 / (1.0 + exp(-v)); }
    default: {
      if (p.cap == 0.0) { return v; }
      // tanh saturates long before 15; the clamp keeps an exp-based tanh from inf/inf = NaN
      return p.cap * tanh(clamp(v / p.cap, vec4<f32>(-15.0), vec4<f32>(15.0)));
    }
  }
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let qd = quad_of(wid, nwg, lid);
  if (!qd.live) { return; }
  store_quad(qd, activate(x4[qd.q]));
}

// x: forward input, y: forward output, z: gradient of the output; each op reads only what it
// needs (relu2 x, the others y).
@compute @workgroup_size(256)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let qd = quad_of(wid, nwg, lid);
  if (!qd.live) { return; }
  var d: vec4<f32>;
  switch p.op {
    case 0u: { d = 2.0 * max(x4[qd.q], vec4<f32>(0.0)); }
    case 1u: { let s = y4[qd.q]; d = s * (1.0 - s); }
    default: {
      if (p.cap == 0.0) { d = vec4<f32>(1.0); } else { let t = y4[qd.q] / p.cap; d = 1.0 - t * t; }
    }
  }
  store_quad(qd, z4[qd.q] * d);
}

@compute @workgroup_size(256)
fn copy2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let col = i % p.cols;
  store(p.dst_offset + r * p.dst_stride + col, x[p.src_offset + r * p.src_stride + col]);
}

// copy2d with cols, strides and offsets in quads.
@compute @workgroup_size(256)
fn copy2d4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let col = i % p.cols;
  store4(p.dst_offset + r * p.dst_stride + col, x4[p.src_offset + r * p.src_stride + col]);
}

fn coords(i: u32) -> vec4<u32> {
  let s = p.shape;
  return vec4<u32>(i / (s.y * s.z * s.w), (i / (s.z * s.w)) % s.y, (i / s.w) % s.z, i % s.w);
}

// op: 0 add, 1 mul; x is a, y is b
@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = coords(i);
  let av = x[dot(c, p.a_strides)];
  let bv = y[dot(c, p.b_strides)];
  if (p.op == 0u) { store(i, av + bv); } else { store(i, av * bv); }
}

// A quad of an operand whose last dimension is the output's (stride 1: one vec4 load) or
// broadcast (stride 0: one element, splat). `at` is the element index of the quad's first.
fn operand_x(at: u32, last_stride: u32) -> vec4<f32> {
  if (last_stride == 0u) { return vec4<f32>(x4[at / 4u][at % 4u]); }
  return x4[at / 4u];
}

fn operand_y(at: u32, last_stride: u32) -> vec4<f32> {
  if (last_stride == 0u) { return vec4<f32>(y4[at / 4u][at % 4u]); }
  return y4[at / 4u];
}

// binary over quads of the output's last dimension (a multiple of 4); n counts quads.
@compute @workgroup_size(256)
fn binary4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let q = linear(wid, nwg, lid);
  if (q >= p.n) { return; }
  let c = coords(q * 4u);
  let av = operand_x(dot(c, p.a_strides), p.a_strides.w);
  let bv = operand_y(dot(c, p.b_strides), p.b_strides.w);
  if (p.op == 0u) { store4(q, av + bv); } else { store4(q, av * bv); }
}

@compute @workgroup_size(256)
fn broadcast_to(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  store(i, p.alpha * x[dot(coords(i), p.a_strides)]);
}

// broadcast_to over quads of the output's last dimension (a multiple of 4); n counts quads.
@compute @workgroup_size(256)
fn broadcast_to4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let q = linear(wid, nwg, lid);
  if (q >= p.n) { return; }
  store4(q, p.alpha * operand_x(dot(coords(q * 4u), p.a_strides), p.a_strides.w));
}
