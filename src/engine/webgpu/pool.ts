/**
 * A size-bucketed pool of storage buffers. Training allocates the same shapes every step, so a
 * freed buffer is kept and handed out again for the next request of the same bucket: memory
 * stays flat step over step and the driver is not asked for new buffers. Bytes in use and held
 * (with their peaks) are counted here, because WebGPU offers no memory query.
 */

/** Smallest allocation, bytes (also keeps bindings 256-byte aligned in size). */
const MIN_BYTES = 256;

/**
 * Round a request up to its bucket: a multiple of 256 bytes, then one of 8 steps per power of
 * two (waste under 12.5%), so near sizes share buffers.
 */
export function bucketBytes(bytes: number): number {
  const size = Math.max(MIN_BYTES, Math.ceil(bytes / 256) * 256);
  if (size <= 4096) return size;
  const power = 2 ** Math.floor(Math.log2(size));
  const step = power / 8;
  return Math.ceil(size / step) * step;
}

/** Counters of a pool (all in bytes except `liveBuffers`). */
export interface PoolStats {
  /** Bytes of buffers handed out and not released. */
  inUseBytes: number;
  /** Highest inUseBytes since the last reset. */
  peakInUseBytes: number;
  /** In use plus pooled free buffers: what the device holds for us. */
  reservedBytes: number;
  /** Highest reservedBytes since the last reset. */
  peakReservedBytes: number;
  /** Buffers handed out and not released. */
  liveBuffers: number;
}

/** A pool of GPU storage buffers keyed by bucket size. */
export class BufferPool {
  readonly #device: GPUDevice;
  readonly #usage: GPUBufferUsageFlags;
  readonly #free = new Map<number, GPUBuffer[]>();
  #inUse = 0;
  #peakInUse = 0;
  #reserved = 0;
  #peakReserved = 0;
  #live = 0;

  /** A pool on `device` whose buffers have `usage` (default storage + copy both ways). */
  constructor(device: GPUDevice, usage?: GPUBufferUsageFlags) {
    this.#device = device;
    this.#usage = usage ??
      (GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
  }

  /** A buffer of at least `bytes` (bucket-rounded); reused from the pool when one is free. */
  acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    const reuse = this.#free.get(size)?.pop();
    let buffer: GPUBuffer;
    if (reuse) {
      buffer = reuse;
    } else {
      buffer = this.#device.createBuffer({ size, usage: this.#usage });
      this.#reserved += size;
      this.#peakReserved = Math.max(this.#peakReserved, this.#reserved);
    }
    this.#inUse += size;
    this.#peakInUse = Math.max(this.#peakInUse, this.#inUse);
    this.#live++;
    return buffer;
  }

  /** Return a buffer obtained from `acquire`. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buffer);
    this.#inUse -= size;
    this.#live--;
  }

  /** Destroy every pooled free buffer (in-use ones are untouched). */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const buffer of list) {
        this.#reserved -= buffer.size;
        buffer.destroy();
      }
    }
    this.#free.clear();
  }

  /** Current counters. */
  stats(): PoolStats {
    return {
      inUseBytes: this.#inUse,
      peakInUseBytes: this.#peakInUse,
      reservedBytes: this.#reserved,
      peakReservedBytes: this.#peakReserved,
      liveBuffers: this.#live,
    };
  }

  /** Restart the peaks at the current values. */
  resetPeak(): void {
    this.#peakInUse = this.#inUse;
    this.#peakReserved = this.#reserved;
  }
}
