/**
 * The WebAssembly SIMD sgemm kernels, emitted as bytes (see wasm_builder.ts): a 6x8 register-
 * blocked micro-kernel inside a BLIS-style macro-kernel, and the two packing routines that copy
 * blocks of A and B (any transpose, any stride) into the panel layouts the micro-kernel streams.
 *
 * Why 6x8: x64 V8 gives WebAssembly 15 usable xmm registers; 6x8 floats are 12 f32x4
 * accumulators, plus two B vectors and one broadcast A value = 15, so nothing spills.
 *
 * @module
 */
import { buildModule, F32, FunctionBuilder, I32, V128 } from "./wasm_builder.ts";

/** Rows of the micro-kernel's C tile (A panels are packed MR rows wide). */
export const MR = 6;
/** Columns of the micro-kernel's C tile (B panels are packed NR columns wide). */
export const NR = 8;

/**
 * `macro(ap, bp, mc, nc, kc, c, ldc, accumulate, tmp)`: C[mc,nc] (+)= Apacked[mc,kc] @
 * Bpacked[kc,nc]. Addresses and `ldc` are in bytes; `accumulate` 0 overwrites C, 1 adds to it;
 * `tmp` is a 192-byte scratch tile for the ragged right/bottom edges.
 */
function macroKernel(fma: boolean): FunctionBuilder {
  const f = new FunctionBuilder("macro", [I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [ap, bp, mc, nc, kc, c, ldc, accumulate, tmp] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const jr = f.local(I32), ir = f.local(I32), a = f.local(I32), b = f.local(I32);
  const p = f.local(I32), rowPtr = f.local(I32), rows = f.local(I32), cols = f.local(I32);
  const r = f.local(I32), q = f.local(I32), addr = f.local(I32);
  const acc: number[] = [];
  for (let i = 0; i < MR * 2; i++) acc.push(f.local(V128));
  const b0 = f.local(V128), b1 = f.local(V128), av = f.local(V128);

  f.i32(0).set(jr);
  f.loop(() => {
    f.i32(0).set(ir);
    f.loop(() => {
      // a = ap + ir*kc*4, b = bp + jr*kc*4: the micro-panels of this tile.
      f.get(ap).get(ir).get(kc).mul().i32(4).mul().add().set(a);
      f.get(bp).get(jr).get(kc).mul().i32(4).mul().add().set(b);
      for (const x of acc) f.v128Zero().set(x);
      f.get(kc).set(p);
      // The hot loop, one k step: 2 B loads, 6 broadcasts, 12 multiply-adds.
      f.loop(() => {
        f.get(b).v128Load(0).set(b0);
        f.get(b).v128Load(16).set(b1);
        for (let row = 0; row < MR; row++) {
          f.get(a).v128Load32Splat(row * 4).set(av);
          for (const [h, bv] of [[0, b0], [1, b1]]) {
            const x = acc[row * 2 + h];
            if (fma) f.get(av).get(bv).get(x).f32x4RelaxedMadd().set(x);
            else f.get(x).get(av).get(bv).f32x4Mul().f32x4Add().set(x);
          }
        }
        f.get(a).i32(MR * 4).add().set(a);
        f.get(b).i32(NR * 4).add().set(b);
        f.get(p).i32(1).sub().tee(p).brIf(0);
      });
      f.get(mc).get(ir).sub().set(rows);
      f.get(nc).get(jr).sub().set(cols);
      f.get(rows).i32(MR).geS().get(cols).i32(NR).geS().and();
      f.if(
        () => {
          // Full tile: write straight into C.
          f.get(c).get(ir).get(ldc).mul().add().get(jr).i32(4).mul().add().set(rowPtr);
          const store = (add: boolean) => {
            for (let row = 0; row < MR; row++) {
              for (let h = 0; h < 2; h++) {
                f.get(rowPtr);
                if (add) f.get(rowPtr).v128Load(h * 16).get(acc[row * 2 + h]).f32x4Add();
                else f.get(acc[row * 2 + h]);
                f.v128Store(h * 16);
              }
              if (row < MR - 1) f.get(rowPtr).get(ldc).add().set(rowPtr);
            }
          };
          f.get(accumulate);
          f.if(() => store(true), () => store(false));
        },
        () => {
          // Ragged edge: spill the tile to tmp, then add only the valid part to C.
          for (let row = 0; row < MR; row++) {
            for (let h = 0; h < 2; h++) {
              f.get(tmp).get(acc[row * 2 + h]).v128Store(row * 32 + h * 16);
            }
          }
          f.get(rows).i32(MR).get(rows).i32(MR).ltS().select().set(rows);
          f.get(cols).i32(NR).get(cols).i32(NR).ltS().select().set(cols);
          f.i32(0).set(r);
          f.block(() =>
            f.loop(() => {
              f.get(r).get(rows).geS().brIf(1);
              f.i32(0).set(q);
              f.block(() =>
                f.loop(() => {
                  f.get(q).get(cols).geS().brIf(1);
                  f.get(c).get(ir).get(r).add().get(ldc).mul().add()
                    .get(jr).get(q).add().i32(4).mul().add().set(addr);
                  f.get(addr);
                  f.get(tmp).get(r).i32(NR * 4).mul().add().get(q).i32(4).mul().add().f32Load();
                  f.get(addr).f32Load().f32(0).get(accumulate).select().f32Add();
                  f.f32Store();
                  f.get(q).i32(1).add().set(q).br(0);
                })
              );
              f.get(r).i32(1).add().set(r).br(0);
            })
          );
        },
      );
      f.get(ir).i32(MR).add().tee(ir).get(mc).ltS().brIf(0);
    });
    f.get(jr).i32(NR).add().tee(jr).get(nc).ltS().brIf(0);
  });
  return f;
}

/**
 * Emits a 4x4 transpose of the f32x4 locals `rows` into `out` (4 more locals), using `tmp` (4):
 * out[i] lane j = rows[j] lane i.
 */
function transpose4(f: FunctionBuilder, rows: number[], tmp: number[], out: number[]): void {
  const [r0, r1, r2, r3] = rows;
  f.get(r0).get(r1).f32x4Shuffle([0, 4, 1, 5]).set(tmp[0]); // r0p0 r1p0 r0p1 r1p1
  f.get(r2).get(r3).f32x4Shuffle([0, 4, 1, 5]).set(tmp[1]); // r2p0 r3p0 r2p1 r3p1
  f.get(r0).get(r1).f32x4Shuffle([2, 6, 3, 7]).set(tmp[2]); // r0p2 r1p2 r0p3 r1p3
  f.get(r2).get(r3).f32x4Shuffle([2, 6, 3, 7]).set(tmp[3]); // r2p2 r3p2 r2p3 r3p3
  f.get(tmp[0]).get(tmp[1]).f32x4Shuffle([0, 1, 4, 5]).set(out[0]);
  f.get(tmp[0]).get(tmp[1]).f32x4Shuffle([2, 3, 6, 7]).set(out[1]);
  f.get(tmp[2]).get(tmp[3]).f32x4Shuffle([0, 1, 4, 5]).set(out[2]);
  f.get(tmp[2]).get(tmp[3]).f32x4Shuffle([2, 3, 6, 7]).set(out[3]);
}

/**
 * `packA(dst, src, rs, cs, mc, kc, alpha)`: copies alpha * op(A)[mc,kc] (element (i,p) at
 * `src + i*rs + p*cs`, byte strides) into MR-row panels: panel-major, then p, then the MR rows;
 * the last panel is zero-padded.
 */
function packA(): FunctionBuilder {
  const f = new FunctionBuilder("packA", [I32, I32, I32, I32, I32, I32, F32], []);
  const [dst, src, rs, cs, mc, kc, alpha] = [0, 1, 2, 3, 4, 5, 6];
  const i0 = f.local(I32), rows = f.local(I32), s = f.local(I32), p = f.local(I32);
  const rowOffset: number[] = [];
  for (let row = 0; row < MR; row++) rowOffset.push(f.local(I32));
  for (let row = 0; row < MR; row++) f.get(rs).i32(row).mul().set(rowOffset[row]);
  const alphaV = f.local(V128);
  const v: number[] = [], t: number[] = [], cols: number[] = [];
  for (let i = 0; i < MR; i++) v.push(f.local(V128));
  for (let i = 0; i < 4; i++) t.push(f.local(V128));
  for (let i = 0; i < 4; i++) cols.push(f.local(V128));
  f.get(alpha).f32x4Splat().set(alphaV);
  f.i32(0).set(i0);
  f.loop(() => {
    f.get(mc).get(i0).sub().set(rows);
    f.get(src).get(i0).get(rs).mul().add().set(s);
    f.get(kc).set(p);
    const step = () => {
      f.get(dst).i32(MR * 4).add().set(dst);
      f.get(s).get(cs).add().set(s);
      f.get(p).i32(1).sub().tee(p).brIf(0);
    };
    const scalarFull = () =>
      f.loop(() => {
        for (let row = 0; row < MR; row++) {
          f.get(dst).get(s).get(rowOffset[row]).add().f32Load().get(alpha).f32Mul();
          f.f32Store(row * 4);
        }
        step();
      });
    f.get(rows).i32(MR).geS();
    f.if(
      () => {
        f.get(cs).i32(4).op(0x46); // A contiguous along k (not transposed)
        f.if(
          () => {
            // Four k steps at a time: one f32x4 per row, transposed 6x4 -> 4 x (6 floats).
            f.block(() =>
              f.loop(() => {
                f.get(p).i32(4).ltS().brIf(1);
                for (let row = 0; row < MR; row++) {
                  f.get(s).get(rowOffset[row]).add().v128Load().get(alphaV).f32x4Mul().set(v[row]);
                }
                transpose4(f, v.slice(0, 4), t, cols);
                f.get(v[4]).get(v[5]).f32x4Shuffle([0, 4, 1, 5]).set(t[0]); // r4p0 r5p0 r4p1 r5p1
                f.get(v[4]).get(v[5]).f32x4Shuffle([2, 6, 3, 7]).set(t[1]); // r4p2 r5p2 r4p3 r5p3
                for (let q = 0; q < 4; q++) {
                  f.get(dst).get(cols[q]).v128Store(q * MR * 4);
                  f.get(dst).get(t[q >> 1]).v128Store64Lane(q * MR * 4 + 16, q & 1);
                }
                f.get(dst).i32(4 * MR * 4).add().set(dst);
                f.get(s).i32(16).add().set(s);
                f.get(p).i32(4).sub().set(p);
                f.br(0);
              })
            );
            f.get(p).i32(0).op(0x4a); // k steps left over: the scalar loop
            f.if(scalarFull);
          },
          () => {
            f.get(rs).i32(4).op(0x46); // A^T: the MR rows of one k step are contiguous
            f.if(
              () =>
                f.loop(() => {
                  f.get(dst).get(s).v128Load().get(alphaV).f32x4Mul().v128Store();
                  f.get(dst).get(s).v128Load64Zero(16).get(alphaV).f32x4Mul();
                  f.v128Store64Lane(16, 0);
                  step();
                }),
              scalarFull,
            );
          },
        );
      },
      () =>
        f.loop(() => {
          // Ragged last panel: rows past mc are zeros.
          for (let row = 0; row < MR; row++) {
            f.get(dst);
            f.get(rows).i32(row).op(0x4a); // i32.gt_s: row < rows
            f.if(
              () => f.get(s).get(rowOffset[row]).add().f32Load().get(alpha).f32Mul(),
              () => f.f32(0),
              F32,
            );
            f.f32Store(row * 4);
          }
          step();
        }),
    );
    f.get(i0).i32(MR).add().tee(i0).get(mc).ltS().brIf(0);
  });
  return f;
}

/**
 * `packB(dst, src, rs, cs, kc, nc)`: copies op(B)[kc,nc] (element (p,j) at `src + p*rs + j*cs`,
 * byte strides) into NR-column panels: panel-major, then p, then the NR columns; zero-padded.
 */
function packB(): FunctionBuilder {
  const f = new FunctionBuilder("packB", [I32, I32, I32, I32, I32, I32], []);
  const [dst, src, rs, cs, kc, nc] = [0, 1, 2, 3, 4, 5];
  const j0 = f.local(I32), cols = f.local(I32), s = f.local(I32), p = f.local(I32);
  const colOffset: number[] = [];
  for (let col = 0; col < NR; col++) colOffset.push(f.local(I32));
  for (let col = 0; col < NR; col++) f.get(cs).i32(col).mul().set(colOffset[col]);
  const v: number[] = [], t: number[] = [], lo: number[] = [], hi: number[] = [];
  for (let i = 0; i < NR; i++) v.push(f.local(V128));
  for (let i = 0; i < 4; i++) t.push(f.local(V128));
  for (let i = 0; i < 4; i++) lo.push(f.local(V128));
  for (let i = 0; i < 4; i++) hi.push(f.local(V128));
  f.i32(0).set(j0);
  f.loop(() => {
    f.get(nc).get(j0).sub().set(cols);
    f.get(src).get(j0).get(cs).mul().add().set(s);
    f.get(kc).set(p);
    const step = () => {
      f.get(dst).i32(NR * 4).add().set(dst);
      f.get(s).get(rs).add().set(s);
      f.get(p).i32(1).sub().tee(p).brIf(0);
    };
    f.get(cols).i32(NR).geS().get(cs).i32(4).op(0x46).and(); // full panel, contiguous row
    f.if(
      () =>
        f.loop(() => {
          f.get(dst).get(s).v128Load(0).v128Store(0);
          f.get(dst).get(s).v128Load(16).v128Store(16);
          step();
        }),
      () => {
        const scalarFull = () =>
          f.loop(() => {
            for (let col = 0; col < NR; col++) {
              f.get(dst).get(s).get(colOffset[col]).add().f32Load().f32Store(col * 4);
            }
            step();
          });
        f.get(cols).i32(NR).geS();
        f.if(
          () => {
            f.get(rs).i32(4).op(0x46); // B^T: each column is contiguous along k
            f.if(() => {
              // Four k steps at a time: one f32x4 per column, two 4x4 transposes.
              f.block(() =>
                f.loop(() => {
                  f.get(p).i32(4).ltS().brIf(1);
                  for (let col = 0; col < NR; col++) {
                    f.get(s).get(colOffset[col]).add().v128Load().set(v[col]);
                  }
                  transpose4(f, v.slice(0, 4), t, lo);
                  transpose4(f, v.slice(4, 8), t, hi);
                  for (let q = 0; q < 4; q++) {
                    f.get(dst).get(lo[q]).v128Store(q * NR * 4);
                    f.get(dst).get(hi[q]).v128Store(q * NR * 4 + 16);
                  }
                  f.get(dst).i32(4 * NR * 4).add().set(dst);
                  f.get(s).i32(16).add().set(s);
                  f.get(p).i32(4).sub().set(p);
                  f.br(0);
                })
              );
              f.get(p).i32(0).op(0x4a); // k steps left over: the scalar loop
              f.if(scalarFull);
            }, scalarFull);
          },
          () =>
            f.loop(() => {
              for (let col = 0; col < NR; col++) {
                f.get(dst);
                f.get(cols).i32(col).op(0x4a); // i32.gt_s: col < cols
                f.if(() => f.get(s).get(colOffset[col]).add().f32Load(), () => f.f32(0), F32);
                f.f32Store(col * 4);
              }
              step();
            }),
        );
      },
    );
    f.get(j0).i32(NR).add().tee(j0).get(nc).ltS().brIf(0);
  });
  return f;
}

/** Emits the kernel module; `fma` uses relaxed-simd multiply-add, else f32x4 mul + add. */
export function buildGemmWasm(fma: boolean, maxPages: number): Uint8Array<ArrayBuffer> {
  return buildModule([macroKernel(fma), packA(), packB()], {
    minPages: 1,
    maxPages,
    shared: true,
  });
}
