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

// The recipe's contract (C2): loaded at run time (compile-safe), its config keys and changes.
export {
  applyConfigChange,
  changeConfig,
  checkRecipeConfig,
  configValue,
  type Constraint,
  CPU_DEVICE,
  type Device,
  type LoadedRecipe,
  type ModelConfig,
  type ModelContext,
  type Recipe,
  recipeConfigKeys,
  type RecipeModule,
  recipeName,
} from "./recipe.ts";
export {
  DEFAULT_RECIPE_SOURCE,
  evaluateRecipe,
  loadRecipe,
  loadRecipeSync,
  RECIPE_API_SPECIFIER,
  RecipeError,
  recipeForDevice,
  resolveRecipePath,
  WORKSPACE_RECIPE,
} from "./recipe_loader.ts";
export { type EvalSettings, evalSettings } from "./evaluation.ts";
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
  type RecipeText,
  runExperiment,
  type RunOptions,
  type RunReport,
  summaryText,
  type TrainingData,
  trainingDataFrom,
  writeResults,
} from "./run.ts";
