/**
 * The system BLAS through Deno FFI: `cblas_sgemm` from OpenBLAS (Linux, Windows) or Accelerate
 * (macOS), zero-copy on the caller's Float32Arrays. Optional: used only where the library loads
 * and the ffi permission is already granted (never prompts).
 *
 * @module
 */
import { scaleC } from "./js.ts";
import type { BlasIdentity, Gemm, SgemmParams } from "./types.ts";
import { resolveSgemm } from "./types.ts";

/** Library names tried in order, per operating system. */
const CANDIDATES: Record<string, string[]> = {
  linux: ["libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"],
  darwin: [
    "/System/Library/Frameworks/Accelerate.framework/Accelerate",
    "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
    "/usr/local/opt/openblas/lib/libopenblas.dylib",
  ],
  windows: ["libopenblas.dll", "openblas.dll"],
};

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // layout: 101 row-major
      "i32", // transA: 111 no, 112 yes
      "i32", // transB
      "i32", // m
      "i32", // n
      "i32", // k
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
} as const;

type BlasLibrary = Deno.DynamicLibrary<typeof SYMBOLS>;

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

/** Whether this process has loaded a BLAS (its core type is then fixed until it exits). */
let loadedOnce = false;

/** True once a BLAS has been loaded in this process. */
export function blasLoaded(): boolean {
  return loadedOnce;
}

/** Directories searched for the library file when stamping it (the loader's usual places). */
const LIBRARY_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
  "/lib/x86_64-linux-gnu",
  "/opt/homebrew/opt/openblas/lib",
  "/usr/local/opt/openblas/lib",
];

/**
 * A stamp of the BLAS file the loader would open (path, size, modification time), without
 * loading it: a library upgrade changes it. "blas:none" when no candidate file is found.
 */
export function blasLibraryStamp(): string {
  let fromEnv = "";
  try {
    fromEnv = Deno.env.get("LD_LIBRARY_PATH") ?? "";
  } catch {
    // No env permission: the usual places only.
  }
  const dirs = [...fromEnv.split(":").filter((dir) => dir !== ""), ...LIBRARY_DIRS];
  for (const name of CANDIDATES[Deno.build.os] ?? []) {
    const paths = name.startsWith("/") ? [name] : dirs.map((dir) => `${dir}/${name}`);
    for (const path of paths) {
      try {
        const real = Deno.realPathSync(path);
        const info = Deno.statSync(real);
        return `blas:${real}:${info.size}:${info.mtime?.getTime() ?? 0}`;
      } catch {
        // Not here: try the next place.
      }
    }
  }
  return "blas:none";
}

/** Opens the first BLAS that loads; null when none does or ffi is not granted. */
function openBlas(): { lib: BlasLibrary; path: string } | null {
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
  } catch {
    return null;
  }
  for (const path of CANDIDATES[Deno.build.os] ?? []) {
    try {
      const lib = Deno.dlopen(path, SYMBOLS);
      loadedOnce = true;
      return { lib, path };
    } catch {
      // Not installed under this name, or no cblas_sgemm in it: try the next.
    }
  }
  return null;
}

/** A C string returned by the library, or "" when the symbol is missing or returns null. */
function libraryString(read: (() => Deno.PointerValue) | null | undefined): string {
  const pointer = read?.();
  return pointer ? Deno.UnsafePointerView.getCString(pointer) : "";
}

/** Creates the BLAS implementation, or returns null when no system BLAS loads. */
export function createBlasGemm(threads: number): Gemm | null {
  const opened = openBlas();
  if (!opened) return null;
  const { lib, path } = opened;
  const sym = lib.symbols;
  // OpenBLAS's thread count is process-wide; cap it so we share the CPU as asked.
  sym.openblas_set_num_threads?.(threads);
  const name = path.split("/").pop() ?? path;
  const identity: BlasIdentity = {
    library: name,
    core: libraryString(sym.openblas_get_corename),
    config: libraryString(sym.openblas_get_config),
  };
  let closed = false;
  return {
    kind: `blas:${name}`,
    detail: identity.core ? `core ${identity.core}` : "",
    blas: identity,
    threads,
    sgemm(p: SgemmParams): void {
      if (closed) throw new Error("gemm: used after close()");
      const r = resolveSgemm(p);
      const { m, n, k } = r;
      if (m === 0 || n === 0) return;
      for (let t = 0; t < r.batch; t++) {
        const oa = r.offsetA + t * r.strideA, ob = r.offsetB + t * r.strideB;
        const oc = r.offsetC + t * r.strideC;
        if (k === 0) {
          scaleC(r.c, oc, m * n, r.beta); // BLAS may skip k=0 oddly; keep the contract exact
          continue;
        }
        sym.cblas_sgemm(
          ROW_MAJOR,
          r.transA ? TRANS : NO_TRANS,
          r.transB ? TRANS : NO_TRANS,
          m,
          n,
          k,
          r.alpha,
          r.a.subarray(oa, oa + m * k),
          r.transA ? m : k,
          r.b.subarray(ob, ob + k * n),
          r.transB ? k : n,
          r.beta,
          r.c.subarray(oc, oc + m * n),
          n,
        );
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      lib.close();
    },
  };
}
