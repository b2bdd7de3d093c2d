/**
 * The adapter's memory bandwidth, MEASURED: a vec4 copy kernel (each element read once and
 * written once) over buffers larger than any GPU cache, timed with GPU timestamps. Bytes moved =
 * 2 x buffer size. This is the bandwidth a plain streaming kernel reaches, which is what the
 * per-op bounds of the engine bench divide by.
 */
import { timeOnDevice, type WebGpuBackend } from "../../src/engine/webgpu/mod.ts";
import type { KernelSpec } from "../../src/engine/webgpu/dispatch.ts";

const COPY_WGSL = /* wgsl */ `
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

// Grid-stride: any buffer size fits the workgroup limit.
@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * 256u;
  for (var i = gid.x; i < params.count; i += stride) {
    dst[i] = src[i];
  }
}
`;

const COPY: KernelSpec = {
  module: "bench_copy",
  code: COPY_WGSL,
  entry: "copy",
  bindings: ["uniform", "read", "rw"],
};

/** A measured bandwidth. */
export interface MeasuredBandwidth {
  /** Bytes per second (read + write). */
  bytesPerSecond: number;
  /** Bytes of one buffer copied. */
  bufferBytes: number;
  /** Where the time came from. */
  source: "timestamp" | "wall";
}

/**
 * Copy a `mib`-MiB buffer into another (capped at the binding limit); best of `repeats` passes of
 * `reps` copies.
 */
export async function measureCopyBandwidth(
  backend: WebGpuBackend,
  mib: number,
  reps: number,
  repeats: number,
): Promise<MeasuredBandwidth> {
  const bytes = Math.min(mib * 2 ** 20, backend.dispatcher.maxStorageBindingBytes) & ~15;
  const src = backend.alloc("f32", bytes / 4);
  const dst = backend.alloc("f32", bytes / 4);
  try {
    backend.fill({ out: src, value: 1 });
    const vec4s = bytes / 16;
    const groups = Math.min(
      Math.ceil(vec4s / 256 / 4),
      backend.dispatcher.maxWorkgroupsPerDimension,
    );
    const record = () =>
      backend.dispatcher.dispatch(COPY, new Uint32Array([vec4s, 0, 0, 0]), [src.gpu, dst.gpu], [
        groups,
      ]);
    record();
    await backend.sync();
    let best = { ms: Infinity, source: "wall" as "timestamp" | "wall" };
    for (let i = 0; i < repeats; i++) {
      const timing = await timeOnDevice(backend, record, reps);
      if (timing.ms < best.ms) best = timing;
    }
    return {
      bytesPerSecond: (2 * bytes) / (best.ms / 1000),
      bufferBytes: bytes,
      source: best.source,
    };
  } finally {
    backend.free(src);
    backend.free(dst);
  }
}
