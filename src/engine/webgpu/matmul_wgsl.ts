/**
 * WGSL generator of the tiled matmul variants: one function, `matmulKernelWgsl`, turns tile
 * parameters (block tile, register tile, K step, load width, buffering, f16 tiles, split-K) into
 * the text of one kernel for one transpose combination. Generated, not hand-written, because the
 * fast forms need every register-tile access unrolled into named variables (a dynamically indexed
 * accumulator array spills to local memory on most compilers) and every workgroup-memory offset a
 * constant, which no WGSL loop guarantees. The text is built in memory (compile-safe: nothing is
 * read from the source tree at run time).
 *
 * The kernel (C = alpha * op(A) @ op(B) + beta * C, row-major f32 in memory, batched):
 * - a workgroup of (bn/tn) x (bm/tm) invocations computes a bm x bn tile of C; each invocation a
 *   tm x tn block held in tm * tn/4 vec4 accumulators, its rows spread as tm/4 groups of 4 (and
 *   its columns as tn/4 groups of 4) so neighbouring invocations read neighbouring vec4s;
 * - per K step of bk, the op(A) tile (bm x bk) and op(B) tile (bk x bn) go to workgroup memory
 *   k-major as vec4s along m and n; loads walk each operand's contiguous dimension (coalesced for
 *   every transpose), as vec4 when the variant is vec4, and a load along k is stored transposed;
 * - double buffering: the next K slice is loaded into registers while the current one is
 *   multiplied, then stored into the other of two workgroup tiles (one barrier per step);
 * - split-K: grid z = batch item * splits + split; each split multiplies its own range of K and
 *   writes raw partial sums to a scratch buffer that `matmulReduceWgsl` sums, applying alpha/beta;
 * - f16: workgroup tiles hold f16 (operands rounded once), products and sums stay f32.
 */

/** The parameters of one generated kernel. */
export interface MatmulTileParams {
  /** Rows of the C tile per workgroup. */
  bm: number;
  /** Columns of the C tile per workgroup. */
  bn: number;
  /** K step (depth of the workgroup-memory tiles). */
  bk: number;
  /** Rows of C per invocation (multiple of 4). */
  tm: number;
  /** Columns of C per invocation (multiple of 4). */
  tn: number;
  /** Global loads and stores as vec4 (needs aligned operands, see `matmulVec4Ok`). */
  vec4: boolean;
  /** Two workgroup tiles, next K slice prefetched into registers. */
  double: boolean;
  /** Workgroup tiles in f16 (needs `shader-f16`), f32 accumulation. */
  f16: boolean;
  /** Split K into this many ranges (partial sums + a reduce pass); 1 = no split. */
  splits: number;
}

/** Workgroup size (x along n, y along m). */
export function tileWorkgroup(t: MatmulTileParams): [number, number] {
  return [t.bn / t.tn, t.bm / t.tm];
}

/** Workgroup memory the kernel declares, bytes. */
export function tileSharedBytes(t: MatmulTileParams): number {
  return t.bk * (t.bm + t.bn) * (t.f16 ? 2 : 4) * (t.double ? 2 : 1);
}

/** Whether the parameters make a well-formed kernel (powers of two, tiles divisible). */
export function tileParamsValid(t: MatmulTileParams): boolean {
  const pow2 = (x: number) => Number.isInteger(x) && x > 0 && (x & (x - 1)) === 0;
  return [t.bm, t.bn, t.bk, t.tm, t.tn].every(pow2) && t.tm >= 4 && t.tn >= 4 && t.bk >= 4 &&
    t.bm % t.tm === 0 && t.bn % t.tn === 0 && (t.bm / t.tm) * (t.bn / t.tn) >= 4 &&
    Number.isInteger(t.splits) && t.splits >= 1;
}

/**
 * The shared uniform block of the generated kernels and the reduce pass (16 words):
 * m n k batch | stride_a stride_b stride_c splits | offset_a offset_b offset_c k_chunk |
 * alpha beta. Offsets and strides are in elements.
 */
const PARAMS = `struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  stride_a: u32, stride_b: u32, stride_c: u32, splits: u32,
  offset_a: u32, offset_b: u32, offset_c: u32, k_chunk: u32,
  alpha: f32, beta: f32, _pad0: f32, _pad1: f32,
}`;

/** How one operand's tile is loaded: its extents along the contiguous and strided dimensions. */
interface LoadPlan {
  /** "a" or "b". */
  name: string;
  /** The contiguous dimension is K (the load is stored transposed). */
  alongK: boolean;
  /** Tile extent along the contiguous dimension, and along the strided one. */
  cl: number;
  sl: number;
  /** Tile extent along m (A) or n (B): the row length of the k-major workgroup tile, in floats. */
  mn: number;
  /** WGSL expressions: leading dimension, tile origins and bounds of each dimension. */
  ld: string;
  c0: string;
  cEnd: string;
  s0: string;
  sEnd: string;
}

function plans(t: MatmulTileParams, transA: boolean, transB: boolean): [LoadPlan, LoadPlan] {
  // A is (m, k) row-major, or (k, m) when transposed; B is (k, n), or (n, k) when transposed.
  const a: LoadPlan = transA
    ? {
      name: "a",
      alongK: false,
      cl: t.bm,
      sl: t.bk,
      mn: t.bm,
      ld: "p.m",
      c0: "row0",
      cEnd: "p.m",
      s0: "k0",
      sEnd: "k_end",
    }
    : {
      name: "a",
      alongK: true,
      cl: t.bk,
      sl: t.bm,
      mn: t.bm,
      ld: "p.k",
      c0: "k0",
      cEnd: "k_end",
      s0: "row0",
      sEnd: "p.m",
    };
  const b: LoadPlan = transB
    ? {
      name: "b",
      alongK: true,
      cl: t.bk,
      sl: t.bn,
      mn: t.bn,
      ld: "p.k",
      c0: "k0",
      cEnd: "k_end",
      s0: "col0",
      sEnd: "p.n",
    }
    : {
      name: "b",
      alongK: false,
      cl: t.bn,
      sl: t.bk,
      mn: t.bn,
      ld: "p.n",
      c0: "col0",
      cEnd: "p.n",
      s0: "k0",
      sEnd: "k_end",
    };
  return [a, b];
}

/**
 * The WGSL of one variant for one transpose combination. Bindings: 0 uniforms (Params), 1 A,
 * 2 B (read), 3 C (read-write; with split-K the scratch of partial sums, written only). Entry
 * point `main`; grid = (ceil(n/bn), ceil(m/bm), batch * splits).
 */
export function matmulKernelWgsl(t: MatmulTileParams, transA: boolean, transB: boolean): string {
  if (!tileParamsValid(t)) {
    throw new RangeError(`matmul tile parameters invalid: ${JSON.stringify(t)}`);
  }
  const [wgx, wgy] = tileWorkgroup(t);
  const threads = wgx * wgy;
  const w = t.vec4 ? 4 : 1;
  const elem = t.vec4 ? "vec4<f32>" : "f32";
  const st = t.f16 ? "f16" : "f32"; // workgroup tile scalar type
  // vec4 groups per invocation along m and n: row group g of invocation y holds rows
  // g * 4 * wgy + 4 * y .. + 3 of the tile (likewise columns).
  const groupsM = t.tm / 4;
  const groupsN = t.tn / 4;
  const [planA, planB] = plans(t, transA, transB);
  const out: string[] = [];
  const line = (s: string) => out.push(s);

  if (t.f16) line("enable f16;");
  line(
    `// Generated by src/engine/webgpu/matmul_wgsl.ts: ${
      JSON.stringify(t)
    }, transA=${transA}, transB=${transB}.`,
  );
  line(PARAMS);
  line("@group(0) @binding(0) var<uniform> p: Params;");
  line(`@group(0) @binding(1) var<storage, read> a: array<${elem}>;`);
  line(`@group(0) @binding(2) var<storage, read> b: array<${elem}>;`);
  line(`@group(0) @binding(3) var<storage, read_write> c: array<${elem}>;`);
  // Tiles indexed [kk * groups + g][buffer][y]: the vec4 of row group g, invocation row y, depth
  // kk. A read's only dynamic indices (buffer, y) stay the same through a K step, so the bounds
  // clamps WebGPU adds to every dynamic index are computed once per step, not once per read.
  const tileDecl = (name: string, groups: number, inner: number) =>
    t.double
      ? `var<workgroup> ${name}: array<array<array<vec4<${st}>, ${inner}>, 2>, ${t.bk * groups}>;`
      : `var<workgroup> ${name}: array<array<vec4<${st}>, ${inner}>, ${t.bk * groups}>;`;
  line(tileDecl("ta", groupsM, wgy));
  line(tileDecl("tb", groupsN, wgx));
  line(`
// Tile (column, row) of this workgroup: GROUP rows of tiles at a time down all columns, so tiles
// that run together share rows of A and columns of B in cache.
const GROUP: u32 = 8u;
fn tile_of(wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let pid = wid.y * nwg.x + wid.x;
  let per_group = GROUP * nwg.x;
  let first_row = (pid / per_group) * GROUP;
  let rows = min(nwg.y - first_row, GROUP);
  let in_group = pid % per_group;
  return vec2<u32>(in_group / rows, first_row + in_group % rows);
}
`);
  line(`@compute @workgroup_size(${wgx}, ${wgy}, 1)`);
  line(`fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {`);
  if (t.splits > 1) {
    line("  let item = wid.z / p.splits;");
    line("  let k_begin = (wid.z % p.splits) * p.k_chunk;");
    line("  let k_end = min(p.k, k_begin + p.k_chunk);");
  } else {
    line("  let item = wid.z;");
    line("  let k_begin = 0u;");
    line("  let k_end = p.k;");
  }
  line("  let tile = tile_of(wid, nwg);");
  line(`  let row0 = tile.y * ${t.bm}u;`);
  line(`  let col0 = tile.x * ${t.bn}u;`);
  // Base offsets in units of the binding's element (vec4 offsets are multiples of 4).
  line(`  let base_a = (p.offset_a + item * p.stride_a) / ${w}u;`);
  line(`  let base_b = (p.offset_b + item * p.stride_b) / ${w}u;`);

  // Per-thread load coordinates (invariant over K): chunk q = li + i * threads.
  const loadRegs: Record<string, number> = {};
  for (const plan of [planA, planB]) {
    const perLine = plan.cl / w;
    const chunks = (plan.cl * plan.sl) / w;
    const per = Math.ceil(chunks / threads);
    loadRegs[plan.name] = per;
    line(`  let ld_${plan.name} = ${plan.ld} / ${w}u;`);
    for (let i = 0; i < per; i++) {
      line(`  let q_${plan.name}${i} = li + ${i * threads}u;`);
      line(`  let c_${plan.name}${i} = (q_${plan.name}${i} % ${perLine}u) * ${w}u;`);
      line(`  let s_${plan.name}${i} = q_${plan.name}${i} / ${perLine}u;`);
      // Where the chunk goes in the tile: position mn along m (A) or n (B).
      const mn = plan.alongK ? `s_${plan.name}${i}` : `c_${plan.name}${i}`;
      const span = 4 * (plan.name === "a" ? wgy : wgx);
      line(`  let g_${plan.name}${i} = ${mn} / ${span}u;`);
      line(`  let y_${plan.name}${i} = (${mn} % ${span}u) / 4u;`);
      if (plan.alongK || !t.vec4) line(`  let e_${plan.name}${i} = ${mn} % 4u;`);
      line(`  var r_${plan.name}${i}: ${elem};`);
    }
  }

  const loads = (k0: string) => {
    const body: string[] = [];
    for (const plan of [planA, planB]) {
      const chunks = (plan.cl * plan.sl) / w;
      for (let i = 0; i < loadRegs[plan.name]; i++) {
        const id = `${plan.name}${i}`;
        const sub = (s: string) => s.replace("k0", k0);
        body.push(`    {`);
        body.push(`      let ci = ${sub(plan.c0)} + c_${id};`);
        body.push(`      let si = ${sub(plan.s0)} + s_${id};`);
        const guard = [`ci < ${plan.cEnd}`, `si < ${plan.sEnd}`];
        if (chunks % threads !== 0) guard.unshift(`q_${id} < ${chunks}u`);
        body.push(`      r_${id} = ${elem}(0.0);`);
        body.push(
          `      if (${
            guard.join(" && ")
          }) { r_${id} = ${plan.name}[base_${plan.name} + si * ld_${plan.name} + ci / ${w}u]; }`,
        );
        body.push(`    }`);
      }
    }
    return body;
  };

  const stores = (buffer: string) => {
    const body: string[] = [];
    const buf = t.double ? `[${buffer}]` : "";
    for (const plan of [planA, planB]) {
      const tile = plan.name === "a" ? "ta" : "tb";
      const groups = plan.name === "a" ? groupsM : groupsN;
      const chunks = (plan.cl * plan.sl) / w;
      for (let i = 0; i < loadRegs[plan.name]; i++) {
        const id = `${plan.name}${i}`;
        const guard = chunks % threads !== 0 ? `if (q_${id} < ${chunks}u) ` : "";
        const conv = (x: string) => t.f16 ? `${st}(${x})` : x;
        const at = (kk: string) => `${tile}[${kk} * ${groups}u + g_${id}]${buf}[y_${id}]`;
        if (plan.alongK) {
          // Depth kk = c + j, one component of w vec4s (a transposed store).
          for (let j = 0; j < w; j++) {
            const v = t.vec4 ? `r_${id}[${j}]` : `r_${id}`;
            body.push(`    ${guard}{ ${at(`(c_${id} + ${j}u)`)}[e_${id}] = ${conv(v)}; }`);
          }
        } else if (t.vec4) {
          // Depth kk = s, 4 consecutive positions along m/n: one whole vec4.
          const v = t.f16 ? `vec4<f16>(r_${id})` : `r_${id}`;
          body.push(`    ${guard}{ ${at(`s_${id}`)} = ${v}; }`);
        } else {
          body.push(`    ${guard}{ ${at(`s_${id}`)}[e_${id}] = ${conv(`r_${id}`)}; }`);
        }
      }
    }
    return body;
  };

  // Accumulators: acc_r_h holds row group/offset r (0..tm-1), column vec4 h (0..tn/4-1).
  for (let r = 0; r < t.tm; r++) {
    for (let h = 0; h < groupsN; h++) line(`  var acc_${r}_${h} = vec4<f32>(0.0);`);
  }

  const compute = (buffer: string) => {
    const body: string[] = [];
    const buf = t.double ? `[${buffer}]` : "";
    const conv = (x: string) => t.f16 ? `vec4<f32>(${x})` : x;
    for (let kk = 0; kk < t.bk; kk++) {
      body.push(`    {`);
      for (let g = 0; g < groupsM; g++) {
        body.push(`      let a${g} = ${conv(`ta[${kk * groupsM + g}u]${buf}[lid.y]`)};`);
      }
      for (let h = 0; h < groupsN; h++) {
        body.push(`      let b${h} = ${conv(`tb[${kk * groupsN + h}u]${buf}[lid.x]`)};`);
      }
      for (let r = 0; r < t.tm; r++) {
        const comp = "xyzw"[r % 4];
        for (let h = 0; h < groupsN; h++) {
          body.push(`      acc_${r}_${h} += a${Math.floor(r / 4)}.${comp} * b${h};`);
        }
      }
      body.push(`    }`);
    }
    return body;
  };

  if (t.double) {
    line("  // Prologue: the first K slice into buffer 0.");
    line("  {");
    line("    let k0 = k_begin;");
    out.push(...loads("k0"));
    out.push(...stores("0u"));
    line("  }");
    line("  workgroupBarrier();");
    line("  var cur = 0u;");
    line(`  for (var k0 = k_begin; k0 < k_end; k0 += ${t.bk}u) {`);
    line(`    let k_next = k0 + ${t.bk}u;`);
    line("    // Prefetch the next slice into registers while this one is multiplied.");
    out.push(...loads("k_next"));
    out.push(...compute("cur"));
    out.push(...stores("(1u - cur)"));
    line("    workgroupBarrier();");
    line("    cur = 1u - cur;");
    line("  }");
  } else {
    line(`  for (var k0 = k_begin; k0 < k_end; k0 += ${t.bk}u) {`);
    out.push(...loads("k0"));
    out.push(...stores("0u"));
    line("    workgroupBarrier();");
    out.push(...compute("0u"));
    line("    workgroupBarrier();");
    line("  }");
  }

  // Epilogue: row r of this invocation is row0 + (r / 4) * (bm / groupsM) + lid.y * 4 + r % 4,
  // column vec4 h starts at col0 + h * (bn / groupsN) + lid.x * 4.
  if (t.splits > 1) {
    line("  // Raw partial sums into the scratch: [z][m][n], z = item * splits + split.");
    line("  let base_c = wid.z * p.m * p.n;");
  } else {
    line(`  let base_c = p.offset_c + item * p.stride_c;`);
  }
  for (let r = 0; r < t.tm; r++) {
    const rowExpr = `row0 + ${Math.floor(r / 4) * (t.bm / groupsM) + (r % 4)}u + lid.y * 4u`;
    line(`  {`);
    line(`    let row = ${rowExpr};`);
    for (let h = 0; h < groupsN; h++) {
      line(`    {`);
      line(`      let col = col0 + ${h * (t.bn / groupsN)}u + lid.x * 4u;`);
      const acc = `acc_${r}_${h}`;
      if (t.vec4) {
        line(`      if (row < p.m && col < p.n) {`);
        line(`        let at = (base_c + row * p.n + col) / 4u;`);
        if (t.splits > 1) {
          line(`        c[at] = ${acc};`);
        } else {
          line(`        var v = p.alpha * ${acc};`);
          line(`        // beta == 0 never reads C: it may hold garbage or NaN.`);
          line(`        if (p.beta != 0.0) { v += p.beta * c[at]; }`);
          line(`        c[at] = v;`);
        }
        line(`      }`);
      } else {
        for (let j = 0; j < 4; j++) {
          line(`      if (row < p.m && col + ${j}u < p.n) {`);
          line(`        let at = base_c + row * p.n + col + ${j}u;`);
          if (t.splits > 1) {
            line(`        c[at] = ${acc}.${"xyzw"[j]};`);
          } else {
            line(`        var v = p.alpha * ${acc}.${"xyzw"[j]};`);
            line(`        if (p.beta != 0.0) { v += p.beta * c[at]; }`);
            line(`        c[at] = v;`);
          }
          line(`      }`);
        }
      }
      line(`    }`);
    }
    line(`  }`);
  }
  line("}");
  return out.join("\n") + "\n";
}

/** Invocations per workgroup of the reduce pass. */
export const REDUCE_WORKGROUP = 256;

/**
 * The split-K reduce pass: C = alpha * sum over splits of the partials + beta * C. Bindings:
 * 0 uniforms (Params: m, n, batch items, splits, offset_c, stride_c, alpha, beta), 1 partials
 * [item * splits + split][m][n] (read), 2 C. One invocation per element (or vec4) of C over all
 * items; grid = (x, y) with x * y * 256 >= the count, folded to fit the per-dimension limit.
 */
export function matmulReduceWgsl(vec4: boolean): string {
  const w = vec4 ? 4 : 1;
  const elem = vec4 ? "vec4<f32>" : "f32";
  return `${PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<${elem}>;
@group(0) @binding(2) var<storage, read_write> c: array<${elem}>;

@compute @workgroup_size(${REDUCE_WORKGROUP}, 1, 1)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let e = (wid.y * nwg.x + wid.x) * ${REDUCE_WORKGROUP}u + li;
  let per_item = p.m * p.n / ${w}u;
  if (e >= p.batch * per_item) { return; }
  let item = e / per_item;
  let at_item = e % per_item;
  var sum = ${elem}(0.0);
  for (var s = 0u; s < p.splits; s++) {
    sum += part[(item * p.splits + s) * per_item + at_item];
  }
  let at = (p.offset_c + item * p.stride_c) / ${w}u + at_item;
  var v = p.alpha * sum;
  // beta == 0 never reads C: it may hold garbage or NaN.
  if (p.beta != 0.0) { v += p.beta * c[at]; }
  c[at] = v;
}
`;
}
