/**
 * What a CPU can compute per cycle: its vector instruction sets (from /proc/cpuinfo flags on
 * Linux, sysctl on macOS), family and clock, and from them the f32 peak of the hardware. MFU on
 * the CPU is measured against this figure, not against whatever matmul happens to be loaded, so
 * a slow BLAS shows up as a low MFU instead of hiding behind its own number.
 *
 * The peak is `cores * clock * f32 FLOP per cycle per core`, where FLOP per cycle = 2 (an FMA is
 * two operations) * vector lanes * FMA units:
 *
 * | CPU                                   | lanes x units | FLOP/cycle |
 * | ------------------------------------- | ------------- | ---------- |
 * | Intel with AVX-512                    | 16 x 2        | 64         |
 * | AMD Zen 5 (family 0x1A), AVX-512      | 16 x 2        | 64         |
 * | AMD Zen 4 (AVX-512 on 256-bit units)  | 8 x 2         | 32         |
 * | x86 with AVX2 + FMA                   | 8 x 2         | 32         |
 * | x86 with AVX, no FMA (mul + add)      | 8 x 1         | 16         |
 * | x86 with SSE only                     | 4 x 1         | 8          |
 * | Apple silicon (4 NEON FMA pipes)      | 4 x 4         | 32         |
 * | other 64-bit ARM (2 NEON FMA pipes)   | 4 x 2         | 16         |
 *
 * Some parts have fewer units than their family (one AVX-512 FMA unit on low-end Xeons): the
 * figure is then too high and MFU too low, the conservative side.
 */

/** The vector capabilities and clock of this machine's CPU. */
export interface CpuFeatures {
  /** Instruction-set flags, lower-case (`avx2`, `fma`, `avx512f`, `asimd`, ...). */
  flags: string[];
  /** x86 family number (`cpu family`), or null. */
  family: number | null;
  /** The highest clock known, MHz (cpufreq maximum, else the reported current clock), or null. */
  clockMhz: number | null;
  /** Where the clock came from: "cpufreq-max", "cpuinfo", "sysctl" or "unknown". */
  clockSource: string;
}

/** Parse flags, family and clock from /proc/cpuinfo text (first processor). */
export function parseCpuFeatures(
  cpuinfo: string,
  cpufreqMaxKhz: number | null = null,
): CpuFeatures {
  const field = (name: string): string | null => {
    const match = cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"));
    return match ? match[1].trim() : null;
  };
  const flags = (field("flags") ?? field("Features") ?? "").toLowerCase().split(/\s+/)
    .filter((flag) => flag !== "");
  const familyText = field("cpu family");
  const family = familyText !== null && /^\d+$/.test(familyText) ? Number(familyText) : null;
  const mhz = Number(field("cpu MHz") ?? NaN);
  if (cpufreqMaxKhz !== null && cpufreqMaxKhz > 0) {
    return { flags, family, clockMhz: cpufreqMaxKhz / 1000, clockSource: "cpufreq-max" };
  }
  if (Number.isFinite(mhz) && mhz > 0) {
    return { flags, family, clockMhz: mhz, clockSource: "cpuinfo" };
  }
  return { flags, family, clockMhz: null, clockSource: "unknown" };
}

function readNumber(path: string): number | null {
  try {
    const value = Number(Deno.readTextFileSync(path).trim());
    return Number.isFinite(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

/** Detect this machine's CPU features (empty flags and no clock where nothing can be read). */
export function detectCpuFeatures(): CpuFeatures {
  try {
    if (Deno.build.os === "linux") {
      return parseCpuFeatures(
        Deno.readTextFileSync("/proc/cpuinfo"),
        readNumber("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"),
      );
    }
    if (Deno.build.os === "darwin") {
      const out = new Deno.Command("sysctl", { args: ["-n", "hw.cpufrequency_max"] }).outputSync();
      const hz = Number(new TextDecoder().decode(out.stdout).trim());
      const neon = Deno.build.arch === "aarch64" ? ["asimd"] : [];
      return out.success && hz > 0
        ? { flags: neon, family: null, clockMhz: hz / 1e6, clockSource: "sysctl" }
        : { flags: neon, family: null, clockMhz: null, clockSource: "unknown" };
    }
  } catch {
    // No permission or no such file: the hardware peak is then unknown.
  }
  return { flags: [], family: null, clockMhz: null, clockSource: "unknown" };
}

/** f32 FLOP per cycle per core for these features and this CPU model (table above). */
export function flopsPerCycle(features: CpuFeatures, model: string): number {
  const has = (flag: string) => features.flags.includes(flag);
  const amd = /\bAMD\b/i.test(model);
  if (/\bApple\b/i.test(model)) return 32;
  if (has("asimd") || has("neon")) return 16;
  if (has("avx512f")) return amd && features.family !== null && features.family < 0x1a ? 32 : 64;
  if (has("avx2") && has("fma")) return 32;
  if (has("avx")) return 16;
  return 8;
}

/** The hardware f32 peak and the formula behind it. */
export interface HardwarePeak {
  /** FLOP/s. */
  flops: number;
  /** The formula with its numbers, for `autoresearch platform`. */
  formula: string;
}

/** cores * clock * FLOP per cycle, or null when the clock is unknown. */
export function hardwarePeak(
  features: CpuFeatures,
  model: string,
  cores: number,
): HardwarePeak | null {
  if (features.clockMhz === null) return null;
  const perCycle = flopsPerCycle(features, model);
  const flops = cores * features.clockMhz * 1e6 * perCycle;
  return {
    flops,
    formula:
      `${cores} cores x ${(features.clockMhz / 1000).toFixed(2)} GHz (${features.clockSource})` +
      ` x ${perCycle} FLOP/cycle`,
  };
}
