// Tiled batched GEMM: C = alpha * op(A) @ op(B) + beta * C, row-major, f32.
// One 64x64 tile of C per workgroup of 16x16 invocations, each computing a 4x4 block from
// workgroup-memory tiles of A (64 x 16) and B (16 x 64) held as vec4s. Loads run along the
// contiguous dimension of each operand (TRANS_A / TRANS_B pick the mapping), so global reads
// coalesce for every transpose variant. grid = (ceil(n/64), ceil(m/64), batch).

struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  stride_a: u32, stride_b: u32, stride_c: u32, _pad0: u32,
  offset_a: u32, offset_b: u32, offset_c: u32, _pad1: u32,
  alpha: f32, beta: f32, _pad2: f32, _pad3: f32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// Tiles stored k-major, so the inner loop reads 4 consecutive floats of each.
var<workgroup> tile_a: array<vec4<f32>, 256>; // [BK][BM/4]
var<workgroup> tile_b: array<vec4<f32>, 256>; // [BK][BN/4]

// op(A)[row, kk] of the current batch item, 0 outside the matrix.
fn load_a(base: u32, row: u32, kk: u32) -> f32 {
  if (row >= p.m || kk >= p.k) { return 0.0; }
  if (TRANS_A) { return a[base + kk * p.m + row]; }
  return a[base + row * p.k + kk];
}

// op(B)[kk, col] of the current batch item, 0 outside the matrix.
fn load_b(base: u32, kk: u32, col: u32) -> f32 {
  if (kk >= p.k || col >= p.n) { return 0.0; }
  if (TRANS_B) { return b[base + col * p.k + kk]; }
  return b[base + kk * p.n + col];
}

@compute @workgroup_size(16, 16, 1)
fn matmul(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let batch = wid.z;
  let base_a = p.offset_a + batch * p.stride_a;
  let base_b = p.offset_b + batch * p.stride_b;
  let base_c = p.offset_c + batch * p.stride_c;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let tr = lid.y * 4u; // this invocation's 4 rows within the tile
  let tc = lid.x * 4u; // and 4 columns

  var acc: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    // Each invocation fills one whole vec4 of each tile (no two invocations write one vec4).
    // Consecutive invocations walk the operand's contiguous dimension, so reads coalesce.
    var kk_a: u32; var r4: u32;
    if (TRANS_A) { kk_a = li / 16u; r4 = li % 16u; } else { kk_a = li % 16u; r4 = li / 16u; }
    let ra = row0 + r4 * 4u;
    tile_a[kk_a * 16u + r4] = vec4<f32>(
      load_a(base_a, ra, k0 + kk_a), load_a(base_a, ra + 1u, k0 + kk_a),
      load_a(base_a, ra + 2u, k0 + kk_a), load_a(base_a, ra + 3u, k0 + kk_a));
    var kk_b: u32; var c4: u32;
    if (TRANS_B) { kk_b = li % 16u; c4 = li / 16u; } else { kk_b = li / 16u; c4 = li % 16u; }
    let cb = col0 + c4 * 4u;
    tile_b[kk_b * 16u + c4] = vec4<f32>(
      load_b(base_b, k0 + kk_b, cb), load_b(base_b, k0 + kk_b, cb + 1u),
      load_b(base_b, k0 + kk_b, cb + 2u), load_b(base_b, k0 + kk_b, cb + 3u));
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = tile_a[kk * 16u + lid.y];
      let bv = tile_b[kk * 16u + lid.x];
      acc[0] += av.x * bv;
      acc[1] += av.y * bv;
      acc[2] += av.z * bv;
      acc[3] += av.w * bv;
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = row0 + tr + i;
    if (row >= p.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + tc + j;
      if (col >= p.n) { break; }
      let at = base_c + row * p.n + col;
      var v = p.alpha * acc[i][j];
      // beta == 0 never reads C: it may hold garbage or NaN.
      if (p.beta != 0.0) { v += p.beta * c[at]; }
      c[at] = v;
    }
  }
}
