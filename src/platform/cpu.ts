/**
 * CPU and memory detection: the processor model (from /proc/cpuinfo on Linux, sysctl on macOS,
 * the environment on Windows), logical cores, and total memory. Cards record these so results
 * are only compared within one kind of hardware.
 */

/** What the host CPU and memory are. */
export interface CpuInfo {
  /** Processor model name, or "unknown". */
  model: string;
  /** Logical cores available to this process. */
  cores: number;
  /** Total physical memory, in bytes (0 when unknown). */
  totalMemoryBytes: number;
  /** Operating system, as Deno reports it. */
  os: string;
  /** Architecture, as Deno reports it. */
  arch: string;
}

/** Parse the model name from /proc/cpuinfo text (x86 "model name", ARM "Model"/"Hardware"). */
export function parseProcCpuinfo(text: string): string | null {
  for (const key of ["model name", "Model", "Hardware", "cpu model", "Processor"]) {
    const match = text.match(new RegExp(`^${key}\\s*:\\s*(.+)$`, "m"));
    if (match && match[1].trim()) return match[1].trim().replace(/\s+/g, " ");
  }
  return null;
}

function readCpuModel(): string {
  try {
    if (Deno.build.os === "linux") {
      return parseProcCpuinfo(Deno.readTextFileSync("/proc/cpuinfo")) ?? "unknown";
    }
    if (Deno.build.os === "darwin") {
      const out = new Deno.Command("sysctl", { args: ["-n", "machdep.cpu.brand_string"] })
        .outputSync();
      const text = new TextDecoder().decode(out.stdout).trim();
      return out.success && text ? text : "unknown";
    }
    if (Deno.build.os === "windows") {
      return Deno.env.get("PROCESSOR_IDENTIFIER") ?? "unknown";
    }
  } catch {
    // No permission or no such file: the model is informational only.
  }
  return "unknown";
}

/** Detect the CPU model, cores and memory of this machine. */
export function detectCpu(): CpuInfo {
  let totalMemoryBytes = 0;
  try {
    totalMemoryBytes = Deno.systemMemoryInfo().total;
  } catch {
    // Without --allow-sys the figure is unknown, not an error.
  }
  return {
    model: readCpuModel(),
    cores: navigator.hardwareConcurrency || 1,
    totalMemoryBytes,
    os: Deno.build.os,
    arch: Deno.build.arch,
  };
}

/** The CPU's maker, from its model name ("unknown" when not recognised). */
export function cpuVendor(model: string): string {
  const known = ["Intel", "AMD", "Apple", "ARM", "Ampere", "Qualcomm"];
  return known.find((v) => model.toLowerCase().includes(v.toLowerCase())) ?? "unknown";
}

/** How a card describes a CPU: the same fields whoever writes the card, so cards compare. */
export interface CpuCardPlatform {
  /** Processor model name. */
  device: string;
  /** Processor maker. */
  vendor: string;
  /** Logical cores. */
  cores: number;
  /** Total memory in GB, one decimal. */
  memory_gb: number;
}

/**
 * The card platform fields of a CPU: one definition for the trainer's cards and hand-written
 * ones, so both land in the same comparability class.
 */
export function cpuCardPlatform(cpu: CpuInfo = detectCpu()): CpuCardPlatform {
  return {
    device: cpu.model,
    vendor: cpuVendor(cpu.model),
    cores: cpu.cores,
    memory_gb: Math.round(cpu.totalMemoryBytes / 1e8) / 10,
  };
}
