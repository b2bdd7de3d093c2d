// Grouped optimizer kernels: one dispatch updates many tensors, each in its own buffer, so a
// step costs a few dispatches per parameter group (AdamW) or per matrix shape (Muon) instead of a
// few per tensor. The per-tensor buffers are bound as numbered slots: src/engine/webgpu/
// optim_stack.ts appends their declarations and accessors (grad_at, mom_get/mom_set, second_get/
// second_set, param_get/param_set, am_get/am_set, av_get/av_set) for the number of slots one
// dispatch binds. Muon's matrices of one shape are stacked: item k of the stack lives at
// [k * n, (k + 1) * n) of `stack`; slot j of a dispatch is item `first + j`. The arithmetic is
// optim.wgsl's, term for term, so the grouped path gives the per-tensor path's results.

struct Params {
  n: u32, count: u32, first: u32, partials: u32,  // n: elements per item; count: slots (or items)
  rows: u32, cols: u32, along_rows: u32, entries: u32,
  red: u32, wg_per_item: u32, _pad0: u32, _pad1: u32,
  beta: f32, factor: f32, eps: f32, lr: f32,
  weight_decay: f32, beta1: f32, beta2: f32, _pad2: f32,
  // AdamW, per slot: first workgroup, elements, step size and bias2 (f32 bits).
  slots: array<vec4<u32>, 11>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stack: array<f32>;      // Nesterov x / update
@group(0) @binding(2) var<storage, read_write> per_entry: array<f32>;  // vMean, then scale
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;      // partials / ratio

const WG: u32 = 256u;
var<workgroup> red_a: array<f32, 256>;
var<workgroup> red_b: array<f32, 256>;

fn tree2(lid: u32, a: f32, b: f32) -> vec2<f32> {
  red_a[lid] = a;
  red_b[lid] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red_a[lid] += red_a[lid + s];
      red_b[lid] += red_b[lid + s];
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(red_a[0], red_b[0]);
  workgroupBarrier();
  return r;
}

// AdamW over the slots; workgroups are laid out slot after slot (p.slots[j].x is slot j's first).
@compute @workgroup_size(256)
fn adamw_group(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let lin = wid.x + wid.y * nwg.x;
  var slot = 0u;
  for (var j = 1u; j < p.count; j++) {
    if (lin >= p.slots[j].x) { slot = j; }
  }
  let info = p.slots[slot];
  let i = (lin - info.x) * WG + lid;
  if (i >= info.y) { return; }
  let step_size = bitcast<f32>(info.z);
  let bias2 = bitcast<f32>(info.w);
  let g = grad_at(slot, i);
  let m0 = am_get(slot, i);
  let v0 = av_get(slot, i);
  let m = m0 + (1.0 - p.beta1) * (g - m0);
  let v = v0 + (1.0 - p.beta2) * (g * g - v0);
  am_set(slot, i, m);
  av_set(slot, i, v);
  let decayed = param_get(slot, i) * (1.0 - p.lr * p.weight_decay);
  param_set(slot, i, decayed - step_size * m / (sqrt(v / bias2) + p.eps));
}

// Muon momentum into the stack, with the first stage of each item's ||x||_F: grid (partials,
// slots); workgroup (w, j) covers a strided share of item first + j, as sumsq_partials does.
@compute @workgroup_size(256)
fn stack_momentum(@builtin(workgroup_id) wid: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let slot = wid.y;
  let item = p.first + slot;
  var sum = 0.0;
  for (var i = wid.x * WG + lid; i < p.n; i += p.partials * WG) {
    let g = grad_at(slot, i);
    let m0 = mom_get(slot, i);
    let mom = m0 + (1.0 - p.beta) * (g - m0);
    mom_set(slot, i, mom);
    let x = g + p.beta * (mom - g);
    stack[item * p.n + i] = x;
    sum += x * x;
  }
  let total = tree2(lid, sum, 0.0);
  if (lid == 0u) { stats[item * p.partials + wid.x] = total.x; }
}

// Stage 2, over the whole stack (p.count items) in place: x /= ||x||_F * factor + eps.
@compute @workgroup_size(256)
fn stack_normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let lin = wid.x + wid.y * nwg.x;
  let item = lin / p.wg_per_item;
  if (item >= p.count) { return; }
  var part = 0.0;
  if (lid < p.partials) { part = stats[item * p.partials + lid]; }
  let total = tree2(lid, part, 0.0);
  let i = (lin % p.wg_per_item) * WG + lid;
  if (i >= p.n) { return; }
  let at = item * p.n + i;
  stack[at] = stack[at] / (sqrt(total.x) * p.factor + p.eps);
}

// Muon stage A over the whole stack: one workgroup per (item, entry), mean of update^2.
@compute @workgroup_size(256)
fn stack_vmean(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let lin = wid.x + wid.y * nwg.x;
  let item = lin / p.entries;
  let e = lin % p.entries;
  let live = item < p.count;
  var sum = 0.0;
  if (live) {
    for (var j = lid; j < p.red; j += WG) {
      var at: u32;
      if (p.along_rows != 0u) { at = e * p.cols + j; } else { at = j * p.cols + e; }
      let u = stack[item * p.n + at];
      sum += u * u;
    }
  }
  let total = tree2(lid, sum, 0.0);
  if (live && lid == 0u) { per_entry[lin] = total.x / f32(p.red); }
}

// Muon stage B, one workgroup per slot: second moment, per-entry scale, norm ratio -> stats[item].
@compute @workgroup_size(256)
fn stack_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let slot = wid.x;
  let item = p.first + slot;
  let base = item * p.entries;
  var sum_v = 0.0;
  var sum_new = 0.0;
  let red = f32(p.red);
  for (var e = lid; e < p.entries; e += WG) {
    let vm = per_entry[base + e];
    let s0 = second_get(slot, e);
    let sm = s0 + (1.0 - p.beta2) * (vm - s0);
    second_set(slot, e, sm);
    let s = inverseSqrt(max(sm, 1e-10));
    per_entry[base + e] = s;
    sum_v += vm;
    sum_new += vm * red * s * s;
  }
  let totals = tree2(lid, sum_v, sum_new);
  if (lid == 0u) {
    stats[item] = sqrt(totals.x * red) / max(sqrt(totals.y), 1e-10);
  }
}

// Muon stage C over the slots: u' = u * s[e] * ratio; cautious decoupled decay into each param.
@compute @workgroup_size(256)
fn stack_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let lin = wid.x + wid.y * nwg.x;
  let slot = lin / p.wg_per_item;
  if (slot >= p.count) { return; }
  let i = (lin % p.wg_per_item) * WG + lid;
  if (i >= p.n) { return; }
  let item = p.first + slot;
  var e: u32;
  if (p.along_rows != 0u) { e = i / p.cols; } else { e = i % p.cols; }
  let u = stack[item * p.n + i] * per_entry[item * p.entries + e] * stats[item];
  let w = param_get(slot, i);
  var decay = 0.0;
  if (u * w >= 0.0) { decay = p.lr * p.weight_decay * w; }
  param_set(slot, i, w - p.lr * u - decay);
}
