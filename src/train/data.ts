/**
 * Documents and token files. Turns a source (local text files, one big text, parquet shards)
 * into documents, splits them into train and val deterministically, and stores tokenized splits
 * as flat little-endian uint16 files in which every document starts with BOS, so document
 * boundaries need no second file: they are the BOS positions.
 */
import { join, relative } from "node:path";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DataError } from "../util/errors.ts";

/** A tokenized split: all documents back to back, each starting with BOS. */
export interface TokenDocs {
  /** The tokens. */
  tokens: Uint16Array;
  /** Start offset of each document, plus `tokens.length` at the end (length = docs + 1). */
  starts: Uint32Array;
}

/** Split one big text into documents at blank lines; whitespace-only pieces are dropped. */
export function splitParagraphs(text: string): string[] {
  return text.split(/\r?\n[ \t]*\r?\n/).map((piece) => piece.replace(/^\s+|\s+$/g, "")).filter(
    (piece) => piece.length > 0,
  );
}

/**
 * Split documents into train and val: every tenth document (evenly spaced, at least one, and at
 * least one left for train) goes to val. Deterministic, and spread over the whole source so
 * val looks like train.
 */
export function splitTrainVal(documents: string[]): { train: string[]; val: string[] } {
  if (documents.length < 2) throw new Error("need at least 2 documents to hold one out for val");
  const valCount = Math.max(1, Math.round(documents.length / 10));
  const train: string[] = [];
  const val: string[] = [];
  documents.forEach((document, i) => {
    const isVal = Math.floor(((i + 1) * valCount) / documents.length) >
      Math.floor((i * valCount) / documents.length);
    (isVal ? val : train).push(document);
  });
  return { train, val };
}

/** What `readTextSource` found. */
export interface TextSource {
  /** The documents, in path order (directory) or text order (file). */
  documents: string[];
  /** How documents were formed, for the user. */
  mode: "files" | "paragraphs";
  /** Files that were skipped (not UTF-8, unreadable), each with the reason. */
  skipped: string[];
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Read local text: a directory gives one document per file (recursively, sorted by path, dot
 * files skipped); a single file gives one document per paragraph (split on blank lines).
 * Files that are not UTF-8 are reported in `skipped`, never silently used.
 */
export async function readTextSource(path: string): Promise<TextSource> {
  const info = await Deno.stat(path);
  if (info.isFile) {
    const text = strictDecoder.decode(await Deno.readFile(path));
    return { documents: splitParagraphs(text), mode: "paragraphs", skipped: [] };
  }
  const files: string[] = [];
  const walk = async (dir: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory) await walk(full);
      else if (entry.isFile) files.push(full);
    }
  };
  await walk(path);
  const documents: string[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    try {
      const text = strictDecoder.decode(await Deno.readFile(file));
      if (text.trim().length > 0) documents.push(text);
    } catch (error) {
      const reason = error instanceof TypeError ? "not UTF-8 text" : (error as Error).message;
      skipped.push(`${relative(path, file)}: ${reason}`);
    }
  }
  return { documents, mode: "files", skipped };
}

/** Read the `text` column of a parquet shard; a file that does not parse is a DataError. */
export async function readParquetTexts(path: string): Promise<string[]> {
  const bytes = await Deno.readFile(path);
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({
      file: bytes.buffer as ArrayBuffer,
      columns: ["text"],
      compressors,
    });
  } catch (error) {
    throw new DataError(path, `not a readable parquet file: ${(error as Error).message}`);
  }
  const texts: string[] = [];
  for (const row of rows) {
    if (typeof row.text === "string") texts.push(row.text);
  }
  if (rows.length > 0 && texts.length === 0) {
    throw new DataError(path, "no string column `text` in this parquet file");
  }
  return texts;
}

/** Document start offsets of a token array: the BOS positions, plus the end. */
export function documentStarts(tokens: Uint16Array, bosId: number): Uint32Array {
  let count = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === bosId) count++;
  const starts = new Uint32Array(count + 1);
  let at = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === bosId) starts[at++] = i;
  starts[count] = tokens.length;
  return starts;
}

/**
 * Writes a token file: tokens appended document by document into a temp file in the same
 * folder, renamed into place by `close()`, so a reader never sees a partial file.
 */
export class TokenFileWriter {
  /** Tokens written so far. */
  tokens = 0;
  /** Documents written so far. */
  documents = 0;
  private readonly temp: string;
  private constructor(readonly path: string, private readonly file: Deno.FsFile) {
    this.temp = `${path}.tmp`;
  }

  /** Start writing `path` (through `path.tmp`). */
  static async create(path: string): Promise<TokenFileWriter> {
    const file = await Deno.open(`${path}.tmp`, { write: true, create: true, truncate: true });
    return new TokenFileWriter(path, file);
  }

  // Tokens are gathered into a 1 MiB buffer so millions of small documents cost few writes.
  private readonly pending = new DataView(new ArrayBuffer(1 << 20));
  private pendingBytes = 0;

  private async flush(): Promise<void> {
    const bytes = new Uint8Array(this.pending.buffer, 0, this.pendingBytes);
    let written = 0;
    while (written < bytes.length) written += await this.file.write(bytes.subarray(written));
    this.pendingBytes = 0;
  }

  /** Append one document's tokens (BOS first). */
  async write(ids: readonly number[]): Promise<void> {
    for (let i = 0; i < ids.length; i++) {
      if (this.pendingBytes === this.pending.byteLength) await this.flush();
      this.pending.setUint16(this.pendingBytes, ids[i], true);
      this.pendingBytes += 2;
    }
    this.tokens += ids.length;
    this.documents++;
  }

  /** Flush, close and move the file into place. */
  async close(): Promise<void> {
    await this.flush();
    await this.file.sync();
    this.file.close();
    await Deno.rename(this.temp, this.path);
  }

  /** Give up: close and delete the temp file. */
  async abort(): Promise<void> {
    try {
      this.file.close();
    } catch { /* already closed */ }
    await Deno.remove(this.temp).catch(() => {});
  }
}

/** Read a token file written by `TokenFileWriter`; odd sizes or a missing BOS are DataErrors. */
export async function readTokenFile(path: string, bosId: number): Promise<TokenDocs> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DataError(path, `cannot read token file: ${(error as Error).message}`);
  }
  if (bytes.length % 2 !== 0) throw new DataError(path, `size ${bytes.length} is not even`);
  const tokens = new Uint16Array(bytes.length / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < tokens.length; i++) tokens[i] = view.getUint16(2 * i, true);
  if (tokens.length > 0 && tokens[0] !== bosId) {
    throw new DataError(path, "does not start with BOS");
  }
  return { tokens, starts: documentStarts(tokens, bosId) };
}
