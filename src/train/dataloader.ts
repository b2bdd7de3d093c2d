/**
 * The harness data loader, as upstream: BOS starts every document; each row of T+1 tokens is
 * filled best-fit from a buffer of documents (the largest document that fits whole; when none
 * fits, the shortest is cropped to fill the row exactly, and its tail is dropped); no padding,
 * no cross-document masking; inputs = row[:-1], targets = row[1:]. Deterministic: the same
 * documents, options and seed give the same batches.
 */
import { seededRandom } from "../util/random.ts";
import type { TokenDocs } from "./data.ts";

/** Options for `BestFitLoader`. */
export interface LoaderOptions {
  /** Rows per batch (B). */
  batchSize: number;
  /** Tokens per row fed to the model (T); rows hold T + 1 tokens. */
  seqLen: number;
  /** Shuffle document order each epoch (train); false keeps file order (val). */
  shuffle?: boolean;
  /** Seed of the shuffle. */
  seed?: number;
  /** Documents held for best-fit choice (upstream 1000). */
  bufferSize?: number;
}

/** One batch: row-major [batchSize, seqLen] token ids. */
export interface Batch {
  /** Model inputs, [B, T]. */
  inputs: Int32Array;
  /** Next-token targets, [B, T]: targets[b, t] = row[b][t + 1]. */
  targets: Int32Array;
  /** Rows (B). */
  batchSize: number;
  /** Tokens per row (T). */
  seqLen: number;
  /** 1 during the first pass over the documents, 2 during the second, ... */
  epoch: number;
}

/** Running totals of a loader, for reports and tests. */
export interface LoaderStats {
  /** Documents placed into rows (whole or cropped). */
  documents: number;
  /** Documents that were cropped to fill a row. */
  cropped: number;
  /** Tokens dropped as cropped tails. */
  droppedTokens: number;
  /** Tokens placed into rows. */
  placedTokens: number;
  /** Documents drawn from the (epoch-ordered) split into the buffer. */
  drawn: number;
}

/** Best-fit packing loader over a tokenized split; endless (it starts a new epoch as needed). */
export class BestFitLoader implements Iterator<Batch> {
  /** Totals so far. */
  readonly stats: LoaderStats = {
    documents: 0,
    cropped: 0,
    droppedTokens: 0,
    placedTokens: 0,
    drawn: 0,
  };
  private readonly batchSize: number;
  private readonly seqLen: number;
  private readonly bufferSize: number;
  private readonly shuffle: boolean;
  private readonly random: () => number;
  private order: Uint32Array;
  private nextInOrder: number;
  private epoch = 0;
  private readonly buffer: number[] = []; // document indices waiting to be placed

  /** A loader over `docs` (each document starts with BOS). */
  constructor(private readonly docs: TokenDocs, options: LoaderOptions) {
    const { batchSize, seqLen, shuffle = false, seed = 0, bufferSize = 1000 } = options;
    for (const [name, value] of [["batchSize", batchSize], ["seqLen", seqLen]] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`${name} must be a positive integer`);
      }
    }
    if (docs.starts.length < 2) throw new RangeError("no documents to load");
    this.batchSize = batchSize;
    this.seqLen = seqLen;
    this.bufferSize = Math.max(1, bufferSize);
    this.shuffle = shuffle;
    this.random = seededRandom(seed);
    this.order = new Uint32Array(docs.starts.length - 1);
    this.nextInOrder = this.order.length; // forces a new epoch on first use
  }

  private documentLength(doc: number): number {
    return this.docs.starts[doc + 1] - this.docs.starts[doc];
  }

  private nextDocument(): number {
    if (this.nextInOrder >= this.order.length) {
      this.epoch++;
      for (let i = 0; i < this.order.length; i++) this.order[i] = i;
      if (this.shuffle) {
        for (let i = this.order.length - 1; i > 0; i--) {
          const j = Math.floor(this.random() * (i + 1));
          [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
        }
      }
      this.nextInOrder = 0;
    }
    this.stats.drawn++;
    return this.order[this.nextInOrder++];
  }

  /** Documents drawn but not placed yet (they wait in the best-fit buffer). */
  pending(): readonly number[] {
    return [...this.buffer];
  }

  /** The next batch (never done: the loader cycles through epochs). */
  next(): IteratorResult<Batch> {
    const rowLength = this.seqLen + 1;
    const rows = new Int32Array(this.batchSize * rowLength);
    const { tokens, starts } = this.docs;
    for (let row = 0; row < this.batchSize; row++) {
      const rowStart = row * rowLength;
      let position = 0;
      while (position < rowLength) {
        // A split with fewer documents than the buffer holds each document once per refill.
        const target = Math.min(this.bufferSize, this.order.length);
        while (this.buffer.length < target) this.buffer.push(this.nextDocument());
        const remaining = rowLength - position;
        // Largest document that fits whole (first one on ties).
        let best = -1, bestLength = 0;
        for (let i = 0; i < this.buffer.length; i++) {
          const length = this.documentLength(this.buffer[i]);
          if (length <= remaining && length > bestLength) {
            best = i;
            bestLength = length;
          }
        }
        let take: number;
        if (best < 0) {
          // Nothing fits: crop the shortest document to fill the row exactly.
          best = 0;
          for (let i = 1; i < this.buffer.length; i++) {
            if (this.documentLength(this.buffer[i]) < this.documentLength(this.buffer[best])) {
              best = i;
            }
          }
          take = remaining;
          this.stats.cropped++;
          this.stats.droppedTokens += this.documentLength(this.buffer[best]) - remaining;
        } else {
          take = bestLength;
        }
        const doc = this.buffer[best];
        // Order inside the buffer does not matter except for ties; keep it stable.
        this.buffer.splice(best, 1);
        rows.set(tokens.subarray(starts[doc], starts[doc] + take), rowStart + position);
        position += take;
        this.stats.documents++;
        this.stats.placedTokens += take;
      }
    }
    const inputs = new Int32Array(this.batchSize * this.seqLen);
    const targets = new Int32Array(this.batchSize * this.seqLen);
    for (let row = 0; row < this.batchSize; row++) {
      const from = rows.subarray(row * rowLength, (row + 1) * rowLength);
      inputs.set(from.subarray(0, this.seqLen), row * this.seqLen);
      targets.set(from.subarray(1), row * this.seqLen);
    }
    return {
      done: false,
      value: { inputs, targets, batchSize: this.batchSize, seqLen: this.seqLen, epoch: this.epoch },
    };
  }

  /** Iterate batches forever. */
  [Symbol.iterator](): Iterator<Batch> {
    return this;
  }
}
