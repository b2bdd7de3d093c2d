/**
 * The fixed harness constants: the numbers every run shares so results stay comparable
 * (upstream `prepare.py`). Agents edit the recipe, never these.
 */

/** Context length of the upstream harness (tokens per row, before the +1 target shift). */
export const MAX_SEQ_LEN = 2048;
/** Seconds of counted training per run, upstream default. */
export const TIME_BUDGET_SECONDS = 300;
/** Validation tokens scored by evaluate_bpb upstream (40 * 524288). */
export const EVAL_TOKENS = 40 * 524288;
/** Validation tokens for small machines: enough for a stable figure in seconds on a CPU. */
export const SMALL_EVAL_TOKENS = 32768;
/** Evaluation context on a real GPU, whatever the recipe's seqLen (upstream's MAX_SEQ_LEN). */
export const EVAL_SEQ_LEN = MAX_SEQ_LEN;
/** Rows per evaluation batch on a real GPU (fixed: the packing of the slice depends on it). */
export const EVAL_ROWS = 16;
/** Evaluation context on small machines (CPU, software WebGPU): the CPU default's seqLen. */
export const SMALL_EVAL_SEQ_LEN = 256;
/** Rows per evaluation batch on small machines. */
export const SMALL_EVAL_ROWS = 8;
/** Tokenizer vocabulary size upstream (merges + 256 bytes + 4 specials). */
export const VOCAB_SIZE = 8192;
/** Vocabulary size for the small corpora (embedded default, local text): fits a CPU model. */
export const SMALL_VOCAB_SIZE = 4096;
/** Smallest vocabulary: the 256 byte tokens plus the 4 specials, no merges. */
export const MIN_VOCAB_SIZE = 260;
/** Largest vocabulary: token ids are stored as 16-bit integers. */
export const MAX_VOCAB_SIZE = 65536;

/** The public dataset on the Hugging Face hub. */
export const DATASET_REPO = "karpathy/climbmix-400b-shuffle";
/** Where shards are fetched from (override with `--base-url` or `AUTORESEARCH_DATA_URL`). */
export const DEFAULT_DATA_URL = `https://huggingface.co/datasets/${DATASET_REPO}/resolve/main`;
/** Highest train shard index; shards 0..MAX_TRAIN_SHARD are training data. */
export const MAX_TRAIN_SHARD = 6541;
/** The pinned validation shard. */
export const VAL_SHARD = 6542;
/** Train shards downloaded by default. */
export const DEFAULT_NUM_SHARDS = 10;
/** Download attempts per shard before giving up. */
export const DOWNLOAD_ATTEMPTS = 5;

/** Characters the tokenizer trains on at most. */
export const TOKENIZER_MAX_CHARS = 1_000_000_000;
/** Each document contributes at most this many characters to tokenizer training. */
export const TOKENIZER_DOC_CAP = 10_000;
/** The special tokens, appended after the merges; the first is BOS. */
export const SPECIAL_TOKENS: readonly string[] = [
  "<|reserved_0|>",
  "<|reserved_1|>",
  "<|reserved_2|>",
  "<|reserved_3|>",
];
/** The token that starts every document. */
export const BOS_TOKEN = "<|reserved_0|>";

/** File name of a parquet shard, e.g. `shard_06542.parquet`. */
export function shardName(index: number): string {
  return `shard_${String(index).padStart(5, "0")}.parquet`;
}
