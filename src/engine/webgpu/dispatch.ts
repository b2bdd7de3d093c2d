/**
 * The dispatcher: compiles and caches compute pipelines, and records dispatches into ONE command
 * encoder and compute pass that is submitted lazily (when a host read, host write or sync needs
 * it, or when the uniform staging area is full), so a training step costs a handful of submits
 * instead of hundreds. Per-dispatch parameters go into 256-byte slots of one uniform buffer that
 * is uploaded right before the submit (queue order makes its reuse across submits safe).
 * Grids larger than the per-dimension workgroup limit are folded into 2-D grids by `grid1d`.
 * For measurement, a pass can carry GPU timestamps (`timePass`, used by timing.ts), and a
 * `PassTimer` can give every dispatch its own timed pass (the per-kernel profile).
 */

/** How a kernel binding is used: a uniform block, a read-only or a read-write storage buffer. */
export type BindingKind = "uniform" | "read" | "rw";

/** A kernel: WGSL source, entry point, its bindings in order 0..n, and override constants. */
export interface KernelSpec {
  /** A short unique name of the source (cache key part), e.g. "matmul". */
  module: string;
  /** WGSL source. */
  code: string;
  /** Entry point. */
  entry: string;
  /**
   * Binding kinds: binding i of group 0 is bindings[i]; null for a binding this entry point does
   * not use. Binding 0 is the uniform block.
   */
  bindings: readonly (BindingKind | null)[];
  /** Pipeline-overridable constants. */
  constants?: Record<string, number>;
}

/** A storage buffer binding: the whole buffer, or a byte range of it. */
export interface BufferBinding {
  /** The GPU buffer. */
  buffer: GPUBuffer;
  /** Byte offset (a multiple of minStorageBufferOffsetAlignment). Default 0. */
  offset?: number;
  /** Byte size. Default: the rest of the buffer, capped at the binding limit. */
  size?: number;
}

/** Bytes per uniform slot (>= minUniformBufferOffsetAlignment on every adapter). */
const UNIFORM_SLOT = 256;
/** Dispatches recorded before a forced submit. */
const SLOTS = 1024;

/** A compiled kernel: its pipeline and the bind group layout its dispatches use. */
export interface CachedPipeline {
  /** The compute pipeline. */
  pipeline: GPUComputePipeline;
  /** Its explicit bind group layout (group 0). */
  layout: GPUBindGroupLayout;
}

/**
 * Timestamps for compute passes: `begin(label)` returns the timestampWrites of one pass, and the
 * dispatcher calls `resolve(encoder)` before every submit and `submitted()` after it. Implemented
 * by timing.ts's DispatchProfiler; the dispatcher only needs this much.
 */
export interface PassTimer {
  /** Timestamp writes for a pass of `label`, or undefined when the query set is full. */
  begin(label: string): GPUComputePassTimestampWrites | undefined;
  /** Record the resolve of every query written since the last submit. */
  resolve(encoder: GPUCommandEncoder): void;
  /** Called right after the submit that carried `resolve`'s commands. */
  submitted(): void;
}

/** Records dispatches and submits them in batches. */
export class Dispatcher {
  /** The device dispatches go to. */
  readonly device: GPUDevice;
  /** Workgroups per grid dimension (the device limit). */
  readonly maxWorkgroupsPerDimension: number;
  /**
   * Largest byte range bound at once: the device limit, or lower (tests lower it to exercise the
   * windowed paths that split tensors larger than one binding).
   */
  maxStorageBindingBytes: number;
  readonly #pipelines = new Map<string, CachedPipeline>();
  readonly #modules = new Map<string, GPUShaderModule>();
  readonly #uniformBuffer: GPUBuffer;
  readonly #staging = new ArrayBuffer(UNIFORM_SLOT * SLOTS);
  #slot = 0;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  /** Dispatches recorded since creation (for tests and reports). */
  dispatchCount = 0;
  /** Submits since creation. */
  submitCount = 0;
  /** Dispatches per kernel ("module.entry") since creation or `resetCounts()`. */
  readonly kernelCounts: Map<string, number> = new Map();
  /** When set, every dispatch runs in its own timed pass (per-kernel profiling). */
  profiler: PassTimer | null = null;
  /** Compute passes begun since creation (timing checks that a measured span was one pass). */
  passCount = 0;
  #nextPassTimestamps: GPUComputePassTimestampWrites | undefined;

  /** A dispatcher for `device`. */
  constructor(device: GPUDevice) {
    this.device = device;
    this.maxWorkgroupsPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
    this.maxStorageBindingBytes = device.limits.maxStorageBufferBindingSize;
    this.#uniformBuffer = device.createBuffer({
      size: UNIFORM_SLOT * SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /** The compiled pipeline of a kernel (cached by module, entry and constants). */
  pipeline(spec: KernelSpec): CachedPipeline {
    const key = `${spec.module}:${spec.entry}:${JSON.stringify(spec.constants ?? {})}:${
      spec.bindings.join(",")
    }`;
    let cached = this.#pipelines.get(key);
    if (cached) return cached;
    let module = this.#modules.get(spec.module + "\0" + spec.code.length);
    if (!module) {
      module = this.device.createShaderModule({ label: spec.module, code: spec.code });
      this.#modules.set(spec.module + "\0" + spec.code.length, module);
    }
    // An explicit layout, so an entry point may leave some declared bindings unused.
    const layout = this.device.createBindGroupLayout({
      label: `${spec.module}.${spec.entry}`,
      entries: spec.bindings.flatMap((kind, binding) =>
        kind === null ? [] : [{
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: {
            type: kind === "uniform"
              ? "uniform" as const
              : kind === "read"
              ? "read-only-storage" as const
              : "storage" as const,
          },
        }]
      ),
    });
    const pipeline = this.device.createComputePipeline({
      label: `${spec.module}.${spec.entry}`,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: spec.entry, constants: spec.constants },
    });
    cached = { pipeline, layout };
    this.#pipelines.set(key, cached);
    return cached;
  }

  /** Number of compiled pipelines held. */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /**
   * Record one dispatch. `uniforms` (at most 256 bytes) binds at 0, `buffers` fill the spec's
   * non-null storage bindings in order; `grid` is the workgroup count per dimension (each within
   * the device limit).
   */
  dispatch(
    spec: KernelSpec,
    uniforms: ArrayBufferView,
    buffers: readonly (GPUBuffer | BufferBinding)[],
    grid: readonly [number, number?, number?],
  ): void {
    const [x, y = 1, z = 1] = grid;
    if (x === 0 || y === 0 || z === 0) return;
    for (const count of [x, y, z]) {
      if (count > this.maxWorkgroupsPerDimension || !Number.isInteger(count) || count < 0) {
        throw new Error(
          `webgpu: ${spec.module}.${spec.entry} grid ${x}x${y}x${z} exceeds ` +
            `${this.maxWorkgroupsPerDimension} workgroups per dimension`,
        );
      }
    }
    if (uniforms.byteLength > UNIFORM_SLOT) throw new Error("webgpu: uniform block over 256 bytes");
    if (this.#slot === SLOTS) this.flush();
    const label = `${spec.module}.${spec.entry}`;
    if (this.profiler) {
      // Each dispatch in its own pass with timestamps; a full query set is submitted first.
      this.#endPass();
      let writes = this.profiler.begin(label);
      if (!writes) {
        this.flush();
        writes = this.profiler.begin(label);
      }
      this.#nextPassTimestamps = writes;
    }
    const offset = this.#slot++ * UNIFORM_SLOT;
    new Uint8Array(this.#staging, offset, uniforms.byteLength).set(
      new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength),
    );
    const { pipeline, layout } = this.pipeline(spec);
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: this.#uniformBuffer, offset, size: UNIFORM_SLOT },
    }];
    const slots = spec.bindings.flatMap((kind, i) => kind === null || i === 0 ? [] : [i]);
    if (slots.length !== buffers.length) {
      throw new Error(`webgpu: ${spec.module}.${spec.entry} takes ${slots.length} buffers`);
    }
    buffers.forEach((b, i) => {
      const binding = "buffer" in b ? b : { buffer: b };
      const start = binding.offset ?? 0;
      const size = binding.size ??
        Math.min(binding.buffer.size - start, this.maxStorageBindingBytes);
      entries.push({
        binding: slots[i],
        resource: { buffer: binding.buffer, offset: start, size },
      });
    });
    const bindGroup = this.device.createBindGroup({ layout, entries });
    const pass = this.#computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
    this.kernelCounts.set(label, (this.kernelCounts.get(label) ?? 0) + 1);
  }

  /** Zero the dispatch, submit and per-kernel counters. */
  resetCounts(): void {
    this.dispatchCount = 0;
    this.submitCount = 0;
    this.kernelCounts.clear();
  }

  /**
   * Submit what is pending, then open a compute pass that writes `writes` (begin and end
   * timestamps): the dispatches recorded next go into it until something ends the pass.
   * Returns the pass number, which `passCount` equals while that pass is still the open one.
   */
  timePass(writes: GPUComputePassTimestampWrites): number {
    this.flush();
    this.#nextPassTimestamps = writes;
    this.#computePass();
    return this.passCount;
  }

  /** Record a buffer-to-buffer copy in order with the dispatches. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.#endPass();
    this.#encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  #computePass(): GPUComputePassEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    if (!this.#pass) {
      const timestampWrites = this.#nextPassTimestamps;
      this.#nextPassTimestamps = undefined;
      this.#pass = this.#encoder.beginComputePass(timestampWrites ? { timestampWrites } : {});
      this.passCount++;
    }
    return this.#pass;
  }

  #endPass(): void {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  /** Submit everything recorded so far (uniforms first). */
  flush(): void {
    if (!this.#encoder) return;
    this.#endPass();
    if (this.#slot > 0) {
      this.device.queue.writeBuffer(
        this.#uniformBuffer,
        0,
        this.#staging,
        0,
        this.#slot * UNIFORM_SLOT,
      );
    }
    this.profiler?.resolve(this.#encoder);
    this.device.queue.submit([this.#encoder.finish()]);
    this.profiler?.submitted();
    this.submitCount++;
    this.#encoder = null;
    this.#slot = 0;
  }

  /** Submit and wait until the device has finished all of it. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /**
   * Fold `workgroups` into a grid within the per-dimension limit: [x, y] with x*y >= workgroups.
   * Kernels recover the linear index as `wid.x + wid.y * nwg.x` and skip indices past the end.
   */
  grid1d(workgroups: number): [number, number] {
    const max = this.maxWorkgroupsPerDimension;
    if (workgroups <= max) return [Math.max(workgroups, 0), 1];
    const y = Math.ceil(workgroups / max);
    if (y > max) throw new Error(`webgpu: ${workgroups} workgroups exceed ${max}^2`);
    return [Math.ceil(workgroups / y), y];
  }

  /** Release the uniform buffer. */
  destroy(): void {
    this.#encoder = null;
    this.#pass = null;
    this.#uniformBuffer.destroy();
  }
}
