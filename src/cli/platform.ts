/**
 * `autoresearch platform`: prints where the engine runs (backend, WebGPU adapter, features,
 * limits, CPU model and cores, memory) and the peak FLOP/s MFU is computed against.
 */
import { type Command, Option } from "@commander-js/extra-typings";
import {
  BACKEND_CHOICES,
  parseBackendChoice,
  type PlatformInfo,
  type TunedFamilySummary,
  type WebGpuTuningSummary,
} from "../platform/mod.ts";
import { detectPlatformWithGemm } from "../engine/platform.ts";
import { action, jsonOption, printJson } from "./common.ts";

function formatFlops(flops: number): string {
  if (flops >= 1e12) return `${(flops / 1e12).toFixed(1)} TFLOP/s`;
  return `${(flops / 1e9).toFixed(1)} GFLOP/s`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** The WebGPU tuning lines: per family, the variants offered, then each tuned shape. */
function formatTuning(tuning: WebGpuTuningSummary): string[] {
  return [
    ...formatFamily("webgpu matmul", tuning),
    ...formatFamily("webgpu attention", tuning.attention),
  ];
}

function formatFamily(name: string, family: TunedFamilySummary): string[] {
  const lines = [
    `${name}: ${family.variants.length} variants (${
      family.variants.map((v) => v.id + (v.precision === "f16" ? " [f16]" : "")).join(", ")
    })`,
  ];
  if (family.shapes.length === 0) {
    lines.push(`  tuned: none yet (a WebGPU run tunes its shapes; cache ${family.cachePath})`);
    return lines;
  }
  lines.push(`  tuned: ${family.shapes.length} shapes (cache ${family.cachePath})`);
  for (const shape of family.shapes) {
    const speed = shape.gflops === null
      ? `${shape.ms.toFixed(3)} ms`
      : `${shape.gflops.toFixed(1)} GFLOP/s`;
    const speedup = shape.speedup === null ? "" : `, ${shape.speedup.toFixed(2)}x the default`;
    lines.push(`    ${shape.shape.padEnd(22)} ${shape.variant} ${speed}${speedup}`);
  }
  return lines;
}

/** Human-readable text of a platform report. */
export function formatPlatform(info: PlatformInfo): string {
  const lines = [
    `backend:     ${info.backend} (requested ${info.requested})`,
    `cpu:         ${info.cpu.model}`,
    `cores:       ${info.cpu.cores}`,
    `memory:      ${
      info.cpu.totalMemoryBytes ? formatBytes(info.cpu.totalMemoryBytes) : "unknown"
    }`,
    `os:          ${info.cpu.os}/${info.cpu.arch}`,
  ];
  const gpu = info.gpu;
  if (!gpu) {
    lines.push("webgpu:      no adapter");
  } else {
    lines.push(
      `adapter:     ${gpu.description || "(no description)"}${
        gpu.isFallbackAdapter ? " [fallback/software]" : ""
      }`,
      `vendor:      ${gpu.vendor || "-"}  architecture: ${gpu.architecture || "-"}  device: ${
        gpu.device || "-"
      }`,
      `features:    shader-f16=${gpu.features.shaderF16} subgroups=${gpu.features.subgroups} ` +
        `timestamp-query=${gpu.features.timestampQuery}`,
    );
    for (const [name, value] of Object.entries(gpu.limits)) {
      lines.push(`limit:       ${name} = ${value}`);
    }
  }
  if (info.sgemm) {
    lines.push(`sgemm:       ${info.sgemm.chosen ?? "first that loads"} (${info.sgemm.source})`);
    for (const candidate of info.sgemm.candidates) {
      const mark = candidate.id === info.sgemm.chosen ? "*" : " ";
      const speed = candidate.gflops === null
        ? `unavailable (${candidate.error ?? "not measured"})`
        : `${candidate.gflops.toFixed(1)} GFLOP/s`;
      const core = candidate.core ? ` [core ${candidate.core}]` : "";
      lines.push(`  ${mark} ${candidate.id.padEnd(16)} ${speed}${core}: ${candidate.why}`);
    }
    const asLoaded = info.sgemm.candidates.find((candidate) => candidate.id === "blas");
    const chosen = info.sgemm.candidates.find((candidate) => candidate.id === info.sgemm?.chosen);
    if (
      asLoaded?.gflops && chosen?.gflops && chosen.id.startsWith("blas:") &&
      chosen.gflops > 1.2 * asLoaded.gflops
    ) {
      lines.push(
        `  note: the BLAS as loaded (core ${asLoaded.core || "?"}) runs ` +
          `${(chosen.gflops / asLoaded.gflops).toFixed(1)}x slower than with core ` +
          `${chosen.core || "?"}; the trainer loads it with core ${chosen.core || "?"}`,
      );
    }
  }
  if (info.webgpuTuning) lines.push(...formatTuning(info.webgpuTuning));
  if (info.peak) {
    lines.push(
      `peak fp32:   ${formatFlops(info.peak.fp32)} (${info.peak.source})`,
      `peak 16-bit: ${formatFlops(info.peak.fp16)}`,
    );
  } else {
    lines.push("peak:        unknown (GPU not in the table; set AUTORESEARCH_PEAK_FLOPS)");
  }
  return lines.join("\n");
}

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  program
    .command("platform")
    .description("show the backend, WebGPU adapter, CPU, memory and peak FLOP/s used for MFU")
    .addOption(jsonOption())
    .addOption(
      new Option("--backend <kind>", `backend to resolve: ${BACKEND_CHOICES.join("|")}`).default(
        "auto",
      ),
    )
    .option("--refresh", "time the CPU sgemm candidates again instead of using the cached choice")
    .action(action(async (options) => {
      const backend = parseBackendChoice(options.backend);
      const info = await detectPlatformWithGemm(backend, Boolean(options.refresh));
      if (options.json) printJson(info);
      else console.log(formatPlatform(info));
    }));
}
