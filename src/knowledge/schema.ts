/**
 * The experiment card: what an agent tried, on which platform and harness, what came out, and
 * what it learned. Validated with valibot when written (the error names the field and the rule)
 * and again when read back from disk (a corrupt file is reported, never trusted).
 */
import * as v from "valibot";
import { isValidId } from "../util/ids.ts";
import { UsageError } from "../util/errors.ts";
import { normalizeTag } from "./taxonomy.ts";

/** Stated size limits; long text belongs in a file passed with `--*-file` (or `-` for stdin). */
export const LIMITS = {
  /** hypothesis, lesson, retraction reason: characters */
  text: 4_000,
  /** agent, session: characters */
  name: 64,
  /** number of tags per card */
  tags: 32,
  /** characters per tag */
  tagLength: 64,
  /** number of prior cards per card */
  priorCards: 64,
  /** recipe_diff: characters */
  recipeDiff: 200_000,
  /** config snapshot: characters of its JSON */
  configJson: 65_536,
  /** platform device / vendor description: characters */
  device: 256,
  /** source.ref (the import key of an imported card): characters */
  sourceRef: 256,
} as const;

/** The statuses a card can be written with (`revert` is accepted and stored as `discard`). */
export const STATUSES = ["keep", "discard", "inconclusive", "crash", "pending"] as const;

/** A card status. `pending`: recorded by the trainer, not judged yet (never an automatic keep). */
export type Status = typeof STATUSES[number];

/** The statuses a pending card can be judged with. */
export const JUDGED_STATUSES = ["keep", "discard", "inconclusive", "crash"] as const;

/** A judgement of a pending card. */
export type JudgedStatus = typeof JUDGED_STATUSES[number];

/** What the judge (`autoresearch judge`) can say about a run. */
export const VERDICTS = ["keep", "discard", "inconclusive", "replicate", "crash"] as const;

/** A verdict of the judge; `replicate` is stored as status `keep` (kept provisionally). */
export type Verdict = typeof VERDICTS[number];

/**
 * Compute backends a card may name: ours (`webgpu`, `cpu`) and those of external trainers
 * (upstream's PyTorch `train.py` on `cuda` or `rocm`, its Apple ports on `mps` or `mlx`).
 */
export const BACKENDS = ["webgpu", "cpu", "cuda", "rocm", "mps", "mlx"] as const;

/** A compute backend a card may name. */
export type Backend = typeof BACKENDS[number];

/** Where an imported or externally recorded card came from (`source.kind`). */
export const SOURCE_KINDS = ["run-log", "results.tsv", "commons"] as const;

/** Current on-disk schema version of a card file. */
export const CARD_SCHEMA_VERSION = 1;

// deno-lint-ignore no-control-regex
const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/;

function text(max: number) {
  return v.pipe(
    v.string("must be a string"),
    v.check((s: string) => s.trim().length > 0, "must not be empty or whitespace"),
    v.maxLength(max, `must be at most ${max} characters`),
  );
}

function name(max: number) {
  return v.pipe(text(max), v.regex(NO_CONTROL, "must not contain control characters"));
}

function finiteNumber() {
  return v.pipe(
    v.number("must be a number"),
    v.check((n: number) => Number.isFinite(n), "must be a finite number"),
  );
}

function nonNegative() {
  return v.pipe(finiteNumber(), v.minValue(0, "must not be negative"));
}

function positive() {
  return v.pipe(finiteNumber(), v.gtValue(0, "must be greater than 0"));
}

function count() {
  return v.pipe(nonNegative(), v.integer("must be an integer"));
}

const hash = v.pipe(
  v.string("must be a string"),
  v.regex(/^[0-9A-Za-z._:-]{1,128}$/, "must be 1-128 characters of A-Z a-z 0-9 . _ : -"),
);

const tag = v.pipe(
  name(LIMITS.tagLength),
  v.regex(/^[^,]*$/, "must not contain a comma"),
  v.transform(normalizeTag),
);

const statusInput = v.pipe(
  v.picklist(
    [...STATUSES, "revert"],
    `must be one of ${[...STATUSES, "revert"].join(", ")}`,
  ),
  v.transform((s): Status => s === "revert" ? "discard" : s),
);

/** Where a result was measured: results compare only within one backend + device. */
const PlatformSchema = v.strictObject({
  backend: v.picklist(BACKENDS, `must be one of ${BACKENDS.join(", ")}`),
  device: name(LIMITS.device),
  vendor: name(LIMITS.device),
  cores: v.pipe(count(), v.minValue(1, "must be at least 1")),
  memory_gb: positive(),
}, "must be an object with backend, device, vendor, cores, memory_gb");

/** The measured outcome of a run; val_bpb is null for a crash, never 0. */
const ResultsSchema = v.strictObject({
  val_bpb: v.nullable(positive()),
  delta: v.optional(v.nullable(finiteNumber())),
  peak_memory_mb: v.optional(nonNegative()),
  training_seconds: v.optional(nonNegative()),
  num_steps: v.optional(count()),
  total_tokens: v.optional(count()),
  num_params: v.optional(count()),
  estimated_flops: v.optional(nonNegative()),
  mfu_percent: v.optional(nonNegative()),
  load_avg: v.optional(nonNegative()),
}, "must be an object with at least val_bpb");

/** The fixed validation slice a run was scored on. */
const EvalSchema = v.strictObject({
  tokens: v.pipe(count(), v.minValue(1, "must be at least 1")),
  seq_len: v.pipe(count(), v.minValue(1, "must be at least 1")),
}, "must be an object with tokens and seq_len");

const groupId = v.pipe(
  v.string("must be a string"),
  v.check((s: string) => isValidId(s), "must be an id like grp_01J... or item_01J..."),
);

const cardId = v.pipe(
  v.string("must be a string"),
  v.check((s: string) => isValidId(s, "card"), "must be a card id like card_01J..."),
);

const config = v.pipe(
  v.unknown(),
  v.check(
    (c: unknown) => typeof c === "object" && c !== null && !Array.isArray(c),
    "must be a JSON object",
  ),
  v.record(v.string(), v.unknown(), "must be a JSON object"),
  v.check(
    (c: Record<string, unknown>) => JSON.stringify(c).length <= LIMITS.configJson,
    `must be at most ${LIMITS.configJson} characters of JSON`,
  ),
);

/** Provenance of a card made from another tool's record: the import key that keeps it single. */
const SourceSchema = v.strictObject({
  kind: v.picklist(SOURCE_KINDS, `must be one of ${SOURCE_KINDS.join(", ")}`),
  ref: name(LIMITS.sourceRef),
  timestamp: v.optional(name(LIMITS.name)),
}, "must be an object with kind and ref");

const inputEntries = {
  agent: name(LIMITS.name),
  session: name(LIMITS.name),
  hypothesis: text(LIMITS.text),
  commit: v.optional(
    v.pipe(v.string("must be a string"), v.regex(/^[0-9a-f]{4,64}$/i, "must be 4-64 hex digits")),
  ),
  lesson: v.optional(text(LIMITS.text)),
  tags: v.optional(
    v.pipe(
      v.array(tag, "must be a list of tags"),
      v.maxLength(LIMITS.tags, `must have at most ${LIMITS.tags} tags`),
      v.transform((tags: string[]) => [...new Set(tags)]),
    ),
    [],
  ),
  prior_cards: v.optional(
    v.pipe(
      v.array(cardId, "must be a list of card ids"),
      v.maxLength(LIMITS.priorCards, `must have at most ${LIMITS.priorCards} cards`),
      v.transform((ids: string[]) => [...new Set(ids)]),
    ),
    [],
  ),
  platform: PlatformSchema,
  harness_hash: hash,
  recipe_hash: hash,
  budget_s: positive(),
  seed: v.pipe(count(), v.check((n: number) => Number.isSafeInteger(n), "must be a safe integer")),
  config,
  recipe_diff: v.optional(
    v.pipe(
      v.string("must be a string"),
      v.maxLength(LIMITS.recipeDiff, `must be at most ${LIMITS.recipeDiff} characters`),
    ),
  ),
  dirty: v.optional(v.boolean("must be true or false")),
  eval: v.optional(EvalSchema),
  group: v.optional(groupId),
  item: v.optional(
    v.pipe(
      v.string("must be a string"),
      v.check((s: string) => isValidId(s, "item"), "must be a queue item id like item_01J..."),
    ),
  ),
  error: v.optional(text(LIMITS.text)),
  results: ResultsSchema,
  source: v.optional(SourceSchema),
  status: statusInput,
};

type StatusResultsRule = { status: Status; results: { val_bpb: number | null } };

/** Crash <=> no val_bpb: a crash logged as 0 must never become a best (upstream defect). */
function statusMatchesResult(card: StatusResultsRule): boolean {
  if (card.status === "crash") return card.results.val_bpb === null;
  if (card.status === "inconclusive") return true;
  return card.results.val_bpb !== null;
}

const STATUS_RULE = "must be null for a crash and a number > 0 for keep, discard and pending";

/** What a writer supplies; id and timestamp are assigned when the card is written. */
const CardInputSchema = v.pipe(
  v.strictObject(inputEntries, "must be an object"),
  v.forward(
    v.check((card) => statusMatchesResult(card), STATUS_RULE),
    ["results", "val_bpb"],
  ),
);

/** A stored card: the normalised input plus its id, creation time and schema version. */
const CardSchema = v.pipe(
  v.object({
    schema: v.literal(CARD_SCHEMA_VERSION, `must be ${CARD_SCHEMA_VERSION}`),
    id: cardId,
    timestamp: v.pipe(v.string("must be a string"), v.isoTimestamp("must be an ISO timestamp")),
    ...inputEntries,
    status: v.picklist(STATUSES, `must be one of ${STATUSES.join(", ")}`),
  }, "must be a JSON object"),
  v.forward(
    v.check((card) => statusMatchesResult(card), STATUS_RULE),
    ["results", "val_bpb"],
  ),
);

const completionId = v.pipe(
  v.string("must be a string"),
  v.check((s: string) => isValidId(s, "done"), "must be a completion id like done_01J..."),
);

const supersedesList = v.pipe(
  v.array(completionId, "must be a list of completion ids"),
  v.maxLength(LIMITS.priorCards, `must have at most ${LIMITS.priorCards} completions`),
);

const verdict = v.picklist(VERDICTS, `must be one of ${VERDICTS.join(", ")}`);

/** A judgement of a card, stored in `completions/<card id>.<completion id>.json`. */
const CompletionSchema = v.object({
  schema: v.literal(CARD_SCHEMA_VERSION, `must be ${CARD_SCHEMA_VERSION}`),
  id: v.pipe(v.string(), v.check((s: string) => isValidId(s, "done"), "must be a completion id")),
  card_id: cardId,
  timestamp: v.pipe(v.string("must be a string"), v.isoTimestamp("must be an ISO timestamp")),
  agent: name(LIMITS.name),
  status: v.picklist(JUDGED_STATUSES, `must be one of ${JUDGED_STATUSES.join(", ")}`),
  lesson: v.optional(text(LIMITS.text)),
  delta: v.optional(v.nullable(finiteNumber())),
  supersedes: v.optional(supersedesList),
  reason: v.optional(text(LIMITS.text)),
  verdict: v.optional(verdict),
}, "must be a JSON object");

/** A retraction of a card, stored in `retractions/<card id>.<retraction id>.json`. */
const RetractionSchema = v.object({
  schema: v.literal(CARD_SCHEMA_VERSION, `must be ${CARD_SCHEMA_VERSION}`),
  id: v.pipe(v.string(), v.check((s: string) => isValidId(s, "retr"), "must be a retraction id")),
  card_id: cardId,
  timestamp: v.pipe(v.string("must be a string"), v.isoTimestamp("must be an ISO timestamp")),
  agent: name(LIMITS.name),
  reason: text(LIMITS.text),
}, "must be a JSON object");

/** Judgement input for a pending card. */
const JudgementSchema = v.strictObject({
  status: v.pipe(
    v.picklist(
      [...JUDGED_STATUSES, "revert"],
      `must be one of ${[...JUDGED_STATUSES, "revert"].join(", ")}`,
    ),
    v.transform((s): JudgedStatus => s === "revert" ? "discard" : s),
  ),
  agent: name(LIMITS.name),
  lesson: v.optional(text(LIMITS.text)),
  delta: v.optional(v.nullable(finiteNumber())),
  supersedes: v.optional(supersedesList),
  reason: v.optional(text(LIMITS.text)),
  verdict: v.optional(verdict),
}, "must be an object");

/** Where a result was measured: results compare only within one backend + device. */
export interface Platform {
  /** compute backend the trainer ran on */
  backend: Backend;
  /** WebGPU adapter description or CPU model */
  device: string;
  /** adapter or CPU vendor */
  vendor: string;
  /** logical CPU cores available */
  cores: number;
  /** system memory in GB */
  memory_gb: number;
}

/** The measured outcome of a run; val_bpb is null for a crash, never 0. */
export interface Results {
  /** validation bits per byte (lower is better); null when the run crashed */
  val_bpb: number | null;
  /** improvement claimed by the writer versus its baseline (negative is better) */
  delta?: number | null;
  /** peak accelerator or process memory, MB */
  peak_memory_mb?: number;
  /** seconds of counted training */
  training_seconds?: number;
  /** optimizer steps taken */
  num_steps?: number;
  /** tokens trained on */
  total_tokens?: number;
  /** model parameters */
  num_params?: number;
  /** estimated training FLOPs */
  estimated_flops?: number;
  /** model FLOPs utilisation against the platform's peak, percent */
  mfu_percent?: number;
  /** 1-minute load average of the machine at the end of training */
  load_avg?: number;
}

/** The fixed validation slice a run was scored on (part of the harness). */
export interface EvalSlice {
  /** tokens in the slice */
  tokens: number;
  /** context of every scored row, tokens */
  seq_len: number;
}

/** Where a card made from another tool's record came from. */
export interface CardSource {
  /** `run-log` (autoresearch record), `results.tsv` (upstream history), `commons` (the fork) */
  kind: typeof SOURCE_KINDS[number];
  /** the import key: a second import of the same record finds it and adds nothing */
  ref: string;
  /** the source's own timestamp, verbatim (the card's timestamp is the import time) */
  timestamp?: string;
}

/** What a writer supplies for a new card; id and timestamp are assigned on write. */
export interface CardInput {
  /** who ran the experiment (agent name) */
  agent: string;
  /** session tag, e.g. `mar8` */
  session: string;
  /** what was tried and why */
  hypothesis: string;
  /** git commit of the recipe that ran (4-64 hex digits) */
  commit?: string;
  /** what was learned */
  lesson?: string;
  /** free tags, normalised through the alias table (`lr` -> `learning_rate`) */
  tags?: string[];
  /** ids of the cards that inspired this one (lineage) */
  prior_cards?: string[];
  /** where it ran */
  platform: Platform;
  /** hash of everything but the recipe (data, eval, tokenizer, harness code) */
  harness_hash: string;
  /** hash of the training recipe */
  recipe_hash: string;
  /** training time budget, seconds */
  budget_s: number;
  /** random seed */
  seed: number;
  /** full hyperparameter snapshot */
  config: Record<string, unknown>;
  /** optional diff of the recipe against its parent, or (dirty) its uncommitted diff */
  recipe_diff?: string;
  /** true when the workspace had uncommitted changes (commit is HEAD; recipe_diff the edit) */
  dirty?: boolean;
  /** the fixed validation slice val_bpb was scored on */
  eval?: EvalSlice;
  /** id shared by the seeds of one idea (one `train --seeds N`, or one queue item) */
  group?: string;
  /** queue item id, when run with `train --item` */
  item?: string;
  /** why the run failed (one line), for a crash recorded by the trainer */
  error?: string;
  /** measured outcome */
  results: Results;
  /** where an imported or externally recorded card came from */
  source?: CardSource;
  /** keep | discard (alias revert) | inconclusive | crash | pending */
  status: Status | "revert";
}

/** An experiment card as stored in `cards/<id>.json` (immutable once written). */
export interface Card extends Omit<CardInput, "status" | "tags" | "prior_cards"> {
  /** on-disk schema version */
  schema: number;
  /** `card_<ULID>`: unique without coordination, sortable by time */
  id: string;
  /** creation time, ISO 8601 */
  timestamp: string;
  /** normalised tags */
  tags: string[];
  /** ids of prior cards */
  prior_cards: string[];
  /** status as written (see `EffectiveCard` for the judged status) */
  status: Status;
}

/** A judgement of a pending card, stored in `completions/<card id>.<completion id>.json`. */
export interface Completion {
  /** on-disk schema version */
  schema: number;
  /** `done_<ULID>` */
  id: string;
  /** the judged card */
  card_id: string;
  /** creation time, ISO 8601 */
  timestamp: string;
  /** who judged it */
  agent: string;
  /** the judged status */
  status: JudgedStatus;
  /** what was learned */
  lesson?: string;
  /** improvement claimed versus the baseline */
  delta?: number | null;
  /** completion ids of the earlier judgements of this card that this one replaces */
  supersedes?: string[];
  /** why this judgement replaces the earlier ones (required with `supersedes`) */
  reason?: string;
  /** the judge's verdict when the status came from `autoresearch judge` */
  verdict?: Verdict;
}

/** A retraction of a card, stored in `retractions/<card id>.<retraction id>.json`. */
export interface Retraction {
  /** on-disk schema version */
  schema: number;
  /** `retr_<ULID>` */
  id: string;
  /** the retracted card */
  card_id: string;
  /** creation time, ISO 8601 */
  timestamp: string;
  /** who retracted it */
  agent: string;
  /** why */
  reason: string;
}

/** How a pending card is judged (input to `completeCard`). */
export interface Judgement {
  /** keep | discard (alias revert) | inconclusive | crash */
  status: JudgedStatus | "revert";
  /** who judges it */
  agent: string;
  /** what was learned */
  lesson?: string;
  /** improvement claimed versus the baseline */
  delta?: number | null;
  /** completion ids this judgement replaces (set by `completeCard` when re-judging) */
  supersedes?: string[];
  /** why it replaces them */
  reason?: string;
  /** the judge's verdict behind the status */
  verdict?: Verdict;
}

/** Normalised card input (status alias resolved, tags normalised and deduplicated). */
export type ValidCardInput = Omit<Card, "schema" | "id" | "timestamp">;

/** Validate writer input; throws a UsageError naming the field and the rule. */
export function validateCardInput(input: unknown): ValidCardInput {
  requireObject(input);
  return parseOrThrow(CardInputSchema, input) as ValidCardInput;
}

/** Validate a judgement; throws a UsageError naming the field and the rule. */
export function validateJudgement(input: unknown): Omit<Judgement, "status"> & {
  status: JudgedStatus;
} {
  requireObject(input);
  return parseOrThrow(JudgementSchema, input);
}

function requireObject(input: unknown): void {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new UsageError("card", "must be a JSON object");
  }
}

/** A record read from disk, or why it cannot be used. */
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

function check<T>(schema: v.GenericSchema<unknown, unknown>, value: unknown): Checked<T> {
  const result = v.safeParse(schema, value);
  if (result.success) return { ok: true, value: result.output as T };
  const [field, rule] = describeIssue(result.issues);
  return { ok: false, reason: `${field}: ${rule}` };
}

/** Check a parsed card file. */
export function checkCard(value: unknown): Checked<Card> {
  return check<Card>(CardSchema, value);
}

/** Check a parsed completion file. */
export function checkCompletion(value: unknown): Checked<Completion> {
  return check<Completion>(CompletionSchema, value);
}

/** Check a parsed retraction file. */
export function checkRetraction(value: unknown): Checked<Retraction> {
  return check<Retraction>(RetractionSchema, value);
}

// Compile-time proof that the schemas produce the documented interfaces.
const _cardMatches: (c: v.InferOutput<typeof CardSchema>) => Card = (c) => c;
const _inputMatches: (c: v.InferOutput<typeof CardInputSchema>) => ValidCardInput = (c) => c;
const _completionMatches: (c: v.InferOutput<typeof CompletionSchema>) => Completion = (c) => c;
const _retractionMatches: (c: v.InferOutput<typeof RetractionSchema>) => Retraction = (c) => c;
void _cardMatches, _inputMatches, _completionMatches, _retractionMatches;

/** First valibot issue as "field: rule" parts. */
export function describeIssue(issues: readonly v.BaseIssue<unknown>[]): [string, string] {
  const issue = issues[0];
  const path = v.getDotPath(issue) ?? "";
  let rule = issue.message;
  // Missing and unknown keys of an object: say so instead of valibot's type message.
  if (issue.kind === "schema" && /object$/.test(issue.type) && issue.path?.length) {
    if (issue.expected === "never") rule = "is not a known field";
    else if (issue.input === undefined) rule = "is required";
  }
  return [path || "card", rule];
}

/** Validate `value` with `schema`, throwing a UsageError naming the field and the rule. */
export function parseOrThrow<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  prefix = "",
): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) {
    const [field, rule] = describeIssue(result.issues);
    throw new UsageError(prefix ? `${prefix}${field === "card" ? "" : `.${field}`}` : field, rule);
  }
  return result.output;
}
