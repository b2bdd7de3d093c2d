/**
 * The harness tokenizer: byte-level BPE with the upstream split pattern, `vocabSize - 4` merges
 * followed by the 4 special tokens `<|reserved_0..3|>` (BOS = `<|reserved_0|>`). Saved as plain
 * JSON (merges as numbers, never code). `tokenBytes()` gives each token's raw byte length (0 for
 * specials), the denominator of val_bpb, so a token holding half a UTF-8 character counts the
 * bytes it really holds (not the 3 bytes of U+FFFD, upstream issue #384).
 */
import { atomicWrite } from "../util/atomic.ts";
import { DataError, UsageError } from "../util/errors.ts";
import { addChunkCounts, pairKey, trainMerges } from "./bpe.ts";
import { SPLIT_PATTERN, splitRegex } from "./bpe_split.ts";
import {
  BOS_TOKEN,
  MAX_VOCAB_SIZE,
  MIN_VOCAB_SIZE,
  SPECIAL_TOKENS,
  TOKENIZER_DOC_CAP,
  TOKENIZER_MAX_CHARS,
} from "./harness.ts";

/** The `format` tag of a saved tokenizer file. */
export const TOKENIZER_FORMAT = "autoresearch-bpe/1";

/** A tokenizer as saved on disk (`tokenizer.json`). */
export interface TokenizerFile {
  /** Always `TOKENIZER_FORMAT`. */
  format: string;
  /** The split pattern it was trained with (upstream syntax). */
  pattern: string;
  /** Total vocabulary: 256 bytes + merges + specials. */
  vocab_size: number;
  /** Flat merge list: merge i joins ids merges[2i], merges[2i+1] into id 256 + i. */
  merges: number[];
  /** Special token names, with ids following the merges. */
  special_tokens: string[];
  /** The BOS token name. */
  bos: string;
}

/** Options for `trainTokenizer`. */
export interface TrainTokenizerOptions {
  /** Total vocabulary size including the 4 specials (upstream 8192). */
  vocabSize: number;
  /** Train on at most this many characters (upstream 1e9). */
  maxChars?: number;
  /** Each document contributes at most this many characters (upstream 10,000). */
  docCap?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CACHE_LIMIT = 500_000;

/** A trained byte-level BPE tokenizer. */
export class Tokenizer {
  /** Total vocabulary size (256 bytes + merges + 4 specials). */
  readonly vocabSize: number;
  /** Flat merge list (see `TokenizerFile.merges`). */
  readonly merges: readonly number[];
  /** Id of `<|reserved_0|>`, prepended to every document. */
  readonly bosId: number;
  /** Special token name -> id. */
  readonly specialIds: ReadonlyMap<string, number>;

  // ranks: pair key -> id of the merged token (lower id = earlier merge = applied first).
  private readonly ranks = new Map<number, number>();
  private readonly tokenByteStrings: Uint8Array[] = [];
  private readonly chunkCache = new Map<string, number[]>();

  /** Build from a merge list; specials get the ids after the merges. */
  constructor(merges: readonly number[]) {
    if (merges.length % 2 !== 0) throw new Error("merges: must hold pairs");
    this.merges = merges;
    const numMerges = merges.length / 2;
    this.vocabSize = 256 + numMerges + SPECIAL_TOKENS.length;
    for (let b = 0; b < 256; b++) this.tokenByteStrings.push(Uint8Array.of(b));
    for (let m = 0; m < numMerges; m++) {
      const a = merges[2 * m], b = merges[2 * m + 1], id = 256 + m;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0 || a >= id || b >= id) {
        throw new Error(`merges: merge ${m} joins ids ${a}, ${b}, which do not exist yet`);
      }
      const left = this.tokenByteStrings[a], right = this.tokenByteStrings[b];
      const joined = new Uint8Array(left.length + right.length);
      joined.set(left);
      joined.set(right, left.length);
      this.tokenByteStrings.push(joined);
      this.ranks.set(pairKey(a, b), id);
    }
    const specials = new Map<string, number>();
    SPECIAL_TOKENS.forEach((name, i) => {
      specials.set(name, 256 + numMerges + i);
      this.tokenByteStrings.push(encoder.encode(name));
    });
    this.specialIds = specials;
    this.bosId = specials.get(BOS_TOKEN)!;
  }

  /** Number of merges (vocabSize - 260). */
  get numMerges(): number {
    return this.merges.length / 2;
  }

  /** True when `id` is one of the special tokens. */
  isSpecial(id: number): boolean {
    return id >= 256 + this.numMerges && id < this.vocabSize;
  }

  /** Raw byte length of every token, indexed by id; 0 for the specials. */
  tokenBytes(): Int32Array {
    const out = new Int32Array(this.vocabSize);
    for (let id = 0; id < this.vocabSize; id++) {
      out[id] = this.isSpecial(id) ? 0 : this.tokenByteStrings[id].length;
    }
    return out;
  }

  /** The raw bytes of token `id` (a special token's are its name). */
  bytesOf(id: number): Uint8Array {
    const bytes = this.tokenByteStrings[id];
    if (bytes === undefined) throw new RangeError(`token id ${id} outside vocabulary`);
    return bytes;
  }

  /** Encode one pre-tokenizer chunk into `out` (cached). */
  private encodeChunk(chunk: string, out: number[]): void {
    let ids = this.chunkCache.get(chunk);
    if (ids === undefined) {
      ids = this.mergeBytes(chunkBytes(chunk));
      if (this.chunkCache.size >= CACHE_LIMIT) this.chunkCache.clear();
      this.chunkCache.set(chunk, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  /** Apply merges to a byte sequence, earliest merge first, as BPE training did. */
  private mergeBytes(bytes: ArrayLike<number>): number[] {
    const ids = Array.from(bytes);
    while (ids.length >= 2) {
      let best = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const merged = this.ranks.get(pairKey(ids[i], ids[i + 1]));
        if (merged !== undefined && merged < best) best = merged;
      }
      if (best === Infinity) break;
      const a = this.merges[2 * (best - 256)], b = this.merges[2 * (best - 256) + 1];
      let out = 0;
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          ids[out++] = best;
          i++;
        } else {
          ids[out++] = ids[i];
        }
      }
      ids.length = out;
    }
    return ids;
  }

  /** Encode `text` as ordinary text (special token names are not recognised). */
  encodeOrdinary(text: string, out: number[] = []): number[] {
    const regex = splitRegex();
    for (let match = regex.exec(text); match !== null; match = regex.exec(text)) {
      this.encodeChunk(match[0], out);
    }
    return out;
  }

  /** Encode a document: BOS, then its tokens. */
  encodeDocument(text: string, out: number[] = []): number[] {
    out.push(this.bosId);
    return this.encodeOrdinary(text, out);
  }

  /** The raw bytes of a token sequence (specials contribute their names). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let length = 0;
    for (let i = 0; i < ids.length; i++) length += this.bytesOf(ids[i]).length;
    const out = new Uint8Array(length);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.bytesOf(ids[i]);
      out.set(bytes, at);
      at += bytes.length;
    }
    return out;
  }

  /** Decode to text; a token sequence ending inside a UTF-8 character shows U+FFFD there. */
  decode(ids: ArrayLike<number>): string {
    return decoder.decode(this.decodeBytes(ids));
  }

  /** The saved form. */
  toJSON(): TokenizerFile {
    return {
      format: TOKENIZER_FORMAT,
      pattern: SPLIT_PATTERN,
      vocab_size: this.vocabSize,
      merges: [...this.merges],
      special_tokens: [...SPECIAL_TOKENS],
      bos: BOS_TOKEN,
    };
  }

  /** Save as JSON at `path`, atomically. */
  async save(path: string): Promise<void> {
    await atomicWrite(path, JSON.stringify(this.toJSON()) + "\n");
  }

  /** Rebuild from the saved form; throws a message naming what is wrong. */
  static fromJSON(data: unknown): Tokenizer {
    const file = data as Partial<TokenizerFile> | null;
    if (typeof file !== "object" || file === null) throw new Error("not a JSON object");
    if (file.format !== TOKENIZER_FORMAT) {
      throw new Error(`format is ${JSON.stringify(file.format)}, expected ${TOKENIZER_FORMAT}`);
    }
    if (file.pattern !== SPLIT_PATTERN) throw new Error("split pattern differs from the harness");
    if (JSON.stringify(file.special_tokens) !== JSON.stringify(SPECIAL_TOKENS)) {
      throw new Error("special tokens differ from the harness");
    }
    if (file.bos !== BOS_TOKEN) throw new Error(`bos is not ${BOS_TOKEN}`);
    if (!Array.isArray(file.merges)) throw new Error("merges: not an array");
    const tokenizer = new Tokenizer(file.merges);
    if (tokenizer.vocabSize !== file.vocab_size) {
      throw new Error(
        `vocab_size ${file.vocab_size} does not match ${file.merges.length / 2} merges`,
      );
    }
    return tokenizer;
  }

  /** Load `tokenizer.json`; a missing or corrupt file is a DataError naming the path. */
  static async load(path: string): Promise<Tokenizer> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new DataError(path, "no tokenizer here; run `autoresearch prepare` first");
      }
      throw new DataError(path, `cannot read: ${(error as Error).message}`);
    }
    try {
      return Tokenizer.fromJSON(JSON.parse(text));
    } catch (error) {
      throw new DataError(path, `corrupt tokenizer: ${(error as Error).message}`);
    }
  }
}

/** UTF-8 bytes of a chunk; ASCII chunks (the common case) skip the encoder. */
function chunkBytes(chunk: string): ArrayLike<number> {
  const codes = new Array<number>(chunk.length);
  for (let i = 0; i < chunk.length; i++) {
    const code = chunk.charCodeAt(i);
    if (code >= 128) return encoder.encode(chunk);
    codes[i] = code;
  }
  return codes;
}

/** Check a vocabulary size from user input. */
export function checkVocabSize(vocabSize: number, field = "--vocab-size"): void {
  if (!Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE) {
    throw new UsageError(
      field,
      `must be an integer from ${MIN_VOCAB_SIZE} to ${MAX_VOCAB_SIZE}, got ${vocabSize}`,
    );
  }
}

/**
 * Train a tokenizer on `documents` as upstream does: each document capped at `docCap`
 * characters, at most `maxChars` characters in all, `vocabSize - 260` merges. Throws a
 * UsageError when the corpus cannot supply that many merges. Documents may be streamed.
 */
export async function trainTokenizer(
  documents: Iterable<string> | AsyncIterable<string>,
  options: TrainTokenizerOptions,
): Promise<Tokenizer> {
  const { vocabSize, maxChars = TOKENIZER_MAX_CHARS, docCap = TOKENIZER_DOC_CAP } = options;
  checkVocabSize(vocabSize);
  const counts = new Map<string, number>();
  let total = 0;
  for await (const document of documents) {
    if (total >= maxChars) break;
    const capped = document.length > docCap ? document.slice(0, docCap) : document;
    const kept = capped.length > maxChars - total ? capped.slice(0, maxChars - total) : capped;
    total += kept.length;
    addChunkCounts(counts, kept);
  }
  const wanted = vocabSize - MIN_VOCAB_SIZE;
  const merges = trainMerges(counts, wanted);
  if (merges.length / 2 < wanted) {
    throw new UsageError(
      "--vocab-size",
      `the training text supports at most ${MIN_VOCAB_SIZE + merges.length / 2}, got ${vocabSize}`,
    );
  }
  return new Tokenizer(merges);
}
