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

// Tile (column, row) of this workgroup, walking GROUP rows of tiles at a time down all columns
// (grouped ordering), so tiles that run together share rows of A and columns of B in cache.
override GROUP: u32 = 8u;
fn tile_of(wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let pid = wid.y * nwg.x + wid.x;
  let per_group = GROUP * nwg.x;
  let first_row = (pid / per_group) * GROUP;
  let rows = min(nwg.y - first_row, GROUP);
  let in_group = pid % per_group;
  return vec2<u32>(in_group / rows, first_row + in_group % rows);
}

// op(A)[row .. row+3, kk] as a vec4; the bounds checks only run at the matrix edges.
fn load_a4(base: u32, row: u32, kk: u32) -> vec4<f32> {
  if (row + 3u < p.m && kk < p.k) {
    if (TRANS_A) {
      let at = base + kk * p.m + row;
      return vec4<f32>(a[at], a[at + 1u], a[at + 2u], a[at + 3u]);
    }
    let at = base + row * p.k + kk;
    return vec4<f32>(a[at], a[at + p.k], a[at + 2u * p.k], a[at + 3u * p.k]);
  }
  return vec4<f32>(load_a(base, row, kk), load_a(base, row + 1u, kk), load_a(base, row + 2u, kk),
                   load_a(base, row + 3u, kk));
}

// op(B)[kk, col .. col+3] as a vec4; the bounds checks only run at the matrix edges.
fn load_b4(base: u32, kk: u32, col: u32) -> vec4<f32> {
  if (col + 3u < p.n && kk < p.k) {
    if (TRANS_B) {
      let at = base + col * p.k + kk;
      return vec4<f32>(b[at], b[at + p.k], b[at + 2u * p.k], b[at + 3u * p.k]);
    }
    let at = base + kk * p.n + col;
    return vec4<f32>(b[at], b[at + 1u], b[at + 2u], b[at + 3u]);
  }
  return vec4<f32>(load_b(base, kk, col), load_b(base, kk, col + 1u), load_b(base, kk, col + 2u),
                   load_b(base, kk, col + 3u));
}

@compute @workgroup_size(16, 16, 1)
fn matmul(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let batch = wid.z;
  let base_a = p.offset_a + batch * p.stride_a;
  let base_b = p.offset_b + batch * p.stride_b;
  let base_c = p.offset_c + batch * p.stride_c;
  let tile = tile_of(wid, nwg);
  let row0 = tile.y * BM;
  let col0 = tile.x * BN;
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
    tile_a[kk_a * 16u + r4] = load_a4(base_a, ra, k0 + kk_a);
    var kk_b: u32; var c4: u32;
    if (TRANS_B) { kk_b = li % 16u; c4 = li / 16u; } else { kk_b = li / 16u; c4 = li % 16u; }
    let cb = col0 + c4 * 4u;
    tile_b[kk_b * 16u + c4] = load_b4(base_b, k0 + kk_b, cb);
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

  // Constant trip counts and no early exits, so the compiler unrolls these loops and `acc`
  // stays in registers.
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + tr + i;
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + tc + j;
      if (row < p.m && col < p.n) {
        let at = base_c + row * p.n + col;
        var v = p.alpha * acc[i][j];
        // beta == 0 never reads C: it may hold garbage or NaN.
        if (p.beta != 0.0) { v += p.beta * c[at]; }
        c[at] = v;
      }
    }
  }
}

// ---- 128 x 128 tiles: for large products (enough tiles to fill the GPU) ----------------------
// 16x16 invocations, each an 8x8 block split as rows {ty*4 + i, 64 + ty*4 + i} and columns
// {tx*4 + j, 64 + tx*4 + j}, so neighbouring invocations read neighbouring vec4s of the tiles.
// grid = (ceil(n/128), ceil(m/128), batch).

const LM: u32 = 128u;
const LK: u32 = 8u;
var<workgroup> big_a: array<vec4<f32>, 256>; // [LK][LM/4]
var<workgroup> big_b: array<vec4<f32>, 256>; // [LK][LM/4]

@compute @workgroup_size(16, 16, 1)
fn matmul_large(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let batch = wid.z;
  let base_a = p.offset_a + batch * p.stride_a;
  let base_b = p.offset_b + batch * p.stride_b;
  let base_c = p.offset_c + batch * p.stride_c;
  let tile = tile_of(wid, nwg);
  let row0 = tile.y * LM;
  let col0 = tile.x * LM;

  var acc: array<vec4<f32>, 16>; // [8 rows][2 column vec4s]
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < p.k; k0 += LK) {
    // 256 vec4s per tile: one per invocation.
    var kk_a: u32; var r4: u32;
    if (TRANS_A) { kk_a = li / 32u; r4 = li % 32u; } else { kk_a = li % 8u; r4 = li / 8u; }
    big_a[kk_a * 32u + r4] = load_a4(base_a, row0 + r4 * 4u, k0 + kk_a);
    var kk_b: u32; var c4: u32;
    if (TRANS_B) { kk_b = li % 8u; c4 = li / 8u; } else { kk_b = li / 32u; c4 = li % 32u; }
    big_b[kk_b * 32u + c4] = load_b4(base_b, k0 + kk_b, col0 + c4 * 4u);
    workgroupBarrier();
    for (var kk = 0u; kk < LK; kk++) {
      let a0 = big_a[kk * 32u + lid.y];
      let a1 = big_a[kk * 32u + 16u + lid.y];
      let b0 = big_b[kk * 32u + lid.x];
      let b1 = big_b[kk * 32u + 16u + lid.x];
      acc[0] += a0.x * b0; acc[1] += a0.x * b1;
      acc[2] += a0.y * b0; acc[3] += a0.y * b1;
      acc[4] += a0.z * b0; acc[5] += a0.z * b1;
      acc[6] += a0.w * b0; acc[7] += a0.w * b1;
      acc[8] += a1.x * b0; acc[9] += a1.x * b1;
      acc[10] += a1.y * b0; acc[11] += a1.y * b1;
      acc[12] += a1.z * b0; acc[13] += a1.z * b1;
      acc[14] += a1.w * b0; acc[15] += a1.w * b1;
    }
    workgroupBarrier();
  }

  // Constant trip counts and no early exits (see matmul above).
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + (i / 4u) * 64u + lid.y * 4u + i % 4u;
    for (var h = 0u; h < 2u; h++) {
      let v = acc[i * 2u + h];
      for (var j = 0u; j < 4u; j++) {
        let col = col0 + h * 64u + lid.x * 4u + j;
        if (row < p.m && col < p.n) {
          let at = base_c + row * p.n + col;
          var out = p.alpha * v[j];
          if (p.beta != 0.0) { out += p.beta * c[at]; }
          c[at] = out;
        }
      }
    }
  }
}
