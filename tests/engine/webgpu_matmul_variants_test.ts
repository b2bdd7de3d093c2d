/**
 * Every matmul variant the autotuner may choose, forced one at a time, against an f64 reference:
 * every transpose combination, shapes that cross tile edges in every dimension, batches with
 * offsets, padded and broadcast strides, alpha/beta (beta = 0 with NaN in C), k = 0 and split-K
 * shapes. A variant runs on every case its `supports()` claims, so a claim is checked, and every
 * variant must claim a case under every transpose. Data are multiples of 1/8 in [-1, 1], so every
 * product and sum is exact in f32 whatever the summation order and the check is equality; one
 * case of general floats checks the rounding bound (f32, and f16 for the f16 variants).
 */
import assert from "node:assert/strict";
import { gpuTest, rng } from "./webgpu_helpers.ts";
import type { WebGpuBackend, WebGpuBuffer } from "../../src/engine/webgpu/mod.ts";
import type { MatmulParams } from "../../src/engine/backend.ts";
import {
  defaultMatmulVariant,
  MATMUL_VARIANTS,
  type MatmulDeviceCaps,
  type MatmulRecorder,
  type MatmulShape,
  matmulVariant,
  matmulVec4Ok,
  TILE64,
} from "../../src/engine/webgpu/matmul_variants.ts";

/** One launch of the test matrix. */
interface Case {
  name: string;
  m: number;
  n: number;
  k: number;
  batch: number;
  offsets: [number, number, number];
  /** Batch strides of A, B, C; undefined = packed. */
  strides?: [number, number, number];
  alpha: number;
  beta: number;
  /** General floats (rounding-bound check) instead of exact multiples of 1/8. */
  general?: boolean;
  /** Only for split-K variants (long K: slow for the others on a CPU driver). */
  splitOnly?: boolean;
}

const CASES: Case[] = [
  // Crosses every tile edge, nothing a multiple of 4: the scalar-load variants.
  { name: "odd", m: 131, n: 75, k: 37, batch: 1, offsets: [0, 0, 0], alpha: 0.5, beta: 1 },
  // Multiples of 4 that divide no tile: the vec4 variants.
  { name: "edges", m: 132, n: 76, k: 36, batch: 1, offsets: [0, 0, 0], alpha: 0.5, beta: 1 },
  {
    name: "general floats",
    m: 68,
    n: 44,
    k: 52,
    batch: 1,
    offsets: [0, 0, 0],
    alpha: 0.7,
    beta: -0.3,
    general: true,
  },
  // Batched, aligned offsets, padded strides, B broadcast, beta = 0 over NaN.
  {
    name: "batch aligned",
    m: 20,
    n: 44,
    k: 28,
    batch: 3,
    offsets: [4, 8, 12],
    strides: [20 * 28 + 4, 0, 20 * 44 + 8],
    alpha: -1.5,
    beta: 0,
  },
  // The same with offsets and strides that are not multiples of 4.
  {
    name: "batch unaligned",
    m: 20,
    n: 44,
    k: 28,
    batch: 3,
    offsets: [1, 3, 2],
    strides: [20 * 28 + 5, 0, 20 * 44 + 3],
    alpha: 2,
    beta: 0,
  },
  { name: "k = 0", m: 12, n: 8, k: 0, batch: 2, offsets: [0, 0, 0], alpha: 1, beta: 2 },
  // Tall-skinny: K long enough for every split.
  {
    name: "split-K",
    m: 20,
    n: 36,
    k: 4100,
    batch: 2,
    offsets: [4, 0, 8],
    alpha: 0.5,
    beta: 0.25,
    splitOnly: true,
  },
  {
    name: "split-K unaligned",
    m: 19,
    n: 35,
    k: 4099,
    batch: 1,
    offsets: [1, 2, 3],
    alpha: 1,
    beta: 0,
    splitOnly: true,
  },
];

const TRANSPOSES: [boolean, boolean][] = [[false, false], [true, false], [false, true], [
  true,
  true,
]];

/** n values: multiples of 1/8 in [-1, 1] (exact sums), or general floats in [-1, 1). */
function data(n: number, seed: number, general: boolean): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => general ? next() : Math.round(next() * 8) / 8);
}

/** Elements each operand needs: offset + (batch - 1) * stride + one matrix. */
function layout(c: Case) {
  const sizes = [c.m * c.k, c.k * c.n, c.m * c.n];
  const strides = c.strides ?? sizes;
  const lengths = sizes.map((size, i) => c.offsets[i] + (c.batch - 1) * strides[i] + size + 3);
  return { sizes, strides, lengths };
}

/** Reference C and the sum of |terms| per element (for rounding bounds), in f64. */
function reference(
  c: Case,
  transA: boolean,
  transB: boolean,
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
) {
  const { strides, lengths } = layout(c);
  const want = Float64Array.from(c0);
  const scale = new Float64Array(lengths[2]);
  const inside = new Uint8Array(lengths[2]);
  const { m, n, k } = c;
  for (let item = 0; item < c.batch; item++) {
    const [oa, ob, oc] = c.offsets.map((o, i) => o + item * strides[i]);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        let abs = 0;
        for (let x = 0; x < k; x++) {
          const term = a[oa + (transA ? x * m + i : i * k + x)] *
            b[ob + (transB ? j * k + x : x * n + j)];
          sum += term;
          abs += Math.abs(term);
        }
        const at = oc + i * n + j;
        want[at] = c.alpha * sum + (c.beta !== 0 ? c.beta * c0[at] : 0);
        scale[at] = Math.abs(c.alpha) * abs + Math.abs(c.beta * c0[at]);
        inside[at] = 1;
      }
    }
  }
  return { want, scale, inside };
}

/**
 * Rounding bound of one element: f32 sums of k terms (any order) err by at most (k + 2) u times
 * the sum of |terms| (u = 2^-24); f16 tiles add 2^-10 (both operands rounded to 11 bits) and
 * 2^-24 per term for f16 subnormals (|x| < 2^-14).
 */
function bound(scale: number, k: number, f16: boolean): number {
  const u = 2 ** -24;
  return ((k + 2) * u + (f16 ? 2 ** -10 : 0)) * scale + (f16 ? k * u : 0) + 1e-30;
}

async function runCase(
  g: WebGpuBackend,
  c: Case,
  transA: boolean,
  transB: boolean,
  f16: boolean,
  matmul: (p: MatmulParams) => void = (p) => g.matmul(p),
): Promise<void> {
  const { strides, lengths } = layout(c);
  const seed = c.m * 7 + c.k * 3 + (transA ? 1 : 0) + (transB ? 2 : 0);
  const a = data(lengths[0], seed, Boolean(c.general));
  const b = data(lengths[1], seed + 1, Boolean(c.general));
  // beta = 0: C starts as NaN, which must not reach the result.
  const c0 = c.beta === 0
    ? new Float32Array(lengths[2]).fill(NaN)
    : data(lengths[2], seed + 2, Boolean(c.general));
  const [bufA, bufB, bufC] = [a, b, c0].map((x) => {
    const buffer = g.alloc("f32", x.length);
    g.write(buffer, x);
    return buffer;
  });
  try {
    matmul({
      a: bufA,
      b: bufB,
      c: bufC,
      m: c.m,
      n: c.n,
      k: c.k,
      batch: c.batch,
      transA,
      transB,
      alpha: c.alpha,
      beta: c.beta,
      offsetA: c.offsets[0],
      offsetB: c.offsets[1],
      offsetC: c.offsets[2],
      strideA: strides[0],
      strideB: strides[1],
      strideC: strides[2],
    });
    const got = await g.read(bufC);
    const { want, scale, inside } = reference(c, transA, transB, a, b, c0);
    for (let i = 0; i < got.length; i++) {
      // Outside the C matrices (offsets, stride gaps) nothing may change.
      const ok = !inside[i]
        ? Object.is(got[i], c0[i])
        : c.general
        ? Math.abs(got[i] - want[i]) <= bound(scale[i], c.k, f16)
        : got[i] === want[i];
      if (!ok) {
        throw new Error(
          `${c.name} transA=${transA} transB=${transB}: element ${i}: got ${got[i]}, want ${
            want[i]
          }` +
            (c.general ? ` (bound ${bound(scale[i], c.k, f16)})` : ""),
        );
      }
    }
  } finally {
    for (const buffer of [bufA, bufB, bufC]) g.free(buffer);
  }
}

function shapeOf(c: Case, transA: boolean, transB: boolean): MatmulShape {
  const { strides } = layout(c);
  return {
    m: c.m,
    n: c.n,
    k: c.k,
    batch: c.batch,
    transA,
    transB,
    aligned: [...c.offsets, ...strides].every((x) => x % 4 === 0),
  };
}

for (const variant of MATMUL_VARIANTS) {
  gpuTest(
    `webgpu matmul variant ${variant.id}: every transpose and case it supports`,
    async (g) => {
      const caps = g.matmulCaps;
      if (variant.precision === "f16" && !caps.shaderF16) {
        assert.ok(!variant.supports(shapeOf(CASES[1], false, false), caps), "f16 needs shader-f16");
        return;
      }
      g.forcedMatmulVariant = variant;
      const split = (variant.tile?.splits ?? 1) > 1;
      for (const [transA, transB] of TRANSPOSES) {
        let ran = 0;
        for (const c of CASES) {
          if (c.splitOnly && !split) continue;
          if (!variant.supports(shapeOf(c, transA, transB), caps)) continue;
          await runCase(g, c, transA, transB, variant.precision === "f16");
          ran++;
        }
        assert.ok(ran > 0, `${variant.id} ran no case with transA=${transA} transB=${transB}`);
      }
    },
  );
}

gpuTest("webgpu matmul variants: a vec4 variant refuses unaligned launches", async (g) => {
  const vec4 = MATMUL_VARIANTS.find((v) => v.tile?.vec4 && v.precision === "f32")!;
  g.forcedMatmulVariant = vec4;
  const a = g.alloc("f32", 64);
  const b = g.alloc("f32", 64);
  const c = g.alloc("f32", 64);
  assert.throws(() => g.matmul({ a, b, c, m: 4, n: 4, k: 4, offsetA: 1 }), /does not support/);
  assert.throws(() => g.matmul({ a, b, c, m: 4, n: 3, k: 4 }), /does not support/);
  g.forcedMatmulVariant = null;
  g.matmul({ a, b, c, m: 4, n: 4, k: 4, offsetA: 1 }); // the default takes it
  await g.read(c);
});

gpuTest(
  "webgpu matmul variants: a batch over the grid's z limit is recorded in chunks",
  async (g) => {
    // A real recorder on this device, with the grid limit lowered to 2 workgroups per dimension.
    const caps = { ...g.matmulCaps, maxComputeWorkgroupsPerDimension: 2 };
    const scratch: WebGpuBuffer[] = [];
    const grids: number[][] = [];
    const recorder: MatmulRecorder = {
      caps,
      dispatch: (spec, uniforms, buffers, grid) => {
        grids.push([...grid]);
        g.dispatcher.dispatch(spec, uniforms, buffers, grid);
      },
      scratch: (elements) => {
        const buffer = g.alloc("f32", elements);
        scratch.push(buffer);
        return { buffer: buffer.gpu };
      },
    };
    const c: Case = {
      name: "5 items, 2 per chunk",
      m: 20,
      n: 44,
      k: 28,
      batch: 5,
      offsets: [4, 0, 8],
      strides: [20 * 28, 28 * 44, 20 * 44 + 4],
      alpha: 1,
      beta: 0.5,
    };
    const chosen = [
      TILE64,
      MATMUL_VARIANTS.find((v) => v.tile?.vec4 && v.tile.splits === 1 && v.tile.bn <= 32)!,
      MATMUL_VARIANTS.find((v) =>
        v.tile && !v.tile.vec4 && v.tile.splits === 1 && v.tile.bn <= 32
      )!,
    ];
    for (const variant of chosen) {
      for (const [transA, transB] of [[false, false], [true, true]]) {
        assert.ok(variant.supports(shapeOf(c, transA, transB), caps), variant.id);
        grids.length = 0;
        await runCase(g, c, transA, transB, false, (p) =>
          variant.record({
            shape: { m: p.m, n: p.n, k: p.k, batch: p.batch!, transA, transB },
            alpha: p.alpha!,
            beta: p.beta!,
            a: { buffer: (p.a as WebGpuBuffer).gpu },
            b: { buffer: (p.b as WebGpuBuffer).gpu },
            c: { buffer: (p.c as WebGpuBuffer).gpu },
            offsetA: p.offsetA!,
            offsetB: p.offsetB!,
            offsetC: p.offsetC!,
            strideA: p.strideA!,
            strideB: p.strideB!,
            strideC: p.strideC!,
          }, recorder));
        assert.deepEqual(grids.map((grid) => grid[2]), [2, 2, 1], `${variant.id}: z per dispatch`);
      }
    }
    // Split-K puts items x splits on the z axis: it declines what does not fit.
    const tall = { ...shapeOf(c, false, false), m: 20, n: 20, k: 65536 };
    for (const v of MATMUL_VARIANTS.filter((v) => (v.tile?.splits ?? 1) > 1)) {
      assert.ok(!v.supports(tall, caps), v.id);
    }
    for (const buffer of scratch) g.free(buffer);
  },
);

const CAPS: MatmulDeviceCaps = {
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  minStorageBufferOffsetAlignment: 256,
  shaderF16: true,
};

Deno.test("matmul variants: stable unique ids naming their parameters, the default first", () => {
  assert.equal(MATMUL_VARIANTS[0], TILE64);
  const ids = MATMUL_VARIANTS.map((v) => v.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const variant of MATMUL_VARIANTS) {
    assert.equal(matmulVariant(variant.id), variant);
    assert.ok(variant.description.length > 0);
    const t = variant.tile;
    if (!t) continue;
    assert.match(
      variant.id,
      new RegExp(`^t${t.bm}x${t.bn}-r${t.tm}x${t.tn}-k${t.bk}-wg\\d+x\\d+-`),
    );
    assert.equal(variant.id.includes("-v4"), t.vec4);
    assert.equal(variant.id.includes("-db"), t.double);
    assert.equal(variant.id.includes("-f16"), t.f16);
    assert.equal(variant.precision, t.f16 ? "f16" : "f32");
  }
  const big = { m: 4096, n: 4096, k: 4096, batch: 1, transA: false, transB: false };
  assert.equal(defaultMatmulVariant(big).precision, "f32");
  assert.equal(defaultMatmulVariant({ ...big, m: 64, n: 64 }), TILE64);
});

Deno.test("matmul variants: supports() respects caps, alignment and split-K limits", () => {
  const shape = { m: 256, n: 256, k: 256, batch: 1, transA: false, transB: false };
  const generated = MATMUL_VARIANTS.filter((v) => v.tile);
  const f16 = generated.filter((v) => v.precision === "f16");
  assert.ok(f16.length > 0 && f16.every((v) => !v.supports(shape, { ...CAPS, shaderF16: false })));
  const smallMemory = { ...CAPS, maxComputeWorkgroupStorageSize: 8192 };
  const fits = (v: (typeof generated)[number]) => {
    const t = v.tile!;
    return t.bk * (t.bm + t.bn) * (t.f16 ? 2 : 4) * (t.double ? 2 : 1) <= 8192;
  };
  for (const v of generated) {
    if (!fits(v)) assert.ok(!v.supports(shape, smallMemory), `${v.id} over 8 KiB of tiles`);
  }
  const fewInvocations = { ...CAPS, maxComputeInvocationsPerWorkgroup: 64 };
  for (const v of generated) {
    const t = v.tile!;
    if ((t.bm / t.tm) * (t.bn / t.tn) > 64) assert.ok(!v.supports(shape, fewInvocations), v.id);
  }
  for (const v of generated.filter((v) => v.tile!.vec4)) {
    assert.ok(!v.supports({ ...shape, aligned: false }, CAPS), `${v.id}: unaligned offsets`);
    assert.ok(!v.supports({ ...shape, n: 255 }, CAPS), `${v.id}: n % 4`);
    assert.ok(!v.supports({ ...shape, k: 255 }, CAPS), `${v.id}: k % 4 (A row-major)`);
    if (v.tile!.splits === 1) {
      // Transposed A and plain B are contiguous along m and n: k is free.
      assert.ok(v.supports({ ...shape, k: 255, transA: true }, CAPS), `${v.id}: k free`);
      assert.ok(matmulVec4Ok({ ...shape, k: 255, transA: true }));
    }
  }
  const splitK = generated.filter((v) => v.tile!.splits > 1);
  assert.ok(splitK.length > 0);
  for (const v of splitK) {
    assert.ok(!v.supports(shape, CAPS), `${v.id}: k too short to split`);
    assert.ok(v.supports({ ...shape, m: 64, n: 64, k: 65536 }, CAPS), `${v.id}: tall-skinny`);
  }
});
