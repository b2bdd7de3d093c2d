/** Public API of the train layer (re-exported by the top-level mod.ts). */

// The fixed harness: constants, tokenizer, data preparation, loader, evaluate_bpb.
export {
  BOS_TOKEN,
  DEFAULT_DATA_URL,
  DEFAULT_NUM_SHARDS,
  EVAL_TOKENS,
  MAX_SEQ_LEN,
  SMALL_EVAL_TOKENS,
  SMALL_VOCAB_SIZE,
  SPECIAL_TOKENS,
  TIME_BUDGET_SECONDS,
  VAL_SHARD,
  VOCAB_SIZE,
} from "./harness.ts";
export { SPLIT_PATTERN, splitText } from "./bpe_split.ts";
export {
  Tokenizer,
  type TokenizerFile,
  trainTokenizer,
  type TrainTokenizerOptions,
} from "./tokenizer.ts";
export { type TokenDocs } from "./data.ts";
export { EMBEDDED_CORPUS, type EmbeddedCorpus, embeddedDocuments } from "./corpus.ts";
export {
  loadPrepared,
  prepare,
  type PreparedData,
  type PreparedMeta,
  type PrepareOptions,
  type SourceKind,
  type SplitInfo,
} from "./prepare.ts";
export { DownloadError } from "./download.ts";
export { type CachePaths, cachePaths, defaultCacheRoot } from "./paths.ts";
export { type Batch, BestFitLoader, type LoaderOptions, type LoaderStats } from "./dataloader.ts";
export {
  accumulateBpb,
  bitsPerByte,
  type BpbResult,
  type BpbTotals,
  computeBpb,
  evaluateBpb,
  type EvaluateBpbOptions,
  type LossFn,
} from "./bpb.ts";

// The trainer: the recipe (the one file agents edit: model, optimizer, hyperparameters), the
// harness's model runner, the loop, a run.
export {
  CPU_RECIPE,
  createOptimizer,
  flopsPerToken,
  GPT,
  GPU_RECIPE,
  lrMultiplier,
  type ModelConfig,
  type ModelShape,
  muonMomentum,
  type OptimizerSetup,
  type ParamGroup,
  paramGroup,
  type Recipe,
  recipeFor,
  UPSTREAM_OPTIMIZER,
  weightDecayAt,
} from "./recipe.ts";
export { ModelRunner, type TrainableModel, type TrainOptimizer } from "./model.ts";
export {
  MAX_LOSS,
  type MicroBatch,
  microSteps,
  type TrainLoopOptions,
  type TrainLoopResult,
  trainModel,
} from "./loop.ts";
export {
  formatProgress,
  formatSummary,
  type Progress,
  pyFixed,
  type RunSummary,
} from "./summary.ts";
export { type CheckpointManifest, readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
export {
  harnessHash,
  recipeHash,
  runExperiment,
  type RunOptions,
  type RunReport,
  summaryText,
  type TrainingData,
  trainingDataFrom,
  writeResults,
} from "./run.ts";
