/**
 * The fixed taxonomy of experiment categories and the alias table that folds free-form tags
 * into it. Upstream's free tags fragmented (`lr` next to `learning_rate`), so every tag is
 * normalised the same way on write and on read, and a category nobody touched shows as zero.
 */

/** The fixed categories coverage is reported over, in display order. */
export const CATEGORIES = [
  "architecture",
  "optimizer",
  "learning_rate",
  "schedule",
  "batch_size",
  "attention",
  "normalization",
  "initialization",
  "regularization",
  "data",
  "tokenizer",
  "efficiency",
  "other",
] as const;

/** One of the fixed taxonomy categories. */
export type Category = typeof CATEGORIES[number];

const CATEGORY_SET: ReadonlySet<string> = new Set(CATEGORIES);

/** Free tag (already normalised) -> the tag it means. Targets are categories or kept tags. */
const ALIASES: Record<string, string> = {
  arch: "architecture",
  model: "architecture",
  depth: "architecture",
  width: "architecture",
  layers: "architecture",
  mlp: "architecture",
  activation: "architecture",
  optim: "optimizer",
  optimiser: "optimizer",
  optimization: "optimizer",
  optimisation: "optimizer",
  opt: "optimizer",
  lr: "learning_rate",
  learningrate: "learning_rate",
  learning_rates: "learning_rate",
  lrs: "learning_rate",
  lr_schedule: "schedule",
  scheduler: "schedule",
  warmup: "schedule",
  warmdown: "schedule",
  cooldown: "schedule",
  batch: "batch_size",
  batchsize: "batch_size",
  bs: "batch_size",
  grad_accum: "batch_size",
  gradient_accumulation: "batch_size",
  attn: "attention",
  normalisation: "normalization",
  norm: "normalization",
  init: "initialization",
  initialisation: "initialization",
  regularisation: "regularization",
  reg: "regularization",
  dataset: "data",
  dataloader: "data",
  tokeniser: "tokenizer",
  tokenization: "tokenizer",
  tokenisation: "tokenizer",
  vocab: "tokenizer",
  perf: "efficiency",
  performance: "efficiency",
  speed: "efficiency",
  throughput: "efficiency",
  misc: "other",
};

/** Tags that are not categories themselves but clearly belong to one. */
const TAG_CATEGORY: Record<string, Category> = {
  swiglu: "architecture",
  relu2: "architecture",
  gelu: "architecture",
  value_embedding: "architecture",
  embedding: "architecture",
  muon: "optimizer",
  adam: "optimizer",
  adamw: "optimizer",
  momentum: "optimizer",
  rope: "attention",
  rotary: "attention",
  sliding_window: "attention",
  window: "attention",
  qk_norm: "attention",
  heads: "attention",
  head_dim: "attention",
  rmsnorm: "normalization",
  layernorm: "normalization",
  dropout: "regularization",
  weight_decay: "regularization",
  wd: "regularization",
  softcap: "regularization",
  seq_len: "data",
  sequence_length: "data",
  packing: "data",
  bpe: "tokenizer",
  vocab_size: "tokenizer",
  kernel: "efficiency",
  kernels: "efficiency",
  memory: "efficiency",
  precision: "efficiency",
  mixed_precision: "efficiency",
  bf16: "efficiency",
  fp16: "efficiency",
  mfu: "efficiency",
};

/**
 * The canonical spelling of a free tag: trimmed, lower-case, runs of spaces/hyphens as `_`,
 * then the alias table applied (`LR` -> `learning_rate`, `Batch-Size` -> `batch_size`).
 */
export function normalizeTag(tag: string): string {
  const plain = tag.trim().toLowerCase().replace(/[\s-]+/g, "_");
  return ALIASES[plain] ?? plain;
}

/** True when `name` is one of the fixed taxonomy categories. */
export function isCategory(name: string): name is Category {
  return CATEGORY_SET.has(name);
}

/** The categories a card's tags place it in; `other` when none of them maps to one. */
export function categoriesOf(tags: readonly string[]): Category[] {
  const found = new Set<Category>();
  for (const raw of tags) {
    const tag = normalizeTag(raw);
    if (isCategory(tag)) found.add(tag);
    else if (TAG_CATEGORY[tag]) found.add(TAG_CATEGORY[tag]);
  }
  if (found.size === 0) found.add("other");
  return CATEGORIES.filter((category) => found.has(category));
}
