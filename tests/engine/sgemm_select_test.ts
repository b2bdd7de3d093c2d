/**
 * The CPU sgemm is chosen by measurement: the candidates a CPU gets, the fastest one winning over
 * a slow one, the per-machine cache (reused, invalidated when the machine or the library file
 * changes, never overwritten when corrupt), real probe processes that load OpenBLAS with a given
 * core type, and the hardware peak formula (`platform --json` is tested in tests/platform/).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createJsGemm } from "../../src/engine/cpu/gemm/js.ts";
import { createWasmGemm } from "../../src/engine/cpu/gemm/wasm.ts";
import { timeShapes } from "../../src/engine/cpu/gemm/probe.ts";
import { blasLibraryStamp } from "../../src/engine/cpu/gemm/blas.ts";
import {
  chooseSgemm,
  featureCoretype,
  machineKey,
  type MeasuredCandidate,
  measureInProcess,
  type SgemmCandidate,
  sgemmCandidates,
} from "../../src/engine/cpu/gemm/select.ts";
import { flopsPerCycle, hardwarePeak, parseCpuFeatures } from "../../src/platform/cpu_features.ts";

const SMALL_SHAPES = [{ m: 128, n: 128, k: 128 }, { m: 64, n: 256, k: 128, transB: true }];

/** Times a candidate in this process on small shapes: "js" is the deliberately slow one. */
async function measureHere(candidate: SgemmCandidate, threads: number): Promise<MeasuredCandidate> {
  const gemm = candidate.kind === "wasm" ? await createWasmGemm(threads) : createJsGemm();
  try {
    return { ...candidate, gflops: timeShapes(gemm, SMALL_SHAPES, 40), core: "" };
  } finally {
    gemm.close();
  }
}

const SLOW: SgemmCandidate = { id: "slow", kind: "js", why: "plain loops, the fake slow one" };
const WASM: SgemmCandidate = { id: "wasm", kind: "wasm", why: "SIMD" };

Deno.test("candidates: the environment's core, the library's own detection, the features' core", () => {
  const zen5 = ["fma", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"];
  assert.equal(featureCoretype(zen5), "Cooperlake");
  assert.equal(featureCoretype(zen5.filter((f) => f !== "avx512_bf16")), "SkylakeX");
  assert.equal(featureCoretype(["avx", "avx2", "fma"]), "Haswell");
  assert.equal(featureCoretype(["sse2"]), null);
  assert.deepEqual(sgemmCandidates(zen5, "Haswell").map((c) => c.id), [
    "blas",
    "blas:detected",
    "blas:Cooperlake",
    "wasm",
  ]);
  assert.deepEqual(sgemmCandidates(zen5, null).map((c) => c.id), [
    "blas",
    "blas:Cooperlake",
    "wasm",
  ]);
  // The environment already names the right core: no duplicate candidate.
  assert.deepEqual(sgemmCandidates(zen5, "cooperlake").map((c) => c.id), [
    "blas",
    "blas:detected",
    "wasm",
  ]);
});

Deno.test("choice: the fastest candidate wins over a slow one, and stays the fastest on re-timing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const choice = await chooseSgemm({
      threads: 2,
      candidates: [SLOW, WASM],
      measure: measureHere,
      cachePath: join(dir, "sgemm.json"),
      key: "test-machine",
    });
    assert.equal(choice.source, "measured");
    assert.equal(choice.chosen, "wasm");
    // Re-time both: the chosen one must not be slower than the best by more than the noise.
    const again = await Promise.all([SLOW, WASM].map((c) => measureHere(c, 2)));
    const best = Math.max(...again.map((c) => c.gflops ?? 0));
    const chosen = again.find((c) => c.id === choice.chosen)!;
    assert.ok((chosen.gflops ?? 0) >= 0.5 * best, `chosen ${chosen.gflops} vs best ${best}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cache: reused for the same machine, measured again when the machine or library changes", async () => {
  const dir = await Deno.makeTempDir();
  const cachePath = join(dir, "sgemm.json");
  let measured = 0;
  const counting = (candidate: SgemmCandidate, threads: number) => {
    measured++;
    return measureHere(candidate, threads);
  };
  const options = { threads: 1, candidates: [SLOW, WASM], measure: counting, cachePath };
  try {
    await chooseSgemm({ ...options, key: "machine-a" });
    assert.equal(measured, 2);
    const cached = await chooseSgemm({ ...options, key: "machine-a" });
    assert.equal(cached.source, "cache");
    assert.equal(cached.chosen, "wasm");
    assert.equal(measured, 2, "a cached machine is not measured again");
    await chooseSgemm({ ...options, key: "machine-b" });
    assert.equal(measured, 4, "another machine key is measured");
    await chooseSgemm({ ...options, key: "machine-a", refresh: true });
    assert.equal(measured, 6, "--refresh measures again");

    // A different library file on the loader's path changes the key.
    const before = machineKey(1);
    const libDir = join(dir, "lib");
    await Deno.mkdir(libDir);
    await Deno.writeTextFile(join(libDir, "libopenblas.so.0"), "another build");
    const saved = Deno.env.get("LD_LIBRARY_PATH");
    Deno.env.set("LD_LIBRARY_PATH", libDir);
    try {
      assert.match(blasLibraryStamp(), /another|lib\/libopenblas\.so\.0/);
      assert.notEqual(machineKey(1), before);
    } finally {
      if (saved === undefined) Deno.env.delete("LD_LIBRARY_PATH");
      else Deno.env.set("LD_LIBRARY_PATH", saved);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cache: a corrupt file is reported and left as it is", async () => {
  const dir = await Deno.makeTempDir();
  const cachePath = join(dir, "sgemm.json");
  await Deno.writeTextFile(cachePath, "{ not json");
  const warnings: string[] = [];
  try {
    const choice = await chooseSgemm({
      threads: 1,
      candidates: [SLOW, WASM],
      measure: measureHere,
      cachePath,
      key: "k",
      warn: (message) => warnings.push(message),
    });
    assert.equal(choice.chosen, "wasm");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /sgemm\.json: .*measuring without cache/);
    assert.equal(await Deno.readTextFile(cachePath), "{ not json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AUTORESEARCH_SGEMM forces a candidate, and an unknown one is refused", async () => {
  Deno.env.set("AUTORESEARCH_SGEMM", "wasm");
  try {
    const forced = await chooseSgemm({ threads: 1, candidates: [SLOW, WASM], key: "k" });
    assert.equal(forced.source, "forced");
    assert.equal(forced.chosen, "wasm");
    Deno.env.set("AUTORESEARCH_SGEMM", "mkl");
    await assert.rejects(
      chooseSgemm({ threads: 1, candidates: [SLOW, WASM], key: "k" }),
      /AUTORESEARCH_SGEMM: must be one of slow, wasm, js, got mkl/,
    );
  } finally {
    Deno.env.delete("AUTORESEARCH_SGEMM");
  }
});

Deno.test("probe processes: OpenBLAS loads with the core type the candidate names", async () => {
  const wasm = await measureInProcess(WASM, 1);
  assert.ok((wasm.gflops ?? 0) > 0, `wasm probe: ${wasm.error}`);
  if (blasLibraryStamp() === "blas:none") {
    // CI installs libopenblas0-pthread; a machine without it has no BLAS candidate to probe.
    if (Deno.env.get("CI")) assert.fail("CI must have a system OpenBLAS");
    console.warn("skipped: no system OpenBLAS on this machine");
    return;
  }
  const haswell = await measureInProcess(
    { id: "blas:Haswell", kind: "blas", coretype: "Haswell", why: "test" },
    1,
  );
  assert.ok((haswell.gflops ?? 0) > 0, `blas probe: ${haswell.error}`);
  assert.equal(haswell.core, "Haswell");
  const detected = await measureInProcess(
    { id: "blas:detected", kind: "blas", coretype: null, why: "test" },
    1,
  );
  assert.ok(detected.core.length > 0);
});

Deno.test("hardware peak: cores x clock x FLOP per cycle, per instruction set", () => {
  const cpuinfo = (family: number, flags: string, mhz = "2600.000") =>
    `processor\t: 0\ncpu family\t: ${family}\ncpu MHz\t\t: ${mhz}\nflags\t\t: ${flags}\n`;
  const zen5 = parseCpuFeatures(cpuinfo(26, "fma avx2 avx512f avx512bw"));
  assert.equal(flopsPerCycle(zen5, "AMD EPYC"), 64);
  const zen4 = parseCpuFeatures(cpuinfo(25, "fma avx2 avx512f avx512bw"));
  assert.equal(flopsPerCycle(zen4, "AMD EPYC 9654"), 32);
  assert.equal(flopsPerCycle(zen4, "Intel(R) Xeon(R) Platinum 8480"), 64);
  const haswell = parseCpuFeatures(cpuinfo(6, "sse2 avx avx2 fma"));
  assert.equal(flopsPerCycle(haswell, "Intel(R) Core(TM) i7-4770"), 32);
  assert.equal(flopsPerCycle(parseCpuFeatures(cpuinfo(6, "sse2 avx")), "Intel"), 16);
  assert.equal(flopsPerCycle(parseCpuFeatures(cpuinfo(6, "sse2")), "Intel"), 8);
  const peak = hardwarePeak(zen5, "AMD EPYC", 2);
  assert.equal(peak?.flops, 2 * 2600e6 * 64);
  assert.match(peak!.formula, /2 cores x 2\.60 GHz \(cpuinfo\) x 64 FLOP\/cycle/);
  // The cpufreq maximum beats the reported current clock.
  const boosted = parseCpuFeatures(cpuinfo(26, "avx512f"), 3_700_000);
  assert.equal(boosted.clockMhz, 3700);
  assert.equal(boosted.clockSource, "cpufreq-max");
  assert.equal(hardwarePeak(parseCpuFeatures("flags: avx2"), "x", 4), null);
});

Deno.test("harness hash: runs on different CPU matmul kernels never share a class", async () => {
  const { cpuKernels, harnessHash } = await import("../../src/train/run.ts");
  const { evalSettings } = await import("../../src/train/evaluation.ts");
  const sgemm = (chosen: string) => ({
    chosen,
    source: "cache",
    candidates: [
      { id: "blas", why: "", gflops: 240, core: "Haswell" },
      { id: "blas:Cooperlake", why: "", gflops: 440, core: "Cooperlake" },
      { id: "wasm", why: "", gflops: 100, core: "" },
    ],
  });
  // deno-lint-ignore no-explicit-any
  const cpu = { info: { name: "cpu" } } as any, gpu = { info: { name: "webgpu" } } as any;
  // deno-lint-ignore no-explicit-any
  const platform = (chosen: string) => ({ sgemm: sgemm(chosen) }) as any;
  assert.equal(cpuKernels(platform("blas:Cooperlake"), cpu), "blas:Cooperlake");
  assert.equal(cpuKernels(platform("blas"), cpu), "blas:Haswell");
  assert.equal(cpuKernels(platform("wasm"), cpu), "wasm");
  assert.equal(cpuKernels(platform("wasm"), gpu), "");
  const evaluation = evalSettings(false, 100_000);
  const identity = { tokenizer: "t", val: "v" };
  const a = await harnessHash(identity, evaluation, "blas:Haswell");
  assert.notEqual(a, await harnessHash(identity, evaluation, "blas:Cooperlake"));
  assert.equal(a, await harnessHash(identity, evaluation, "blas:Haswell"));
});
