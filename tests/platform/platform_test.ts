/**
 * Platform detection: CPU model parsing, the known-GPU table (most specific match wins), the
 * backend resolution rule, the measured-and-cached CPU peak (corrupt caches are left alone), and
 * the `autoresearch platform` command run as a real process.
 */
import { HAS_WEBGPU, REQUIRE_WEBGPU } from "../backends.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, MAIN, runCli as runCliProcess } from "../cli_helpers.ts";
import { parseProcCpuinfo } from "../../src/platform/cpu.ts";
import {
  cpuPeakFlops,
  detectCpu,
  detectGpu,
  detectPlatform,
  type GpuInfo,
  gpuPeakFlops,
  lookupGpu,
  measureMatmulFlops,
  parseBackendChoice,
  resolveBackend,
} from "../../src/platform/mod.ts";
import { portableMatmul } from "../../src/platform/peak.ts";

function fakeGpu(description: string, isFallbackAdapter: boolean): GpuInfo {
  return {
    vendor: "",
    architecture: "",
    device: "",
    description,
    isFallbackAdapter,
    features: { shaderF16: false, subgroups: false, timestampQuery: false },
    allFeatures: [],
    subgroupMinSize: null,
    subgroupMaxSize: null,
    limits: {
      maxStorageBufferBindingSize: 1 << 27,
      maxBufferSize: 1 << 28,
      maxComputeWorkgroupsPerDimension: 65535,
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupStorageSize: 16384,
      maxComputeWorkgroupSizeX: 256,
      maxStorageBuffersPerShaderStage: 8,
    },
  };
}

Deno.test("parseProcCpuinfo reads x86 and ARM model lines", () => {
  assert.equal(
    parseProcCpuinfo("processor\t: 0\nmodel name\t: AMD EPYC  9654 96-Core\nflags: x\n"),
    "AMD EPYC 9654 96-Core",
  );
  assert.equal(parseProcCpuinfo("processor : 0\nModel : Raspberry Pi 5\n"), "Raspberry Pi 5");
  assert.equal(parseProcCpuinfo("processor : 0\n"), null);
});

Deno.test("detectCpu reports cores and memory of this machine", () => {
  const cpu = detectCpu();
  assert.ok(cpu.cores >= 1);
  assert.ok(cpu.totalMemoryBytes > 0);
  assert.ok(cpu.model.length > 0);
});

Deno.test("lookupGpu matches the most specific table entry", () => {
  assert.equal(lookupGpu("NVIDIA H100 80GB HBM3")?.name, "NVIDIA H100 SXM");
  assert.equal(lookupGpu("NVIDIA H100 PCIe")?.name, "NVIDIA H100 PCIe");
  assert.equal(lookupGpu("NVIDIA H200")?.name, "NVIDIA H200");
  assert.equal(lookupGpu("NVIDIA GeForce RTX 4090")?.name, "NVIDIA RTX 4090");
  assert.equal(lookupGpu("Apple M1 Pro")?.name, "Apple M1 Pro");
  assert.equal(lookupGpu("Apple M1")?.name, "Apple M1");
  assert.equal(lookupGpu("Apple M3 Max")?.name, "Apple M3 Max");
  assert.equal(lookupGpu("NVIDIA A100-SXM4-80GB")?.name, "NVIDIA A100");
  assert.equal(lookupGpu("llvmpipe (LLVM 15.0.6, 256 bits)"), null);
  const h100 = lookupGpu("NVIDIA H100 80GB HBM3")!;
  assert.ok(h100.fp16 > h100.fp32, "the 16-bit tensor rate exceeds fp32");
});

Deno.test("gpuPeakFlops: table hit, unknown and software adapters give null", () => {
  assert.equal(
    gpuPeakFlops(fakeGpu("NVIDIA H100 80GB HBM3", false))?.source,
    "table:NVIDIA H100 SXM",
  );
  assert.equal(gpuPeakFlops(fakeGpu("Some Future GPU", false)), null);
  // A software adapter named like a GPU is still not that GPU's peak.
  assert.equal(gpuPeakFlops(fakeGpu("NVIDIA H100 (emulated)", true)), null);
});

Deno.test("resolveBackend: auto picks WebGPU only on a real adapter", () => {
  assert.equal(resolveBackend("auto", null), "cpu");
  assert.equal(resolveBackend("auto", fakeGpu("llvmpipe", true)), "cpu");
  assert.equal(resolveBackend("auto", fakeGpu("NVIDIA H100", false)), "webgpu");
  assert.equal(resolveBackend("cpu", fakeGpu("NVIDIA H100", false)), "cpu");
  assert.equal(resolveBackend("webgpu", fakeGpu("llvmpipe", true)), "webgpu");
  assert.throws(() => resolveBackend("webgpu", null), /no WebGPU adapter/);
  assert.equal(parseBackendChoice("auto"), "auto");
  assert.throws(() => parseBackendChoice("cuda"), /--backend: must be one of/);
});

Deno.test("measureMatmulFlops times a real matmul and the portable matmul is correct", () => {
  const n = 5;
  const a = Float32Array.from({ length: n * n }, (_, i) => i % 3);
  const b = Float32Array.from({ length: n * n }, (_, i) => (i % 4) - 1);
  const out = new Float32Array(n * n);
  portableMatmul(a, b, out, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += a[i * n + k] * b[k * n + j];
      assert.equal(out[i * n + j], sum);
    }
  }
  const flops = measureMatmulFlops(portableMatmul, 64, 20);
  assert.ok(flops > 1e6 && flops < 1e13, `implausible ${flops}`);
});

Deno.test("cpuPeakFlops measures once, then reads the per-machine cache", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cachePath = join(dir, "sub", "platform.json");
    const cpu = detectCpu();
    const first = cpuPeakFlops(cpu, { cachePath, method: "test" });
    assert.equal(first.source, "measured:test");
    assert.ok(first.fp32 > 0);
    const second = cpuPeakFlops(cpu, { cachePath, method: "test" });
    assert.equal(second.source, "cache:test");
    assert.equal(second.fp32, first.fp32);
    const cached = JSON.parse(await Deno.readTextFile(cachePath));
    assert.equal(Object.keys(cached.cpu).length, 1);
    const refreshed = cpuPeakFlops(cpu, { cachePath, method: "test", refresh: true });
    assert.equal(refreshed.source, "measured:test");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cpuPeakFlops reports a corrupt cache and never overwrites it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cachePath = join(dir, "platform.json");
    await Deno.writeTextFile(cachePath, "{not json");
    const warnings: string[] = [];
    const peak = cpuPeakFlops(detectCpu(), {
      cachePath,
      method: "test",
      warn: (m) => warnings.push(m),
    });
    assert.equal(peak.source, "measured:test");
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].startsWith(cachePath), warnings[0]);
    assert.equal(await Deno.readTextFile(cachePath), "{not json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCliProcess(args, {
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", ...env },
  });
}

Deno.test("autoresearch platform --json prints the whole picture, sgemm candidates included", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await runCli(["platform", "--json", "--backend", "cpu"], { XDG_CACHE_HOME: dir });
    assert.equal(run.code, 0, run.stderr);
    const info = JSON.parse(run.stdout);
    assert.equal(info.backend, "cpu");
    assert.equal(info.requested, "cpu");
    assert.ok(info.cpu.cores >= 1);
    // Every sgemm candidate was timed now and the fastest is the one in use.
    const candidates = info.sgemm.candidates as { id: string; gflops: number | null }[];
    assert.equal(info.sgemm.source, "measured");
    assert.ok(candidates.some((c) => c.id === "wasm"));
    const best = Math.max(...candidates.map((c) => c.gflops ?? 0));
    assert.equal(candidates.find((c) => c.id === info.sgemm.chosen)?.gflops, best);
    // MFU's peak: the hardware formula, or the best sgemm where that beats the formula.
    assert.match(info.peak.source, /^(hardware:\d+ cores x|measured:best sgemm)/);
    assert.ok(info.peak.fp32 >= best * 1e9 * 0.999, "the peak is never below the best sgemm");
    // The choice was cached under XDG_CACHE_HOME and is reused.
    const cache = JSON.parse(await Deno.readTextFile(join(dir, "autoresearch", "sgemm.json")));
    assert.equal(Object.keys(cache.choices).length, 1);
    const again = await runCli(["platform", "--json", "--backend", "cpu"], { XDG_CACHE_HOME: dir });
    assert.equal(JSON.parse(again.stdout).sgemm.source, "cache");
    if (info.gpu) assert.ok(info.gpu.limits.maxComputeWorkgroupsPerDimension > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("autoresearch platform: env peak override and text output", async () => {
  const run = await runCli(["platform", "--backend", "cpu"], {
    AUTORESEARCH_PEAK_FLOPS: "1.5e12",
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^backend: +cpu/m);
  assert.match(run.stdout, /peak fp32: +1\.5 TFLOP\/s \(env:AUTORESEARCH_PEAK_FLOPS\)/);
});

Deno.test("autoresearch platform rejects a bad --backend with exit 2 and one line", async () => {
  const run = await runCli(["platform", "--backend", "cuda"], {});
  assert.equal(run.code, 2);
  assert.equal(run.stderr.trim(), 'error: --backend: must be one of auto, cpu, webgpu, got "cuda"');
  assert.equal(run.stdout, "");
});

Deno.test({
  name: "detectGpu describes this machine's adapter; auto skips a software adapter",
  ignore: !HAS_WEBGPU && !REQUIRE_WEBGPU,
  async fn() {
    const gpu = await detectGpu();
    assert.ok(gpu, "no WebGPU adapter, and AUTORESEARCH_REQUIRE_WEBGPU=1");
    assert.ok(gpu.description.length > 0 || gpu.vendor.length > 0);
    assert.ok(gpu.limits.maxComputeWorkgroupsPerDimension >= 65535);
    assert.ok(gpu.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20);
    assert.equal(gpu.features.shaderF16, gpu.allFeatures.includes("shader-f16"));
    const info = await detectPlatform({ backend: "auto", skipCpuMeasurement: true });
    assert.equal(info.backend, gpu.isFallbackAdapter ? "cpu" : "webgpu");
    const forced = await detectPlatform({ backend: "webgpu", skipCpuMeasurement: true });
    assert.equal(forced.backend, "webgpu");
    assert.equal(forced.label, gpu.description || `${gpu.vendor} ${gpu.device}`.trim());
    if (gpu.isFallbackAdapter) assert.equal(forced.peak, null, "no table peak for software");
  },
});

Deno.test({
  name: "without XDG_RUNTIME_DIR, WebGPU detection prints no loader warnings",
  ignore: Deno.build.os !== "linux" || (!HAS_WEBGPU && !REQUIRE_WEBGPU),
  async fn() {
    const env = Deno.env.toObject();
    delete env.XDG_RUNTIME_DIR;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "platform", "--backend", "webgpu", "--json"],
      env: { ...env, NO_COLOR: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.doesNotMatch(stderr, /XDG_RUNTIME_DIR/);
    assert.equal(JSON.parse(new TextDecoder().decode(out.stdout)).backend, "webgpu");
  },
});
