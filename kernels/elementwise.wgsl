// Elementwise kernels: fill, strided 2-D copy, scale/axpy, activations (relu^2, sigmoid, tanh
// softcap) and their gradients, broadcasting add/mul and broadcast-to. One invocation per output
// element, 256 per workgroup; grids beyond 65535 workgroups fold into 2-D (linear index
// wid.x + wid.y * nwg.x). `accumulate` != 0 adds into the output instead of overwriting it.

struct Params {
  n: u32, op: u32, accumulate: u32, offset: u32,
  alpha: f32, cap: f32, value_bits: u32, _pad0: u32,
  // copy2d
  rows: u32, cols: u32, src_stride: u32, dst_stride: u32,
  src_offset: u32, dst_offset: u32, _pad1: u32, _pad2: u32,
  // broadcasting, rank 4: output shape and element strides of a and b (0 on broadcast dims)
  shape: vec4<u32>,
  a_strides: vec4<u32>,
  b_strides: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// fill writes raw bits so one kernel serves f32 and i32 buffers
@group(0) @binding(5) var<storage, read_write> out_bits: array<u32>;

const WG: u32 = 256u;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn store(i: u32, v: f32) {
  if (p.accumulate != 0u) { out[i] = out[i] + v; } else { out[i] = v; }
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  out_bits[p.offset + i] = p.value_bits;
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

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  store(i, p.alpha * x[i]);
}

// op: 0 relu2, 1 sigmoid, 2 softcap
fn activate(v: f32) -> f32 {
  switch p.op {
    case 0u: { let r = max(v, 0.0); return r * r; }
    case 1u: { return 1.0 / (1.0 + exp(-v)); }
    default: {
      if (p.cap == 0.0) { return v; }
      return p.cap * tanh(v / p.cap);
    }
  }
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  store(i, activate(x[i]));
}

// x: forward input, y: forward output, z: gradient of the output
@compute @workgroup_size(256)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  var d: f32;
  switch p.op {
    case 0u: { d = 2.0 * max(x[i], 0.0); }
    case 1u: { d = y[i] * (1.0 - y[i]); }
    default: {
      if (p.cap == 0.0) { d = 1.0; } else { let t = y[i] / p.cap; d = 1.0 - t * t; }
    }
  }
  store(i, z[i] * d);
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

@compute @workgroup_size(256)
fn broadcast_to(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = linear(wid, nwg, lid);
  if (i >= p.n) { return; }
  store(i, p.alpha * x[dot(coords(i), p.a_strides)]);
}
