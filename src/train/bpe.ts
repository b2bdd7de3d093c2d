/**
 * Byte-level BPE training, fast enough that the embedded corpus trains in about a second: the
 * text is split into chunks by the upstream pattern, identical chunks are counted once (a chunk
 * dictionary), pair counts are updated incrementally after each merge (only the words that hold
 * the merged pair are touched), and the next merge comes from a max-heap with lazy deletion,
 * the approach of rustbpe and minbpe's fast trainers.
 */
import { splitRegex } from "./bpe_split.ts";

// A pair (a, b) of token ids as one number; ids stay below 2^20, so keys are exact doubles and
// key order is lexicographic pair order (used to break count ties deterministically).
const PAIR_SHIFT = 1 << 20;
/** The map key of the token pair (a, b). */
export function pairKey(a: number, b: number): number {
  return a * PAIR_SHIFT + b;
}

/** Add the pre-tokenizer chunks of `text` to `counts` (the chunk dictionary BPE trains on). */
export function addChunkCounts(counts: Map<string, number>, text: string): void {
  const regex = splitRegex();
  for (let match = regex.exec(text); match !== null; match = regex.exec(text)) {
    const chunk = match[0];
    counts.set(chunk, (counts.get(chunk) ?? 0) + 1);
  }
}

/** Max-heap of (count, pair key): highest count first, then the smaller pair. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private before(i: number, j: number): boolean {
    const ci = this.counts[i], cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Remove the top entry and return it as [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      const n = this.counts.length;
      for (;;) {
        const left = 2 * i + 1, right = left + 1;
        let best = i;
        if (left < n && this.before(left, best)) best = left;
        if (right < n && this.before(right, best)) best = right;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

const encoder = new TextEncoder();

/**
 * Learn up to `numMerges` byte-pair merges from a chunk dictionary. Merge i creates token id
 * 256 + i from the pair (merges[2i], merges[2i+1]). Stops early when no pair is left.
 */
export function trainMerges(chunkCounts: Map<string, number>, numMerges: number): number[] {
  // words[w]: the current token ids of unique chunk w; weights[w]: how often it occurs.
  const words: number[][] = [];
  const weights: number[] = [];
  for (const [chunk, count] of chunkCounts) {
    const bytes = encoder.encode(chunk);
    if (bytes.length < 2) continue; // a single byte never takes part in a merge
    words.push(Array.from(bytes));
    weights.push(count);
  }

  const pairCounts = new Map<number, number>();
  // pairWords[key]: words that held the pair at some point (may be stale; checked on use).
  const pairWords = new Map<number, number[]>();
  const noteWord = (key: number, w: number) => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < words.length; w++) {
    const word = words[w], weight = weights[w];
    for (let i = 0; i + 1 < word.length; i++) {
      const key = pairKey(word[i], word[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + weight);
      noteWord(key, w);
    }
  }

  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const merges: number[] = [];
  const visitedAt = new Int32Array(words.length).fill(-1);
  const touched = new Set<number>();
  for (let m = 0; m < numMerges && heap.size > 0;) {
    const [count, key] = heap.pop();
    const current = pairCounts.get(key) ?? 0;
    if (current !== count) {
      if (current > 0) heap.push(current, key); // stale entry: requeue with the true count
      continue;
    }
    if (current <= 0) break;
    const a = Math.floor(key / PAIR_SHIFT), b = key % PAIR_SHIFT;
    const newId = 256 + m;
    merges.push(a, b);
    touched.clear();
    for (const w of pairWords.get(key) ?? []) {
      if (visitedAt[w] === m) continue;
      visitedAt[w] = m;
      const word = words[w], weight = weights[w];
      let holds = false;
      for (let i = 0; i + 1 < word.length; i++) {
        if (word[i] === a && word[i + 1] === b) {
          holds = true;
          break;
        }
      }
      if (!holds) continue;
      // Remove this word's pairs, merge (left to right, non-overlapping), add its pairs back.
      for (let i = 0; i + 1 < word.length; i++) {
        const k = pairKey(word[i], word[i + 1]);
        pairCounts.set(k, pairCounts.get(k)! - weight);
      }
      let out = 0;
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
          word[out++] = newId;
          i++;
        } else {
          word[out++] = word[i];
        }
      }
      word.length = out;
      for (let i = 0; i + 1 < word.length; i++) {
        const left = word[i], right = word[i + 1];
        const k = pairKey(left, right);
        pairCounts.set(k, (pairCounts.get(k) ?? 0) + weight);
        if (left === newId || right === newId) {
          noteWord(k, w);
          touched.add(k);
        }
      }
    }
    pairCounts.delete(key);
    pairWords.delete(key);
    // Only pairs holding the new token can have grown; every other change was a decrease,
    // which the lazy check above handles.
    for (const k of touched) {
      const c = pairCounts.get(k)!;
      if (c > 0) heap.push(c, k);
    }
    m++;
  }
  return merges;
}
