/**
 * `prepare`: from a source to a ready dataset (trained tokenizer + tokenized train/val splits)
 * in the cache, and `loadPrepared` to read it back in the trainer. Sources: the upstream
 * parquet shards (downloaded, verified), local text (`--text`), or the embedded corpus, which
 * is also the fallback when nothing was asked for and the download fails. Each prepared set
 * lives under its own name (source + vocabulary size); `current.json` names the latest one.
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { atomicWrite } from "../util/atomic.ts";
import { DataError, UsageError } from "../util/errors.ts";
import { withLock } from "../util/lock.ts";
import { EMBEDDED_CORPUS, embeddedDocuments } from "./corpus.ts";
import {
  readParquetTexts,
  readTextSource,
  readTokenFile,
  splitTrainVal,
  TokenFileWriter,
} from "./data.ts";
import type { TokenDocs } from "./data.ts";
import { DownloadError, ensureShard, redactUrl } from "./download.ts";
import {
  DEFAULT_DATA_URL,
  DEFAULT_NUM_SHARDS,
  MAX_TRAIN_SHARD,
  SMALL_VOCAB_SIZE,
  TOKENIZER_DOC_CAP,
  VAL_SHARD,
  VOCAB_SIZE,
} from "./harness.ts";
import { cachePaths } from "./paths.ts";
import { checkVocabSize, Tokenizer, trainTokenizer } from "./tokenizer.ts";

/** Where the documents come from. */
export type SourceKind = "climbmix" | "text" | "embedded";

/** Options of `prepare`. */
export interface PrepareOptions {
  /** Cache root (default `$AUTORESEARCH_CACHE` or `~/.cache/autoresearch`). */
  cacheRoot?: string;
  /** Explicit source; left out: download the shards, falling back to the embedded corpus. */
  source?: SourceKind;
  /** File or directory for `source: "text"`. */
  textPath?: string;
  /** Train shards to download (default 10). */
  numShards?: number;
  /** Shard server (default `$AUTORESEARCH_DATA_URL` or the Hugging Face hub). */
  baseUrl?: string;
  /** Vocabulary size (default 8192 for the shards, 4096 for the small corpora). */
  vocabSize?: number;
  /** Rebuild even when this dataset is already prepared. */
  force?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Download backoff base in ms (default 1000; tests use less). */
  retryDelayMs?: number;
}

/** Figures of one tokenized split. */
export interface SplitInfo {
  /** Documents in the split. */
  documents: number;
  /** Tokens, BOS included. */
  tokens: number;
  /** UTF-8 bytes of the documents' text. */
  bytes: number;
  /** The token file. */
  path: string;
}

/** `meta.json` of a prepared dataset: what it is and how it was made. */
export interface PreparedMeta {
  /** Always "autoresearch-prepared/1". */
  format: string;
  /** Name of this prepared set (folder name). */
  name: string;
  /** The source. */
  source: {
    kind: SourceKind;
    description: string;
    /** Why the embedded corpus was used instead of a download (fallback only). */
    fallback_reason?: string;
  };
  /** Vocabulary size. */
  vocab_size: number;
  /** The tokenizer file and its sha256 (part of the harness identity). */
  tokenizer: { path: string; sha256: string; train_chars: number; seconds: number };
  /** Train split. */
  train: SplitInfo;
  /** Val split. */
  val: SplitInfo;
  /** Shard file -> sha256 (shard sources only). */
  shards?: Record<string, string>;
  /** When it was prepared (ISO time). */
  created_at: string;
  /** True when `prepare` found it already done and reused it. */
  reused?: boolean;
}

/** A prepared dataset loaded for training. */
export interface PreparedData {
  /** Its meta. */
  meta: PreparedMeta;
  /** Its tokenizer. */
  tokenizer: Tokenizer;
  /** Raw byte length per token id (0 for specials). */
  tokenBytes: Int32Array;
  /** Train split. */
  train: TokenDocs;
  /** Val split. */
  val: TokenDocs;
}

const META_FORMAT = "autoresearch-prepared/1";

/** The resolved, validated plan of one `prepare` run. */
interface Plan {
  kind: SourceKind | "auto";
  vocabSize: number;
  numShards: number;
  baseUrl: string;
  textPath?: string;
}

function validate(options: PrepareOptions): Plan {
  const { source, textPath, numShards, baseUrl, vocabSize } = options;
  if (textPath !== undefined && source !== undefined && source !== "text") {
    throw new UsageError("--text", `cannot be combined with the ${source} source`);
  }
  const kind = textPath !== undefined ? "text" : source ?? "auto";
  if (kind === "text" && (numShards !== undefined || baseUrl !== undefined)) {
    throw new UsageError("--text", "cannot be combined with --num-shards or --base-url");
  }
  if (kind === "embedded" && (numShards !== undefined || baseUrl !== undefined)) {
    throw new UsageError("--embedded", "cannot be combined with --num-shards or --base-url");
  }
  if (kind === "text" && !textPath) throw new UsageError("--text", "needs a file or directory");
  if (numShards !== undefined) {
    if (!Number.isInteger(numShards) || numShards < 1 || numShards > MAX_TRAIN_SHARD + 1) {
      throw new UsageError(
        "--num-shards",
        `must be an integer from 1 to ${MAX_TRAIN_SHARD + 1}, got ${numShards}`,
      );
    }
  }
  const url = baseUrl ?? Deno.env.get("AUTORESEARCH_DATA_URL") ?? DEFAULT_DATA_URL;
  if (!/^https?:\/\/[^\s]+$/.test(url)) {
    throw new UsageError(
      "--base-url",
      `must be an http(s) URL, got ${JSON.stringify(redactUrl(url))}`,
    );
  }
  // `--num-shards` / `--base-url` ask for the shards explicitly (no fallback); the env var only
  // configures a mirror.
  const explicitShards = numShards !== undefined || baseUrl !== undefined;
  const resolved = kind === "auto" && explicitShards ? "climbmix" : kind;
  const size = vocabSize ??
    (resolved === "climbmix" || resolved === "auto" ? VOCAB_SIZE : SMALL_VOCAB_SIZE);
  checkVocabSize(size);
  return {
    kind: resolved,
    vocabSize: size,
    numShards: numShards ?? DEFAULT_NUM_SHARDS,
    baseUrl: url,
    textPath,
  };
}

/** Documents of a source, as (possibly streamed) train and val sequences. */
interface ResolvedSource {
  kind: SourceKind;
  vocabSize: number;
  name: string;
  description: string;
  fallbackReason?: string;
  shards?: Record<string, string>;
  train: () => AsyncIterable<string> | Iterable<string>;
  val: () => AsyncIterable<string> | Iterable<string>;
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function resolveText(
  path: string,
  vocabSize: number,
  log: (line: string) => void,
): Promise<ResolvedSource> {
  let found;
  try {
    found = await readTextSource(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError("--text", `no such file or directory: ${path}`);
    }
    // A file the user named that is not text is their mistake: exit 2, like any bad input.
    if (error instanceof TypeError) throw new UsageError("--text", `${path} is not UTF-8 text`);
    throw new DataError(path, (error as Error).message);
  }
  for (const line of found.skipped) log(`skipped ${line}`);
  if (found.documents.length < 2) {
    throw new UsageError(
      "--text",
      `${path} holds ${found.documents.length} document(s); need at least 2 (one is held out ` +
        `for val): give a directory of files or a file with paragraphs split by blank lines`,
    );
  }
  const { train, val } = splitTrainVal(found.documents);
  const hash = sha256Hex(found.documents.join("\u0000")).slice(0, 12);
  const how = found.mode === "files" ? "documents = files" : "documents = paragraphs";
  return {
    kind: "text" as const,
    vocabSize,
    name: `text-${hash}-v${vocabSize}`,
    description: `local text ${resolve(path)} (${found.documents.length} documents; ${how})`,
    train: () => train,
    val: () => val,
  };
}

function resolveEmbedded(vocabSize: number, fallbackReason?: string): ResolvedSource {
  const { train, val } = splitTrainVal(embeddedDocuments());
  return {
    kind: "embedded",
    vocabSize,
    name: `${EMBEDDED_CORPUS.name}-v${vocabSize}`,
    description: EMBEDDED_CORPUS.description,
    fallbackReason,
    train: () => train,
    val: () => val,
  };
}

async function* shardTexts(paths: string[]): AsyncGenerator<string> {
  for (const path of paths) yield* await readParquetTexts(path);
}

async function resolveShards(
  plan: Plan,
  dataDir: string,
  options: PrepareOptions,
  log: (line: string) => void,
): Promise<ResolvedSource> {
  const download = { dataDir, baseUrl: plan.baseUrl, log, retryDelayMs: options.retryDelayMs };
  const shards: Record<string, string> = {};
  // The pinned val shard first: a source that cannot give it is no use.
  // Asked for nothing in particular: an unreachable network means "offline", so fall back at
  // once rather than after a minute of retries.
  const val = await ensureShard(VAL_SHARD, {
    ...download,
    failFastWhenUnreachable: plan.kind === "auto",
  });
  shards[val.name] = val.sha256;
  const trainPaths: string[] = [];
  for (let index = 0; index < plan.numShards; index++) {
    const shard = await ensureShard(index, download);
    shards[shard.name] = shard.sha256;
    trainPaths.push(shard.path);
  }
  return {
    kind: "climbmix",
    vocabSize: plan.vocabSize,
    name: `climbmix-${plan.numShards}-v${plan.vocabSize}`,
    description: `${plan.numShards} train shards + val shard ${VAL_SHARD} of ` +
      `karpathy/climbmix-400b-shuffle from ${redactUrl(plan.baseUrl)}; documents = rows`,
    shards,
    train: () => shardTexts(trainPaths),
    val: () => shardTexts([val.path]),
  };
}

async function readMeta(path: string): Promise<PreparedMeta | undefined> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(path));
    return meta?.format === META_FORMAT ? meta : undefined;
  } catch {
    return undefined;
  }
}

async function tokenizeSplit(
  tokenizer: Tokenizer,
  documents: AsyncIterable<string> | Iterable<string>,
  path: string,
): Promise<SplitInfo> {
  const writer = await TokenFileWriter.create(path);
  let bytes = 0;
  const ids: number[] = [];
  const encoder = new TextEncoder();
  try {
    for await (const document of documents) {
      ids.length = 0;
      tokenizer.encodeDocument(document, ids);
      await writer.write(ids);
      bytes += encoder.encode(document).length;
    }
    await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return { documents: writer.documents, tokens: writer.tokens, bytes, path };
}

/**
 * Prepare a dataset: resolve the source, train the tokenizer on the train split, tokenize both
 * splits, write `meta.json`, and make it current. Reuses a matching prepared set unless
 * `force`. Bad options throw a UsageError before anything is written.
 */
export async function prepare(options: PrepareOptions = {}): Promise<PreparedMeta> {
  const log = options.log ?? ((line: string) => console.error(line));
  const plan = validate(options);
  const paths = cachePaths(options.cacheRoot);
  // Local text is read (and checked) before the cache is touched.
  const text = plan.kind === "text"
    ? await resolveText(plan.textPath!, plan.vocabSize, log)
    : undefined;

  return await withLock(paths.lock, async () => {
    let source: ResolvedSource;
    if (text) source = text;
    else if (plan.kind === "embedded") source = resolveEmbedded(plan.vocabSize);
    else {
      try {
        source = await resolveShards(plan, paths.data, options, log);
      } catch (error) {
        if (plan.kind !== "auto" || !(error instanceof DownloadError)) throw error;
        const reason = error.message;
        log(`download failed (${reason}); using the embedded default corpus`);
        source = resolveEmbedded(options.vocabSize ?? SMALL_VOCAB_SIZE, reason);
      }
    }
    const vocabSize = source.vocabSize;
    log(`source: ${source.description}`);

    const tokenizerPath = join(paths.tokenizer, source.name, "tokenizer.json");
    const tokensDir = join(paths.tokens, source.name);
    const metaPath = join(tokensDir, "meta.json");
    const previous = await readMeta(metaPath);
    if (previous && !options.force && await isIntact(previous, source, tokenizerPath)) {
      await atomicWrite(paths.current, JSON.stringify({ name: source.name }) + "\n");
      log(`already prepared: ${source.name} (use --force to rebuild)`);
      return { ...previous, reused: true };
    }

    const started = performance.now();
    let trainChars = 0;
    const counted = async function* () {
      for await (const document of source.train()) {
        trainChars += Math.min(document.length, TOKENIZER_DOC_CAP);
        yield document;
      }
    };
    const tokenizer = await trainTokenizer(counted(), { vocabSize });
    const seconds = (performance.now() - started) / 1000;
    await tokenizer.save(tokenizerPath);
    const tokenizerSha = sha256Hex(await Deno.readFile(tokenizerPath));
    log(`tokenizer: vocab ${vocabSize} trained in ${seconds.toFixed(1)} s -> ${tokenizerPath}`);

    await Deno.mkdir(tokensDir, { recursive: true });
    const train = await tokenizeSplit(tokenizer, source.train(), join(tokensDir, "train.bin"));
    const val = await tokenizeSplit(tokenizer, source.val(), join(tokensDir, "val.bin"));
    const meta: PreparedMeta = {
      format: META_FORMAT,
      name: source.name,
      source: {
        kind: source.kind,
        description: source.description,
        ...(source.fallbackReason ? { fallback_reason: source.fallbackReason } : {}),
      },
      vocab_size: vocabSize,
      tokenizer: {
        path: tokenizerPath,
        sha256: tokenizerSha,
        train_chars: trainChars,
        seconds: Number(seconds.toFixed(3)),
      },
      train,
      val,
      ...(source.shards ? { shards: source.shards } : {}),
      created_at: new Date().toISOString(),
    };
    await atomicWrite(metaPath, JSON.stringify(meta, null, 1) + "\n");
    await atomicWrite(paths.current, JSON.stringify({ name: source.name }) + "\n");
    return meta;
    // A download may take long: wait for another prepare up to a day, saying whom we wait for.
  }, { timeoutS: 24 * 3600 });
}

async function isIntact(
  meta: PreparedMeta,
  source: ResolvedSource,
  tokenizerPath: string,
): Promise<boolean> {
  if (JSON.stringify(meta.shards ?? null) !== JSON.stringify(source.shards ?? null)) return false;
  try {
    if (sha256Hex(await Deno.readFile(tokenizerPath)) !== meta.tokenizer.sha256) return false;
    for (const split of [meta.train, meta.val]) {
      if ((await Deno.stat(split.path)).size !== split.tokens * 2) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Load a prepared dataset for training: the one `current.json` names, or `name`. Anything
 * missing or inconsistent is a DataError naming the file.
 */
export async function loadPrepared(
  options: { cacheRoot?: string; name?: string } = {},
): Promise<PreparedData> {
  const paths = cachePaths(options.cacheRoot);
  let name = options.name;
  if (name === undefined) {
    try {
      name = JSON.parse(await Deno.readTextFile(paths.current)).name;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new DataError(paths.current, "nothing prepared yet; run `autoresearch prepare`");
      }
      throw new DataError(paths.current, `corrupt: ${(error as Error).message}`);
    }
    if (typeof name !== "string" || !/^[\w.-]+$/.test(name)) {
      throw new DataError(paths.current, "corrupt: no valid dataset name");
    }
  }
  const metaPath = join(paths.tokens, name, "meta.json");
  const meta = await readMeta(metaPath);
  if (!meta) throw new DataError(metaPath, "missing or corrupt; run `autoresearch prepare`");
  const tokenizer = await Tokenizer.load(join(paths.tokenizer, name, "tokenizer.json"));
  if (tokenizer.vocabSize !== meta.vocab_size) {
    throw new DataError(
      metaPath,
      `vocab_size ${meta.vocab_size} but the tokenizer has ${tokenizer.vocabSize}`,
    );
  }
  const train = await readTokenFile(join(paths.tokens, name, "train.bin"), tokenizer.bosId);
  const val = await readTokenFile(join(paths.tokens, name, "val.bin"), tokenizer.bosId);
  for (const [split, docs] of [["train", train], ["val", val]] as const) {
    if (docs.tokens.length !== meta[split].tokens) {
      throw new DataError(
        join(paths.tokens, name, `${split}.bin`),
        `holds ${docs.tokens.length} tokens, meta.json says ${meta[split].tokens}`,
      );
    }
  }
  return { meta, tokenizer, tokenBytes: tokenizer.tokenBytes(), train, val };
}
