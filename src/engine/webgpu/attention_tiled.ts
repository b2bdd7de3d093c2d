/**
 * WGSL generator of the tiled attention kernels: causal sliding-window attention computed the way
 * a register-tiled matmul is, S = Q K^T and O = P V as register blocks over workgroup-memory
 * tiles. Generated rather than templated so every register of a block is a named variable and
 * every loop over a block is unrolled (a dynamically indexed register array spills to local
 * memory on most compilers), like the matmul generator (matmul_wgsl.ts).
 *
 * One workgroup owns BR query rows of one (batch, head); its invocations form RG = BR/TR row
 * groups by G = BC/TC key groups. Invocation (rg, cg) holds:
 * - a TR x TC block of the scores of one staged key tile: rows rg + t RG, keys cg + u G;
 * - the running max and (partial) sum of its TR rows, and their outputs O over the head-dimension
 *   packs cg, cg + G, cg + 2G, ... (TR x D/(4G) vec4 accumulators).
 * Forward, per key tile (only the tiles the causal window lets some row of the block see): stage K
 * in workgroup memory; barrier; the score block from Q (staged once, pre-scaled) and K as vec4 dot
 * products, masked, its per-row max to `rowmax`; barrier; each invocation reads its rows' G maxes,
 * rescales, writes its probabilities P to `ps` and stages V (into the K tile when they share);
 * barrier; O += P V from `ps` and the V tile; one more barrier only when K and V share a buffer.
 * Row sums stay per invocation (all G invocations of a row rescale by the same max) and are summed
 * across the G once, at the end. Outputs, layout and masking are those of kernels/attention.wgsl.
 *
 * The backward's dK/dV and dQ (`attentionTiledBackwardWgsl`) have the same shape: own rows (keys,
 * or queries) against staged tiles of the other side, score and dP blocks in registers, P and dS
 * through workgroup memory, gradient blocks in registers. Forward and backward each come whole-row
 * (rows staged once per tile or per workgroup) or streamed (`chunk`: the head dimension through
 * workgroup memory a chunk at a time, memory independent of the head dimension, more barriers).
 * The template (kernels/attention.wgsl) still supplies delta = rowsum(dO * O).
 */

/** Parameters of one tiled forward kernel. */
export interface AttentionTiledParams {
  /** Query rows per workgroup (BR). */
  queryRows: number;
  /** Keys per staged tile (BC). */
  keyTile: number;
  /** Rows of the score block per invocation (TR). */
  blockRows: number;
  /** Keys of the score block per invocation (TC). */
  blockKeys: number;
  /** K and V share one workgroup tile (less memory, one more barrier per tile). */
  sharedKv: boolean;
  /**
   * Stream the head dimension this many floats at a time (a multiple of 4 G; needs `sharedKv`):
   * Q re-read per key tile, memory independent of headDim. Unset: whole rows, Q staged once.
   */
  chunk?: number;
}

/** Key groups G = BC/TC: the invocations that share a row (each holds D/G of its output). */
export function tiledKeyGroups(t: AttentionTiledParams): number {
  return t.keyTile / t.blockKeys;
}

/** Invocations per workgroup: (BR/TR) * (BC/TC). */
export function tiledInvocations(t: AttentionTiledParams): number {
  return (t.queryRows / t.blockRows) * tiledKeyGroups(t);
}

/**
 * Head-dimension capacity compiled in for `headDim` (floats): a multiple of 4 G, so each of the G
 * invocations of a row holds the same number of output packs. Padding is zero and never summed.
 */
export function tiledCapacity(t: AttentionTiledParams, headDim: number): number {
  const step = t.chunk ?? 4 * tiledKeyGroups(t);
  return Math.max(step, Math.ceil(headDim / step) * step);
}

/**
 * Workgroup bytes: the Q tile and one (or two) K/V tiles of BR and BC rows of capacity (or chunk) + 4 floats
 * (a pad vec4 per row spreads the rows across memory banks), P (BR x BC) and the row maxima
 * (BR x G), 4 bytes each.
 */
export function tiledSharedBytes(t: AttentionTiledParams, headDim: number): number {
  const stride = (t.chunk ?? tiledCapacity(t, headDim)) + 4;
  const kvTiles = t.sharedKv ? 1 : 2;
  return 4 * (stride * (t.queryRows + kvTiles * t.keyTile) + t.queryRows * t.keyTile +
    t.queryRows * tiledKeyGroups(t));
}

/** Why the parameters cannot make a kernel, or null. */
export function tiledParamsProblem(t: AttentionTiledParams): string | null {
  const { queryRows, keyTile, blockRows, blockKeys } = t;
  if (![queryRows, keyTile, blockRows, blockKeys].every((n) => Number.isInteger(n) && n > 0)) {
    return "parameters must be positive integers";
  }
  if (queryRows % blockRows !== 0) return "query rows must divide by block rows";
  if (keyTile % blockKeys !== 0) return "key tile must divide by block keys";
  if (t.chunk !== undefined) {
    const step = 4 * tiledKeyGroups(t);
    if (!(Number.isInteger(t.chunk / step) && t.chunk > 0)) {
      return `chunk must be a positive multiple of ${step}`;
    }
    if (!t.sharedKv) return "a streamed forward shares its K/V chunk (sharedKv)";
  }
  return null;
}

/** `n` copies of `line(i)`, joined by newlines. */
function unroll(n: number, line: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => line(i)).join("\n");
}

/**
 * One key tile's online-softmax step of a tiled forward (each row's scores s<r>_<c> in
 * registers): the row maximum through `rowmax` across the G invocations of a row (one barrier),
 * then the running max, sum and output rescaled, and the tile's probabilities into `ps`.
 */
function onlineSoftmaxStep(TR: number, TC: number, NE: number): string {
  const rows = (f: (r: number) => string) => unroll(TR, f);
  return `${
    rows((r) =>
      `    rowmax[row${r} * G + cg] = ${
        Array.from({ length: TC }, (_, c) => `s${r}_${c}`).reduce((a, s) => `max(${a}, ${s})`)
      };`
    )
  }
    workgroupBarrier();
${
    rows((r) =>
      `    {
      var mx = m${r};
      for (var g = 0u; g < G; g++) { mx = max(mx, rowmax[row${r} * G + g]); }
      let corr = exp(m${r} - mx);
      m${r} = mx;
      l${r} *= corr;
${unroll(NE, (e) => `      o${r}_${e} *= corr;`)}
${
        unroll(TC, (c) =>
          `      let p${c} = select(0.0, exp(s${r}_${c} - mx), s${r}_${c} > -1.0e38);
      l${r} += p${c};
      ps[row${r} * BC + cg + ${c}u * G] = p${c};`)
      }
    }`
    )
  }`;
}

/** The WGSL of the tiled forward at a capacity (entry point `attention`, the template's bindings). */
export function attentionTiledWgsl(t: AttentionTiledParams, capacity: number): string {
  const problem = tiledParamsProblem(t);
  if (problem) throw new Error(`tiled attention: ${problem}`);
  if (t.chunk !== undefined) return streamedForwardWgsl(t, capacity, t.chunk);
  const G = tiledKeyGroups(t);
  const TR = t.blockRows, TC = t.blockKeys;
  const np = capacity / 4;
  if (!Number.isInteger(np) || np % G !== 0) throw new Error("tiled attention: bad capacity");
  const NE = np / G; // output packs per row per invocation
  const rows = (f: (r: number) => string) => unroll(TR, f);
  const block = (f: (r: number, c: number) => string) =>
    unroll(TR, (r) => unroll(TC, (c) => f(r, c)));
  const outs = (f: (r: number, e: number) => string) =>
    unroll(TR, (r) => unroll(NE, (e) => f(r, e)));
  const vTile = t.sharedKv ? "kt_s" : "vt_s";
  // Keys (or values) [kt, kt + BC) into a tile, zero past the sequence and the head dim.
  const stage = (src: string, dst: string) =>
    `    for (var e = lid; e < BC * NP; e += WG) {
      let r = e / NP;
      let c = e % NP;
      var x = vec4<f32>(0.0);
      if (kt + r < p.seq && c < hp) { x = ${src}[row_base(b, kt + r, h) + c]; }
      ${dst}[r * NPS + c] = x;
    }`;
  return `// Tiled causal sliding-window attention forward (generated by
// src/engine/webgpu/attention_tiled.ts): BR=${t.queryRows} query rows, BC=${t.keyTile}-key tiles,
// ${TR}x${TC} score blocks per invocation, ${
    t.sharedKv ? "K and V share a tile" : "K and V tiles"
  }.
struct Params {
  batch: u32, seq: u32, heads: u32, head_dim: u32,
  window: u32, accumulate: u32, _pad0: u32, _pad1: u32,
  scale: f32, _pad2: f32, _pad3: f32, _pad4: f32,
}

const NP: u32 = ${np}u;        // vec4 packs per row (capacity)
const NPS: u32 = ${
    np + 1
  }u;       // row stride in workgroup tiles (one pad vec4 against bank conflicts)
const BR: u32 = ${t.queryRows}u;
const BC: u32 = ${t.keyTile}u;
const G: u32 = ${G}u;          // key groups: invocations per row
const RG: u32 = ${t.queryRows / TR}u;        // row groups
const WG: u32 = ${tiledInvocations(t)}u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> qt_s: array<vec4<f32>, ${t.queryRows * (np + 1)}>;   // Q * scale, [row][pack]
var<workgroup> kt_s: array<vec4<f32>, ${t.keyTile * (np + 1)}>;   // K tile${
    t.sharedKv ? ", then V" : ""
  }, [key][pack]
${
    t.sharedKv
      ? ""
      : `var<workgroup> vt_s: array<vec4<f32>, ${t.keyTile * (np + 1)}>;   // V tile\n`
  }var<workgroup> ps: array<f32, ${t.queryRows * t.keyTile}>;      // probabilities [row][key]
var<workgroup> rowmax: array<f32, ${t.queryRows * G}>;   // per-invocation row maxima, then sums

fn row_base(b: u32, t: u32, h: u32) -> u32 {
  return ((b * p.seq + t) * p.heads + h) * (p.head_dim / 4u);
}

fn visible(i: u32, j: u32) -> bool {
  return i < p.seq && j <= i && i - j <= p.window;
}

@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = p.head_dim / 4u;
  let q0 = wid.x * BR;
  let cg = lid % G;
  let rg = lid / G;
  for (var e = lid; e < BR * NP; e += WG) {
    let r = e / NP;
    let c = e % NP;
    var x = vec4<f32>(0.0);
    if (q0 + r < p.seq && c < hp) { x = q[row_base(b, q0 + r, h) + c] * p.scale; }
    qt_s[r * NPS + c] = x;
  }
${rows((r) => `  let row${r} = rg + ${r}u * RG;\n  let i${r} = q0 + row${r};`)}
${rows((r) => `  var m${r} = -3.0e38;\n  var l${r} = 0.0;`)}
${outs((r, e) => `  var o${r}_${e} = vec4<f32>(0.0);`)}
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + BR, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
${stage("k", "kt_s")}
    workgroupBarrier();
${block((r, c) => `    var s${r}_${c} = 0.0;`)}
    for (var d = 0u; d < hp; d++) {
${rows((r) => `      let a${r} = qt_s[row${r} * NPS + d];`)}
${unroll(TC, (c) => `      let k${c} = kt_s[(cg + ${c}u * G) * NPS + d];`)}
${block((r, c) => `      s${r}_${c} += dot(a${r}, k${c});`)}
    }
${
    block((r, c) =>
      `    s${r}_${c} = select(-3.0e38, s${r}_${c}, visible(i${r}, kt + cg + ${c}u * G));`
    )
  }
${onlineSoftmaxStep(TR, TC, NE)}
${stage("v", vTile)}
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
${rows((r) => `      let w${r} = ps[row${r} * BC + c];`)}
${unroll(NE, (e) => `      let v${e} = ${vTile}[c * NPS + cg + ${e}u * G];`)}
${outs((r, e) => `      o${r}_${e} += w${r} * v${e};`)}
    }
${t.sharedKv ? "    workgroupBarrier();\n" : ""}  }
  // Row sums across the G invocations of each row (rowmax is free: its last reads were before the
  // tile loop's last barrier).
${rows((r) => `  rowmax[row${r} * G + cg] = l${r};`)}
  workgroupBarrier();
${
    rows((r) =>
      `  if (i${r} < p.seq) {
    var sum = 0.0;
    for (var g = 0u; g < G; g++) { sum += rowmax[row${r} * G + g]; }
    let inv = 1.0 / sum;
    let base = row_base(b, i${r}, h);
${
        unroll(NE, (e) =>
          `    if (cg + ${e}u * G < hp) { out[base + cg + ${e}u * G] = o${r}_${e} * inv; }`)
      }
    if (cg == 0u) { lse[(b * p.heads + h) * p.seq + i${r}] = m${r} + log(sum); }
  }`
    )
  }
}
`;
}

/**
 * Parameters of the tiled backward (dK/dV and dQ). Each kernel owns `ownRows` rows (keys for
 * dK/dV, queries for dQ), stages them once, and walks `tileRows`-row tiles of the other side; an
 * invocation holds a `blockRows` x `blockCols` block of scores (own rows x tile rows) and its own
 * rows' gradients over the head-dimension packs cg, cg + G, ... (G = tileRows / blockCols).
 */
export interface AttentionTiledBackwardParams {
  /** Rows each workgroup owns (keys in dK/dV, queries in dQ). */
  ownRows: number;
  /** Rows per staged tile of the other side (queries in dK/dV, keys in dQ). */
  tileRows: number;
  /** Own rows of the score block per invocation. */
  blockRows: number;
  /** Tile rows of the score block per invocation. */
  blockCols: number;
  /**
   * Stream the head dimension through workgroup memory this many floats at a time (a multiple of
   * 4 * tileRows / blockCols) instead of staging whole rows: memory independent of headDim, own
   * rows re-read per tile, two barriers per chunk. Unset: whole rows, own rows staged once.
   */
  chunk?: number;
}

/** As the forward's: (own rows / block rows) x (tile rows / block cols) and G. */
function backwardShape(t: AttentionTiledBackwardParams): { groups: number; invocations: number } {
  const groups = t.tileRows / t.blockCols;
  return { groups, invocations: (t.ownRows / t.blockRows) * groups };
}

/** Invocations per workgroup of both backward kernels. */
export function tiledBackwardInvocations(t: AttentionTiledBackwardParams): number {
  return backwardShape(t).invocations;
}

/** Head-dimension capacity of the backward kernels: a multiple of 4 G. */
export function tiledBackwardCapacity(t: AttentionTiledBackwardParams, headDim: number): number {
  const step = t.chunk ?? 4 * backwardShape(t).groups;
  return Math.max(step, Math.ceil(headDim / step) * step);
}

/**
 * Workgroup bytes of the larger backward kernel (dK/dV): four staged tiles of capacity (or chunk)
 * + 4 floats per row (K and V own rows, Q and dO tile rows; dQ: Q and dO own, K and V tile), P and dS (own x
 * tile; dQ keeps only dS) and the tile's lse and delta (dK/dV only), 4 bytes each.
 */
export function tiledBackwardSharedBytes(t: AttentionTiledBackwardParams, headDim: number): number {
  const stride = (t.chunk ?? tiledBackwardCapacity(t, headDim)) + 4;
  return 4 * (stride * 2 * (t.ownRows + t.tileRows) + 2 * t.ownRows * t.tileRows + 2 * t.tileRows);
}

/** Why backward parameters cannot make kernels, or null. */
export function tiledBackwardProblem(t: AttentionTiledBackwardParams): string | null {
  const { ownRows, tileRows, blockRows, blockCols } = t;
  if (![ownRows, tileRows, blockRows, blockCols].every((n) => Number.isInteger(n) && n > 0)) {
    return "parameters must be positive integers";
  }
  if (ownRows % blockRows !== 0) return "own rows must divide by block rows";
  if (tileRows % blockCols !== 0) return "tile rows must divide by block cols";
  const step = 4 * backwardShape(t).groups;
  if (t.chunk !== undefined && !(Number.isInteger(t.chunk / step) && t.chunk > 0)) {
    return `chunk must be a positive multiple of ${step}`;
  }
  return null;
}

/** What the two backward generators (whole rows, streamed) declare alike. */
interface BackwardDeclarations {
  t: AttentionTiledBackwardParams;
  kernel: "dkdv" | "dq";
  dkdv: boolean;
  G: number;
  TR: number;
  invocations: number;
  ownA: string;
  ownB: string;
  tileA: string;
  tileB: string;
  /** vec4 packs a workgroup tile row holds: the whole capacity, or one chunk (streamed). */
  packs: number;
  streamed: boolean;
}

/**
 * The part both backward kernels share: the uniform block, constants, bindings, workgroup
 * tiles (rows of `packs` vec4s plus one pad against bank conflicts), helpers, and the kernel's
 * opening lines up to its statistics offset.
 */
function backwardDeclarations(d: BackwardDeclarations): string {
  const packConstants = d.streamed
    ? `const CP: u32 = ${d.packs}u;        // vec4 packs per chunk
const CPS: u32 = ${
      d.packs + 1
    }u;       // row stride in workgroup tiles (one pad vec4 against bank conflicts)`
    : `const NP: u32 = ${d.packs}u;        // vec4 packs per row (capacity)
const NPS: u32 = ${
      d.packs + 1
    }u;       // row stride in workgroup tiles (one pad vec4 against bank conflicts)`;
  return `struct Params {
  batch: u32, seq: u32, heads: u32, head_dim: u32,
  window: u32, accumulate: u32, _pad0: u32, _pad1: u32,
  scale: f32, _pad2: f32, _pad3: f32, _pad4: f32,
}

${packConstants}
const BO: u32 = ${d.t.ownRows}u;        // own rows
const BT: u32 = ${d.t.tileRows}u;        // tile rows
const G: u32 = ${d.G}u;          // invocations per own row
const RG: u32 = ${d.t.ownRows / d.TR}u;        // row groups
const WG: u32 = ${d.invocations}u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> d_o: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;
${d.dkdv ? "@group(0) @binding(9) var<storage, read_write> out2: array<vec4<f32>>;\n" : ""}
var<workgroup> ${d.ownA}_s: array<vec4<f32>, ${d.t.ownRows * (d.packs + 1)}>;
var<workgroup> ${d.ownB}_s: array<vec4<f32>, ${d.t.ownRows * (d.packs + 1)}>;
var<workgroup> ${d.tileA}_s: array<vec4<f32>, ${d.t.tileRows * (d.packs + 1)}>;
var<workgroup> ${d.tileB}_s: array<vec4<f32>, ${d.t.tileRows * (d.packs + 1)}>;
var<workgroup> ds_s: array<f32, ${d.t.ownRows * d.t.tileRows}>;   // dS [own][tile]
${
    d.dkdv
      ? `var<workgroup> p_s: array<f32, ${d.t.ownRows * d.t.tileRows}>;    // P [own][tile]
var<workgroup> lse_s: array<f32, ${d.t.tileRows}>;
var<workgroup> delta_s: array<f32, ${d.t.tileRows}>;
`
      : ""
  }
fn row_base(b: u32, t: u32, h: u32) -> u32 {
  return ((b * p.seq + t) * p.heads + h) * (p.head_dim / 4u);
}

fn visible(i: u32, j: u32) -> bool {
  return i < p.seq && j <= i && i - j <= p.window;
}

@compute @workgroup_size(WG)
fn attention_${d.kernel}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = p.head_dim / 4u;
  let o0 = wid.x * BO;
  let cg = lid % G;
  let rg = lid / G;
  let stats = (b * p.heads + h) * p.seq;`;
}

/**
 * The WGSL of one tiled backward kernel at a capacity: `attention_dkdv` (out = dK, out2 = dV) or
 * `attention_dq` (out = dQ), with the template's bindings. Per tile: stage; barrier; the score
 * block S and dP = dO V^T as vec4 dot products, P = exp(scale S - lse) and dS = P (dP - delta)
 * scale (0 where masked) to workgroup memory; barrier; the gradient blocks from P, dS and the
 * staged tile; barrier.
 */
export function attentionTiledBackwardWgsl(
  t: AttentionTiledBackwardParams,
  capacity: number,
  kernel: "dkdv" | "dq",
): string {
  const problem = tiledBackwardProblem(t);
  if (problem) throw new Error(`tiled attention backward: ${problem}`);
  if (t.chunk !== undefined) return streamedBackwardWgsl(t, capacity, kernel, t.chunk);
  const { groups: G, invocations } = backwardShape(t);
  const TR = t.blockRows, TC = t.blockCols;
  const np = capacity / 4;
  if (!Number.isInteger(np) || np % G !== 0) throw new Error("tiled attention: bad capacity");
  const NE = np / G;
  const dkdv = kernel === "dkdv";
  const rows = (f: (r: number) => string) => unroll(TR, f);
  const cols = (f: (c: number) => string) => unroll(TC, f);
  const block = (f: (r: number, c: number) => string) => rows((r) => cols((c) => f(r, c)));
  const outs = (f: (r: number, e: number) => string) => rows((r) => unroll(NE, (e) => f(r, e)));
  // Own rows: K, V (dkdv) or Q, dO (dq); tile rows: Q, dO (dkdv) or K, V (dq).
  const [ownA, ownB, tileA, tileB] = dkdv ? ["k", "v", "q", "d_o"] : ["q", "d_o", "k", "v"];
  const stage = (src: string, first: string, count: string, indent: string) =>
    `${indent}for (var e = lid; e < ${count} * NP; e += WG) {
${indent}  let r = e / NP;
${indent}  let c = e % NP;
${indent}  var x = vec4<f32>(0.0);
${indent}  if (${first} + r < p.seq && c < hp) { x = ${src}[row_base(b, ${first} + r, h) + c]; }
${indent}  ${src}_s[r * NPS + c] = x;
${indent}}`;
  const own = dkdv ? "j" : "i"; // own row index name
  const visibleOf = (r: number, c: number) =>
    dkdv ? `visible(t0 + cg + ${c}u * G, j${r})` : `visible(i${r}, t0 + cg + ${c}u * G)`;
  const lseOf = (r: number, c: number) => dkdv ? `lse_s[cg + ${c}u * G]` : `lse${r}`;
  const deltaOf = (r: number, c: number) => dkdv ? `delta_s[cg + ${c}u * G]` : `delta${r}`;
  const write = (name: string, buffer: string, r: number) =>
    unroll(NE, (e) =>
      `    if (cg + ${e}u * G < hp) {
      let at = base + cg + ${e}u * G;
      if (p.accumulate != 0u) { ${buffer}[at] += ${name}${r}_${e}; } else { ${buffer}[at] = ${name}${r}_${e}; }
    }`);
  const shared = { t, kernel, dkdv, G, TR, invocations, ownA, ownB, tileA, tileB };
  return `// Tiled causal sliding-window attention backward, ${kernel} (generated by
// src/engine/webgpu/attention_tiled.ts): ${t.ownRows} own rows, ${t.tileRows}-row tiles,
// ${TR}x${TC} score blocks per invocation.
${backwardDeclarations({ ...shared, packs: np, streamed: false })}
${stage(ownA, "o0", "BO", "  ")}
${stage(ownB, "o0", "BO", "  ")}
${rows((r) => `  let row${r} = rg + ${r}u * RG;\n  let ${own}${r} = o0 + row${r};`)}
${
    dkdv ? "" : rows((r) =>
      `  let lse${r} = lse[stats + min(i${r}, p.seq - 1u)];
  let delta${r} = delta[stats + min(i${r}, p.seq - 1u)];`
    )
  }
${
    outs((r, e) =>
      dkdv
        ? `  var dk${r}_${e} = vec4<f32>(0.0);\n  var dv${r}_${e} = vec4<f32>(0.0);`
        : `  var dq${r}_${e} = vec4<f32>(0.0);`
    )
  }
${
    dkdv
      ? `  // Queries that can see a key of the block: j0 .. last key + window.
  let t_begin = o0;
  let t_end = min(p.seq, min(o0 + BO, p.seq) - 1u + p.window + 1u);`
      : `  // Keys some query of the block can see: q0 - window .. last query.
  let t_begin = select(0u, o0 - p.window, o0 > p.window);
  let t_end = min(o0 + BO, p.seq);`
  }
  for (var t0 = t_begin; t0 < t_end; t0 += BT) {
${stage(tileA, "t0", "BT", "    ")}
${stage(tileB, "t0", "BT", "    ")}
${
    dkdv
      ? `    for (var e = lid; e < BT; e += WG) {
      lse_s[e] = lse[stats + min(t0 + e, p.seq - 1u)];
      delta_s[e] = delta[stats + min(t0 + e, p.seq - 1u)];
    }`
      : ""
  }
    workgroupBarrier();
${block((r, c) => `    var s${r}_${c} = 0.0;\n    var dp${r}_${c} = 0.0;`)}
    for (var d = 0u; d < hp; d++) {
${
    rows((r) =>
      `      let a${r} = ${ownA}_s[row${r} * NPS + d];\n      let b${r} = ${ownB}_s[row${r} * NPS + d];`
    )
  }
${
    cols((c) =>
      `      let x${c} = ${tileA}_s[(cg + ${c}u * G) * NPS + d];\n      let y${c} = ${tileB}_s[(cg + ${c}u * G) * NPS + d];`
    )
  }
${
    block((r, c) =>
      `      s${r}_${c} += dot(a${r}, x${c});\n      dp${r}_${c} += dot(b${r}, y${c});`
    )
  }
    }
${
    block((r, c) =>
      `    {
      let pr = select(0.0, exp(s${r}_${c} * p.scale - ${lseOf(r, c)}), ${visibleOf(r, c)});
      ds_s[row${r} * BT + cg + ${c}u * G] = pr * (dp${r}_${c} - ${deltaOf(r, c)}) * p.scale;${
        dkdv ? `\n      p_s[row${r} * BT + cg + ${c}u * G] = pr;` : ""
      }
    }`
    )
  }
    workgroupBarrier();
    for (var c = 0u; c < BT; c++) {
${
    rows((r) =>
      `      let w${r} = ds_s[row${r} * BT + c];` +
      (dkdv ? `\n      let pw${r} = p_s[row${r} * BT + c];` : "")
    )
  }
${
    unroll(NE, (e) =>
      `      let x${e} = ${tileA}_s[c * NPS + cg + ${e}u * G];` +
      (dkdv ? `\n      let y${e} = ${tileB}_s[c * NPS + cg + ${e}u * G];` : ""))
  }
${
    outs((r, e) =>
      dkdv
        ? `      dk${r}_${e} += w${r} * x${e};\n      dv${r}_${e} += pw${r} * y${e};`
        : `      dq${r}_${e} += w${r} * x${e};`
    )
  }
    }
    workgroupBarrier();
  }
${
    rows((r) =>
      `  if (${own}${r} < p.seq) {
    let base = row_base(b, ${own}${r}, h);
${dkdv ? write("dk", "out", r) + "\n" + write("dv", "out2", r) : write("dq", "out", r)}
  }`
    )
  }
}
`;
}

/**
 * The streamed form of a backward kernel: per tile, S and dP accumulate over chunks of `chunk`
 * floats of the head dimension (own and tile rows of the chunk staged, barrier, block dot
 * products, barrier), then P and dS go to workgroup memory (barrier), then the gradients
 * accumulate chunk by chunk from the tile rows of each chunk (staged, barrier, multiply-adds,
 * barrier). Each invocation's gradient packs cg + e G fall chunk / (4 G) into every chunk.
 */
function streamedBackwardWgsl(
  t: AttentionTiledBackwardParams,
  capacity: number,
  kernel: "dkdv" | "dq",
  chunk: number,
): string {
  const { groups: G, invocations } = backwardShape(t);
  const TR = t.blockRows, TC = t.blockCols;
  const np = capacity / 4;
  const cp = chunk / 4; // packs per chunk
  if (!Number.isInteger(np) || np % cp !== 0) throw new Error("tiled attention: bad capacity");
  const chunks = np / cp;
  const NF = cp / G; // gradient packs per invocation per chunk
  const dkdv = kernel === "dkdv";
  const rows = (f: (r: number) => string) => unroll(TR, f);
  const cols = (f: (c: number) => string) => unroll(TC, f);
  const block = (f: (r: number, c: number) => string) => rows((r) => cols((c) => f(r, c)));
  const [ownA, ownB, tileA, tileB] = dkdv ? ["k", "v", "q", "d_o"] : ["q", "d_o", "k", "v"];
  // Rows [first, first + count) of `src`, packs [d0, d0 + CP), zero past the sequence and head dim.
  const stage = (src: string, first: string, count: string, d0: string, indent: string) =>
    `${indent}for (var e = lid; e < ${count} * CP; e += WG) {
${indent}  let r = e / CP;
${indent}  let c = ${d0} + e % CP;
${indent}  var x = vec4<f32>(0.0);
${indent}  if (${first} + r < p.seq && c < hp) { x = ${src}[row_base(b, ${first} + r, h) + c]; }
${indent}  ${src}_s[r * CPS + e % CP] = x;
${indent}}`;
  const own = dkdv ? "j" : "i";
  const visibleOf = (r: number, c: number) =>
    dkdv ? `visible(t0 + cg + ${c}u * G, j${r})` : `visible(i${r}, t0 + cg + ${c}u * G)`;
  const lseOf = (r: number, c: number) => dkdv ? `lse_s[cg + ${c}u * G]` : `lse${r}`;
  const deltaOf = (r: number, c: number) => dkdv ? `delta_s[cg + ${c}u * G]` : `delta${r}`;
  const grads = dkdv ? ["dk", "dv"] : ["dq"];
  const accs = (f: (name: string, r: number, e: number) => string) =>
    grads.map((name) => rows((r) => unroll(np / G, (e) => f(name, r, e)))).join("\n");
  // Pack of gradient register e: chunk e / NF, slot cg + (e % NF) G within it.
  const packOf = (e: number) => `${Math.floor(e / NF) * cp}u + cg + ${e % NF}u * G`;
  const gradientChunk = (ci: number) =>
    `    if (${ci * cp}u < hp) {
${stage(tileA, "t0", "BT", `${ci * cp}u`, "      ")}
${dkdv ? stage(tileB, "t0", "BT", `${ci * cp}u`, "      ") : ""}
      workgroupBarrier();
      for (var c = 0u; c < BT; c++) {
${
      rows((r) =>
        `        let w${r} = ds_s[row${r} * BT + c];` +
        (dkdv ? `\n        let pw${r} = p_s[row${r} * BT + c];` : "")
      )
    }
${
      unroll(NF, (f) =>
        `        let x${f} = ${tileA}_s[c * CPS + cg + ${f}u * G];` +
        (dkdv ? `\n        let y${f} = ${tileB}_s[c * CPS + cg + ${f}u * G];` : ""))
    }
${
      rows((r) =>
        unroll(NF, (f) => {
          const e = ci * NF + f;
          return dkdv
            ? `        dk${r}_${e} += w${r} * x${f};\n        dv${r}_${e} += pw${r} * y${f};`
            : `        dq${r}_${e} += w${r} * x${f};`;
        })
      )
    }
      }
      workgroupBarrier();
    }`;
  const write = (name: string, buffer: string, r: number) =>
    unroll(np / G, (e) =>
      `    if (${packOf(e)} < hp) {
      let at = base + ${packOf(e)};
      if (p.accumulate != 0u) { ${buffer}[at] += ${name}${r}_${e}; } else { ${buffer}[at] = ${name}${r}_${e}; }
    }`);
  const shared = { t, kernel, dkdv, G, TR, invocations, ownA, ownB, tileA, tileB };
  return `// Tiled causal sliding-window attention backward, ${kernel}, head dimension streamed ${chunk}
// floats at a time (generated by src/engine/webgpu/attention_tiled.ts): ${t.ownRows} own rows,
// ${t.tileRows}-row tiles, ${TR}x${TC} score blocks per invocation.
${backwardDeclarations({ ...shared, packs: cp, streamed: true })}
${rows((r) => `  let row${r} = rg + ${r}u * RG;\n  let ${own}${r} = o0 + row${r};`)}
${
    dkdv ? "" : rows((r) =>
      `  let lse${r} = lse[stats + min(i${r}, p.seq - 1u)];
  let delta${r} = delta[stats + min(i${r}, p.seq - 1u)];`
    )
  }
${accs((name, r, e) => `  var ${name}${r}_${e} = vec4<f32>(0.0);`)}
${
    dkdv
      ? `  let t_begin = o0;
  let t_end = min(p.seq, min(o0 + BO, p.seq) - 1u + p.window + 1u);`
      : `  let t_begin = select(0u, o0 - p.window, o0 > p.window);
  let t_end = min(o0 + BO, p.seq);`
  }
  for (var t0 = t_begin; t0 < t_end; t0 += BT) {
${
    dkdv
      ? `    for (var e = lid; e < BT; e += WG) {
      lse_s[e] = lse[stats + min(t0 + e, p.seq - 1u)];
      delta_s[e] = delta[stats + min(t0 + e, p.seq - 1u)];
    }`
      : ""
  }
${block((r, c) => `    var s${r}_${c} = 0.0;\n    var dp${r}_${c} = 0.0;`)}
    for (var d0 = 0u; d0 < hp; d0 += CP) {
${stage(ownA, "o0", "BO", "d0", "      ")}
${stage(ownB, "o0", "BO", "d0", "      ")}
${stage(tileA, "t0", "BT", "d0", "      ")}
${stage(tileB, "t0", "BT", "d0", "      ")}
      workgroupBarrier();
      for (var d = 0u; d < CP; d++) {
${
    rows((r) =>
      `        let a${r} = ${ownA}_s[row${r} * CPS + d];\n        let b${r} = ${ownB}_s[row${r} * CPS + d];`
    )
  }
${
    cols((c) =>
      `        let x${c} = ${tileA}_s[(cg + ${c}u * G) * CPS + d];\n        let y${c} = ${tileB}_s[(cg + ${c}u * G) * CPS + d];`
    )
  }
${
    block((r, c) =>
      `        s${r}_${c} += dot(a${r}, x${c});\n        dp${r}_${c} += dot(b${r}, y${c});`
    )
  }
      }
      workgroupBarrier();
    }
${
    block((r, c) =>
      `    {
      let pr = select(0.0, exp(s${r}_${c} * p.scale - ${lseOf(r, c)}), ${visibleOf(r, c)});
      ds_s[row${r} * BT + cg + ${c}u * G] = pr * (dp${r}_${c} - ${deltaOf(r, c)}) * p.scale;${
        dkdv ? `\n      p_s[row${r} * BT + cg + ${c}u * G] = pr;` : ""
      }
    }`
    )
  }
    workgroupBarrier();
${unroll(chunks, gradientChunk)}
  }
${
    rows((r) =>
      `  if (${own}${r} < p.seq) {
    let base = row_base(b, ${own}${r}, h);
${dkdv ? write("dk", "out", r) + "\n" + write("dv", "out2", r) : write("dq", "out", r)}
  }`
    )
  }
}
`;
}

/**
 * The streamed form of the forward: per key tile, S accumulates over chunks of `chunk` floats of
 * the head dimension (the Q and K chunk staged, barrier, block dot products, barrier); the
 * softmax as in the whole-row form (barrier after the maxima, barrier after P); then O
 * accumulates chunk by chunk from the V chunk (staged into the K chunk's buffer, barrier,
 * multiply-adds, barrier). Each invocation's output packs cg + e G fall chunk / (4 G) into every
 * chunk.
 */
function streamedForwardWgsl(t: AttentionTiledParams, capacity: number, chunk: number): string {
  const G = tiledKeyGroups(t);
  const TR = t.blockRows, TC = t.blockKeys;
  const np = capacity / 4;
  const cp = chunk / 4;
  if (!Number.isInteger(np) || np % cp !== 0) throw new Error("tiled attention: bad capacity");
  const chunks = np / cp;
  const NF = cp / G; // output packs per invocation per chunk
  const NE = np / G;
  const rows = (f: (r: number) => string) => unroll(TR, f);
  const block = (f: (r: number, c: number) => string) =>
    unroll(TR, (r) => unroll(TC, (c) => f(r, c)));
  const outs = (f: (r: number, e: number) => string) =>
    unroll(TR, (r) => unroll(NE, (e) => f(r, e)));
  const packOf = (e: number) => `${Math.floor(e / NF) * cp}u + cg + ${e % NF}u * G`;
  // Rows [first, first + count) of `src`, packs [d0, d0 + CP), zero past the sequence/head dim.
  const stage = (src: string, dst: string, first: string, count: string, d0: string, ind: string) =>
    `${ind}for (var e = lid; e < ${count} * CP; e += WG) {
${ind}  let r = e / CP;
${ind}  let c = ${d0} + e % CP;
${ind}  var x = vec4<f32>(0.0);
${ind}  if (${first} + r < p.seq && c < hp) { x = ${src}[row_base(b, ${first} + r, h) + c]; }
${ind}  ${dst}[r * CPS + e % CP] = x;
${ind}}`;
  const valueChunk = (ci: number) =>
    `    if (${ci * cp}u < hp) {
${stage("v", "kc_s", "kt", "BC", `${ci * cp}u`, "      ")}
      workgroupBarrier();
      for (var c = 0u; c < BC; c++) {
${rows((r) => `        let w${r} = ps[row${r} * BC + c];`)}
${unroll(NF, (f) => `        let v${f} = kc_s[c * CPS + cg + ${f}u * G];`)}
${rows((r) => unroll(NF, (f) => `        o${r}_${ci * NF + f} += w${r} * v${f};`))}
      }
      workgroupBarrier();
    }`;
  return `// Tiled causal sliding-window attention forward, head dimension streamed ${chunk} floats at a
// time (generated by src/engine/webgpu/attention_tiled.ts): BR=${t.queryRows} query rows,
// BC=${t.keyTile}-key tiles, ${TR}x${TC} score blocks per invocation.
struct Params {
  batch: u32, seq: u32, heads: u32, head_dim: u32,
  window: u32, accumulate: u32, _pad0: u32, _pad1: u32,
  scale: f32, _pad2: f32, _pad3: f32, _pad4: f32,
}

const CP: u32 = ${cp}u;        // vec4 packs per chunk
const CPS: u32 = ${
    cp + 1
  }u;       // row stride in workgroup tiles (one pad vec4 against bank conflicts)
const BR: u32 = ${t.queryRows}u;
const BC: u32 = ${t.keyTile}u;
const G: u32 = ${G}u;          // key groups: invocations per row
const RG: u32 = ${t.queryRows / TR}u;        // row groups
const WG: u32 = ${tiledInvocations(t)}u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> qc_s: array<vec4<f32>, ${t.queryRows * (cp + 1)}>;   // a chunk of Q [row][pack]
var<workgroup> kc_s: array<vec4<f32>, ${
    t.keyTile * (cp + 1)
  }>;   // a chunk of K, then of V [key][pack]
var<workgroup> ps: array<f32, ${t.queryRows * t.keyTile}>;      // probabilities [row][key]
var<workgroup> rowmax: array<f32, ${t.queryRows * G}>;   // per-invocation row maxima, then sums

fn row_base(b: u32, t: u32, h: u32) -> u32 {
  return ((b * p.seq + t) * p.heads + h) * (p.head_dim / 4u);
}

fn visible(i: u32, j: u32) -> bool {
  return i < p.seq && j <= i && i - j <= p.window;
}

@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.heads;
  let h = wid.y % p.heads;
  let hp = p.head_dim / 4u;
  let q0 = wid.x * BR;
  let cg = lid % G;
  let rg = lid / G;
${rows((r) => `  let row${r} = rg + ${r}u * RG;\n  let i${r} = q0 + row${r};`)}
${rows((r) => `  var m${r} = -3.0e38;\n  var l${r} = 0.0;`)}
${outs((r, e) => `  var o${r}_${e} = vec4<f32>(0.0);`)}
  let k_begin = select(0u, q0 - p.window, q0 > p.window);
  let k_end = min(q0 + BR, p.seq);
  for (var kt = k_begin; kt < k_end; kt += BC) {
${block((r, c) => `    var s${r}_${c} = 0.0;`)}
    for (var d0 = 0u; d0 < hp; d0 += CP) {
${stage("q", "qc_s", "q0", "BR", "d0", "      ")}
${stage("k", "kc_s", "kt", "BC", "d0", "      ")}
      workgroupBarrier();
      for (var d = 0u; d < CP; d++) {
${rows((r) => `        let a${r} = qc_s[row${r} * CPS + d];`)}
${unroll(TC, (c) => `        let k${c} = kc_s[(cg + ${c}u * G) * CPS + d];`)}
${block((r, c) => `        s${r}_${c} += dot(a${r}, k${c});`)}
      }
      workgroupBarrier();
    }
${
    block((r, c) =>
      `    s${r}_${c} = select(-3.0e38, s${r}_${c} * p.scale, visible(i${r}, kt + cg + ${c}u * G));`
    )
  }
${onlineSoftmaxStep(TR, TC, NE)}
    workgroupBarrier();
${unroll(chunks, valueChunk)}
  }
  // Row sums across the G invocations of each row (rowmax's last reads were before a barrier).
${rows((r) => `  rowmax[row${r} * G + cg] = l${r};`)}
  workgroupBarrier();
${
    rows((r) =>
      `  if (i${r} < p.seq) {
    var sum = 0.0;
    for (var g = 0u; g < G; g++) { sum += rowmax[row${r} * G + g]; }
    let inv = 1.0 / sum;
    let base = row_base(b, i${r}, h);
${unroll(NE, (e) => `    if (${packOf(e)} < hp) { out[base + ${packOf(e)}] = o${r}_${e} * inv; }`)}
    if (cg == 0u) { lse[(b * p.heads + h) * p.seq + i${r}] = m${r} + log(sum); }
  }`
    )
  }
}
`;
}
