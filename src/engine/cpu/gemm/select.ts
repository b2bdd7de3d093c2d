/**
 * Picks the CPU sgemm by measurement, not by what loads. A system OpenBLAS can be several times
 * slower than it should be: an old release that does not know a new CPU falls back to SSE3
 * kernels ("Prescott"), and an `OPENBLAS_CORETYPE` left in the environment pins older kernels.
 * So at first use on a machine each candidate is timed on the training step's shapes in a fresh
 * process (the core type is fixed when the library loads): the BLAS as the environment loads it,
 * the BLAS with its own detection, the BLAS with the core type this CPU's features call for, and
 * our WebAssembly SIMD kernels. The fastest wins; the choice is cached per machine (CPU model,
 * cores, threads, Deno version, library file, inherited core type) in
 * `~/.cache/autoresearch/sgemm.json`, and any change of those measures again.
 *
 * `AUTORESEARCH_SGEMM=<candidate id>` forces a candidate (`blas`, `blas:detected`,
 * `blas:<Core>`, `wasm`, `js`).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { atomicWriteSync } from "../../../util/atomic.ts";
import { userCacheDir } from "../../../util/cache_dir.ts";
import { detectCpu } from "../../../platform/cpu.ts";
import { detectCpuFeatures } from "../../../platform/cpu_features.ts";
import { blasLibraryStamp } from "./blas.ts";
import { type ProbeRequest, type ProbeResult, SGEMM_PROBE_ARG } from "./probe.ts";

/** One way to run sgemm. */
export interface SgemmCandidate {
  /** `blas` (as the environment loads it), `blas:detected`, `blas:<Core>`, `wasm` or `js`. */
  id: string;
  /** Implementation. */
  kind: "blas" | "wasm" | "js";
  /**
   * For BLAS: the `OPENBLAS_CORETYPE` the library loads with; `null` unsets it, `undefined`
   * keeps what the environment says.
   */
  coretype?: string | null;
  /** Why it is a candidate, in words. */
  why: string;
}

/** A candidate and what it measured. */
export interface MeasuredCandidate extends SgemmCandidate {
  /** GFLOP/s over the training shapes, or null when it could not run. */
  gflops: number | null;
  /** The BLAS core the library chose, or "". */
  core: string;
  /** Why it could not run, when it could not. */
  error?: string;
}

/** The outcome of a selection. */
export interface SgemmChoice {
  /** The id of the candidate in use; null when none could be measured (the load order decides). */
  chosen: string | null;
  /** Every candidate, measured. */
  candidates: MeasuredCandidate[];
  /**
   * "measured" (now), "cache" (an earlier measurement), "forced" (AUTORESEARCH_SGEMM), or
   * "unmeasured" (no candidate ran: no permission to start the probes).
   */
  source: "measured" | "cache" | "forced" | "unmeasured";
  /** When it was measured (ISO 8601). */
  measuredAt: string;
  /** The machine key the choice is cached under. */
  key: string;
}

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** `OPENBLAS_CORETYPE` as this process inherited it (before a choice was applied). */
const INHERITED_CORETYPE: string | null = envGet("OPENBLAS_CORETYPE") || null;

/** The `OPENBLAS_CORETYPE` a candidate loads the BLAS with (null: unset, the library detects). */
function wantedCoretype(candidate: SgemmCandidate): string | null {
  return candidate.coretype === undefined ? INHERITED_CORETYPE : candidate.coretype;
}

/** The OpenBLAS core type this CPU's instruction sets call for (x86 only), or null. */
export function featureCoretype(flags: readonly string[]): string | null {
  const has = (flag: string) => flags.includes(flag);
  if (has("avx512f") && has("avx512_bf16")) return "Cooperlake";
  if (has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq")) return "SkylakeX";
  if (has("avx2") && has("fma")) return "Haswell";
  if (has("avx")) return "Sandybridge";
  return null;
}

/** The candidates on this machine, given its CPU flags and the inherited core type. */
export function sgemmCandidates(
  flags: readonly string[],
  inherited: string | null = INHERITED_CORETYPE,
): SgemmCandidate[] {
  const list: SgemmCandidate[] = [{
    id: "blas",
    kind: "blas",
    why: inherited
      ? `system BLAS with OPENBLAS_CORETYPE=${inherited} from the environment`
      : "system BLAS, its own CPU detection",
  }];
  if (inherited) {
    list.push({
      id: "blas:detected",
      kind: "blas",
      coretype: null,
      why: "system BLAS, its own CPU detection (OPENBLAS_CORETYPE unset)",
    });
  }
  const wanted = featureCoretype(flags);
  if (wanted && wanted.toLowerCase() !== inherited?.toLowerCase()) {
    list.push({
      id: `blas:${wanted}`,
      kind: "blas",
      coretype: wanted,
      why: `system BLAS with the core type for this CPU's instruction sets`,
    });
  }
  list.push({ id: "wasm", kind: "wasm", why: "WebAssembly SIMD kernels on worker threads" });
  return list;
}

/** The fastest candidate that ran; null when none did. */
export function pickFastest(measured: readonly MeasuredCandidate[]): MeasuredCandidate | null {
  let best: MeasuredCandidate | null = null;
  for (const candidate of measured) {
    if (candidate.gflops === null) continue;
    if (!best || candidate.gflops > (best.gflops ?? 0)) best = candidate;
  }
  return best;
}

/** Where the choice is cached: `$XDG_CACHE_HOME` or `~/.cache`, then autoresearch/sgemm.json. */
export function sgemmCachePath(): string {
  return join(userCacheDir(), "sgemm.json");
}

/** The key a machine's choice is cached under: anything that can change the ranking. */
export function machineKey(threads: number): string {
  const cpu = detectCpu();
  return [
    cpu.model,
    `${cpu.cores} cores`,
    `${threads} threads`,
    `${cpu.os}/${cpu.arch}`,
    `deno ${Deno.version.deno}`,
    blasLibraryStamp(),
    `OPENBLAS_CORETYPE=${INHERITED_CORETYPE ?? ""}`,
  ].join("|");
}

/** How one candidate is measured (the default runs a probe process). */
export type MeasureFn = (
  candidate: SgemmCandidate,
  threads: number,
) => Promise<MeasuredCandidate>;

/** The command that runs a probe: the compiled binary itself, or `deno run probe.ts`. */
function probeCommand(request: ProbeRequest): { command: string; args: string[] } {
  const json = JSON.stringify(request);
  if (Deno.build.standalone) return { command: Deno.execPath(), args: [SGEMM_PROBE_ARG, json] };
  const probe = new URL("./probe.ts", import.meta.url).href;
  return { command: Deno.execPath(), args: ["run", "-A", "--no-config", "--quiet", probe, json] };
}

/** Time `candidate` in a fresh process with its core type in the environment. */
export async function measureInProcess(
  candidate: SgemmCandidate,
  threads: number,
): Promise<MeasuredCandidate> {
  const { command, args } = probeCommand({ kind: candidate.kind, threads });
  const env = Deno.env.toObject();
  const coretype = wantedCoretype(candidate);
  if (coretype === null) delete env.OPENBLAS_CORETYPE;
  else env.OPENBLAS_CORETYPE = coretype;
  try {
    const out = await new Deno.Command(command, {
      args,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    const parsed = JSON.parse(line) as ProbeResult | { error: string };
    if ("error" in parsed) return { ...candidate, gflops: null, core: "", error: parsed.error };
    return { ...candidate, gflops: parsed.gflops, core: parsed.core };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ...candidate, gflops: null, core: "", error: `probe failed: ${reason}` };
  }
}

function canRun(): boolean {
  try {
    return Deno.permissions.querySync({ name: "run" }).state === "granted";
  } catch {
    return false;
  }
}

function unmeasurable(candidate: SgemmCandidate): Promise<MeasuredCandidate> {
  return Promise.resolve({ ...candidate, gflops: null, core: "", error: "no --allow-run" });
}

interface CacheFile {
  version: 1;
  choices: Record<string, Omit<SgemmChoice, "source" | "key">>;
}

/** Options of {@linkcode chooseSgemm}. */
export interface ChooseOptions {
  /** Threads the implementation will use. */
  threads: number;
  /** Candidates (default: `sgemmCandidates` for this CPU). */
  candidates?: SgemmCandidate[];
  /** How a candidate is timed (default: a probe process each). */
  measure?: MeasureFn;
  /** Cache file (default `sgemmCachePath()`). */
  cachePath?: string;
  /** Machine key (default `machineKey(threads)`). */
  key?: string;
  /** Measure again even when the cache has this machine. */
  refresh?: boolean;
  /** Warnings (a corrupt cache); default stderr. */
  warn?: (message: string) => void;
}

function readCache(path: string, warn: (message: string) => void): CacheFile | null {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
    if (parsed?.version !== 1 || typeof parsed.choices !== "object" || parsed.choices === null) {
      throw new Error("not a version-1 sgemm cache");
    }
    return parsed as CacheFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, choices: {} };
    warn(`${path}: ${error instanceof Error ? error.message : error}; measuring without cache`);
    return null; // corrupt: reported and left alone, never overwritten
  }
}

/**
 * The sgemm to use on this machine: `AUTORESEARCH_SGEMM` when set, else the cached choice for
 * this machine key, else every candidate measured now (and cached).
 */
export async function chooseSgemm(options: ChooseOptions): Promise<SgemmChoice> {
  const key = options.key ?? machineKey(options.threads);
  const forced = envGet("AUTORESEARCH_SGEMM");
  const candidates = options.candidates ?? sgemmCandidates(detectCpuFeatures().flags);
  if (forced) {
    const known = [...candidates, { id: "js", kind: "js", why: "plain TypeScript loops" }];
    if (!known.some((candidate) => candidate.id === forced)) {
      throw new Error(
        `AUTORESEARCH_SGEMM: must be one of ${known.map((c) => c.id).join(", ")}, got ${forced}`,
      );
    }
    return {
      chosen: forced,
      candidates: candidates.map((c) => ({ ...c, gflops: null, core: "" })),
      source: "forced",
      measuredAt: new Date().toISOString(),
      key,
    };
  }
  const path = options.cachePath ?? sgemmCachePath();
  const warn = options.warn ?? ((message: string) => console.error(`warning: ${message}`));
  const cache = readCache(path, warn);
  const hit = cache?.choices[key];
  if (hit && !options.refresh && hit.candidates.some((c) => c.id === hit.chosen)) {
    return { ...hit, source: "cache", key };
  }
  const measure = options.measure ?? (canRun() ? measureInProcess : unmeasurable);
  const measured: MeasuredCandidate[] = [];
  // One at a time: candidates must not compete for the cores they are timed on.
  for (const candidate of candidates) measured.push(await measure(candidate, options.threads));
  const best = pickFastest(measured);
  const choice = {
    chosen: best?.id ?? null,
    candidates: measured,
    measuredAt: new Date().toISOString(),
  };
  if (!best) return { ...choice, source: "unmeasured", key };
  if (cache) {
    cache.choices[key] = choice;
    try {
      Deno.mkdirSync(dirname(path), { recursive: true });
      atomicWriteSync(path, JSON.stringify(cache, null, 2) + "\n");
    } catch (error) {
      warn(`${path}: cannot write cache (${error instanceof Error ? error.message : error})`);
    }
  }
  return { ...choice, source: "measured", key };
}

/**
 * Put the chosen core type into this process's environment, so the BLAS loads with it. Returns
 * false when that is no longer possible (the library is already loaded with another one).
 */
export function applyCoretype(candidate: SgemmCandidate, blasLoaded: boolean): boolean {
  const want = wantedCoretype(candidate);
  const now = envGet("OPENBLAS_CORETYPE") || null;
  if (want === now) return true;
  if (blasLoaded) return false;
  try {
    if (want === null) Deno.env.delete("OPENBLAS_CORETYPE");
    else Deno.env.set("OPENBLAS_CORETYPE", want);
    return true;
  } catch {
    return false; // no env permission: the library loads as the environment says
  }
}
