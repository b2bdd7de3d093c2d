/**
 * Small helpers the record and import modules share: reading a plain decimal number the way
 * upstream prints them, cutting stored text to a card's limits, naming a device's vendor, and
 * asking whether a file exists.
 */

/** A plain decimal number (`0.997900`, `953`, `1.2e15`), or null (`nan`, `inf`, words). */
export function decimalNumber(raw: string): number | null {
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) return null;
  const value = Number(raw);
  return Number.isFinite(value) ? value : null;
}

/** `text` cut to `max` characters, saying so at the end when cut. */
export function clipText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 15)}\n...(truncated)`;
}

/** The maker of a device, from its name ("unknown" when not recognised). */
export function vendorOf(device: string): string {
  const known = ["NVIDIA", "AMD", "Apple", "Intel", "Qualcomm", "ARM", "Ampere"];
  return known.find((v) => device.toLowerCase().includes(v.toLowerCase())) ?? "unknown";
}

/** True when `path` is a regular file (following links). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** True when `path` is a directory (following links). */
export function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
