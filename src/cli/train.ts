/**
 * CLI commands of the train layer. `prepare` (the fixed harness: data + tokenizer) is
 * registered by `registerPrepare`; `register` adds every command of the group, so the trainer's
 * commands can be added next to it.
 */
import type { Command } from "@commander-js/extra-typings";
import { action, jsonOption, parseNumber, printJson } from "./common.ts";
import { prepare, type PreparedMeta } from "../train/prepare.ts";
import { UsageError } from "../util/errors.ts";
import { DEFAULT_NUM_SHARDS, SMALL_VOCAB_SIZE, VOCAB_SIZE } from "../train/harness.ts";

function parseInteger(field: string, raw: string): number {
  const value = parseNumber(field, raw);
  if (!Number.isInteger(value)) throw new UsageError(field, `must be an integer, got ${raw}`);
  return value;
}

/** One human line per figure of a prepared dataset. */
function describe(meta: PreparedMeta): string {
  const split = (s: PreparedMeta["train"]) =>
    `${s.documents} documents, ${s.tokens} tokens, ${
      (s.bytes / Math.max(1, s.tokens)).toFixed(2)
    }` +
    ` bytes/token`;
  return [
    `source:    ${meta.source.kind}: ${meta.source.description}`,
    ...(meta.source.fallback_reason ? [`fallback:  ${meta.source.fallback_reason}`] : []),
    `tokenizer: vocab ${meta.vocab_size}, ${meta.tokenizer.path}`,
    `train:     ${split(meta.train)}`,
    `val:       ${split(meta.val)}`,
    `prepared:  ${meta.name}${meta.reused ? " (reused)" : ""}, now current`,
  ].join("\n");
}

/** Add `prepare` to `program`. */
export function registerPrepare(program: Command): void {
  program
    .command("prepare")
    .description(
      "Download the data shards (or read local text, or use the embedded corpus), train the " +
        "tokenizer and tokenize train/val into the cache. With no source option it downloads " +
        "and falls back to the embedded corpus (Moby-Dick) when the download fails.",
    )
    .option(
      "--num-shards <n>",
      `train shards of karpathy/climbmix-400b-shuffle to download (default ${DEFAULT_NUM_SHARDS})`,
    )
    .option("--base-url <url>", "shard server (env AUTORESEARCH_DATA_URL; default: Hugging Face)")
    .option("--text <path>", "prepare from local text: a directory (file = document) or a file")
    .option("--embedded", "use the embedded default corpus without trying the network")
    .option(
      "--vocab-size <n>",
      `vocabulary size (default ${VOCAB_SIZE} for shards, ${SMALL_VOCAB_SIZE} otherwise)`,
    )
    .option("--cache <dir>", "cache root (env AUTORESEARCH_CACHE; default ~/.cache/autoresearch)")
    .option("--force", "rebuild even if this dataset is already prepared")
    .addOption(jsonOption())
    .action(action(async (options) => {
      const numShards = options.numShards === undefined
        ? undefined
        : parseInteger("--num-shards", options.numShards);
      const vocabSize = options.vocabSize === undefined
        ? undefined
        : parseInteger("--vocab-size", options.vocabSize);
      if (options.embedded && options.text !== undefined) {
        throw new UsageError("--embedded", "cannot be combined with --text");
      }
      const meta = await prepare({
        cacheRoot: options.cache,
        source: options.embedded ? "embedded" : undefined,
        textPath: options.text,
        numShards,
        baseUrl: options.baseUrl,
        vocabSize,
        force: options.force === true,
      });
      if (options.json) printJson(meta);
      else console.log(describe(meta));
    }));
}

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  registerPrepare(program);
}
