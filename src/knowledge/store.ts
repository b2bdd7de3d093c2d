/**
 * The knowledge base on disk: one immutable JSON file per card (`cards/<id>.json`), judgements
 * of pending cards and retractions as their own append-only records, and derived views (index,
 * synthesis, plots) that are rebuilt locally and git-ignored. A write creates exactly one new
 * file and touches nothing else, so its cost does not grow with the base and two machines
 * never conflict on `git pull --rebase`.
 */
import { dirname, join, relative, resolve, sep } from "node:path";
import {
  checkWritePath,
  guardedCreateExclusive,
  guardedMkdir,
  isInside,
  UnsafePathError,
} from "../util/guarded.ts";
import { ensureBase } from "./base.ts";
import { DataError, UsageError } from "../util/errors.ts";
import { isValidId, newId } from "../util/ids.ts";
import { lockTimeoutSeconds, withLock } from "../util/lock.ts";
import {
  CardIndex,
  type CardSummary,
  effectiveJudgement,
  type RefreshReport,
  type Skipped,
} from "./index.ts";
import {
  finalize,
  foldUpdates,
  type Synthesis,
  SYNTHESIS_STATE_VERSION,
  type SynthesisState,
  synthesisState,
} from "./synthesis.ts";
import {
  cardFileName,
  linkedFileName,
  parseFileName,
  readCardFile,
  readCompletionFile,
  readRetractionFile,
} from "./records.ts";
import {
  type Card,
  CARD_SCHEMA_VERSION,
  type Completion,
  type Judgement,
  LIMITS,
  type Retraction,
  validateCardInput,
  validateJudgement,
} from "./schema.ts";

/** Cache key of the synthesis state. */
const SYNTHESIS_CACHE = "synthesis-state";

/** A card with everything later records say about it. */
export interface CardDetail {
  /** the card as written */
  card: Card;
  /** the judgement in effect, if any (the earliest when disputed) */
  completion: Completion | null;
  /** every judgement of the card, oldest first (superseded ones included) */
  completions: Completion[];
  /** true when two judgements do not supersede each other */
  disputed: boolean;
  /** retractions naming this card */
  retractions: Retraction[];
  /** effective status (judgement applied) */
  status: Card["status"];
  /** true when retracted */
  retracted: boolean;
  /** judgement or retraction files of this card that could not be used (reported, skipped) */
  skipped: Skipped[];
}

/** Which cards `listCards` returns. */
export interface CardFilter {
  /** only this session */
  session?: string;
  /** include retracted cards (default true; they are flagged) */
  includeRetracted?: boolean;
}

/** Ancestors and descendants of a card through `prior_cards`. */
export interface Lineage {
  /** the card itself */
  card: CardSummary;
  /** cards it built on, transitively, with their distance (1 = direct prior) */
  ancestors: { depth: number; card: CardSummary | null; id: string }[];
  /** cards that built on it, transitively, with their distance */
  descendants: { depth: number; card: CardSummary }[];
}

/** An open knowledge base directory. Create one with `openKnowledgeBase(dir)`. */
export class KnowledgeBase {
  /** the base directory */
  readonly dir: string;
  #index: CardIndex | null = null;
  #lastRefresh: RefreshReport | null = null;
  #indexProblem: Skipped | null = null;

  /** Use `openKnowledgeBase(dir)`. */
  constructor(dir: string) {
    this.dir = dir;
  }

  /** Path of a card's file. */
  cardPath(id: string): string {
    return join(this.dir, "cards", cardFileName(id));
  }

  /** Directory of derived views (reports, plots); git-ignored. */
  get viewsDir(): string {
    return join(this.dir, "views");
  }

  /**
   * Validate `input` and write it as a new immutable card. Throws a UsageError naming the field
   * and the rule on bad input (nothing written). Prior cards must exist in this base.
   */
  async writeCard(input: unknown): Promise<Card> {
    const valid = validateCardInput(input);
    for (const prior of valid.prior_cards) {
      if (!exists(this.cardPath(prior))) {
        throw new UsageError("prior_cards", `card ${prior} does not exist in ${this.dir}`);
      }
    }
    await this.#ensureLayout();
    // Key order of the file: identity first, then the input as given.
    for (let attempt = 0; attempt < 3; attempt++) {
      const card: Card = {
        schema: CARD_SCHEMA_VERSION,
        id: newId("card"),
        timestamp: new Date().toISOString(),
        ...valid,
      };
      if (
        await guardedCreateExclusive(
          this.dir,
          this.cardPath(card.id),
          `${JSON.stringify(card, null, 2)}\n`,
        )
      ) {
        return card;
      }
    }
    throw new Error("could not allocate a unique card id");
  }

  /**
   * Judge a card by writing a completion record; the card itself is never rewritten. The first
   * judgement of a pending card needs no reason. Any later one (a card already judged, or
   * written with a status) revises it: it needs a `reason` and supersedes every judgement in
   * effect, so disputed judgements are resolved too. The `card` field of a UsageError names the
   * judged card.
   */
  async completeCard(id: string, judgement: Judgement): Promise<Completion> {
    const valid = validateJudgement(judgement);
    const card = this.#readCardOrThrow(id);
    // A run recorded as a crash is judged crash again only to attach its lesson.
    const crashLesson = card.status === "crash" && valid.status === "crash";
    if (card.status === "crash" && !crashLesson) {
      throw new UsageError(
        "card",
        `${id} is a crash; judge it crash (to add a lesson), nothing else`,
      );
    }
    if (valid.status !== "crash" && card.results.val_bpb === null) {
      throw new UsageError("status", `${id} has no val_bpb (the run failed); judge it crash`);
    }
    await this.#ensureLayout();
    return await this.#locked(async () => {
      const previous = this.#linkedRecords("completions", id)
        .map((name) => this.#readLinked<Completion>("completions", name))
        .filter((record): record is Completion => record !== null);
      const current = effectiveJudgement(previous);
      const revises = current !== null || (card.status !== "pending" && !crashLesson);
      if (revises && valid.reason === undefined) {
        const what = current
          ? `was already judged ${current.head.status} (${current.head.id})`
          : `was written with status ${card.status}`;
        throw new UsageError("card", `${id} ${what}; revising a judgement needs a reason`);
      }
      const supersedes = current ? current.heads.map((head) => head.id) : [];
      const completion: Completion = {
        schema: CARD_SCHEMA_VERSION,
        id: newId("done"),
        card_id: id,
        timestamp: new Date().toISOString(),
        agent: valid.agent,
        status: valid.status,
        ...(valid.lesson === undefined ? {} : { lesson: valid.lesson }),
        ...(valid.delta === undefined ? {} : { delta: valid.delta }),
        ...(supersedes.length ? { supersedes } : {}),
        ...(valid.reason === undefined ? {} : { reason: valid.reason }),
        ...(valid.verdict === undefined ? {} : { verdict: valid.verdict }),
      };
      const path = join(this.dir, "completions", linkedFileName(id, completion.id));
      await guardedCreateExclusive(this.dir, path, `${JSON.stringify(completion, null, 2)}\n`);
      return completion;
    });
  }

  /** Retract a card: an append-only record; the card stays, flagged, and never counts as best. */
  async retract(id: string, reason: string, agent: string): Promise<Retraction> {
    const trimmed = typeof reason === "string" ? reason.trim() : "";
    if (trimmed === "") throw new UsageError("reason", "must not be empty or whitespace");
    if (reason.length > LIMITS.text) {
      throw new UsageError("reason", `must be at most ${LIMITS.text} characters`);
    }
    if (typeof agent !== "string" || agent.trim() === "") {
      throw new UsageError("agent", "must not be empty or whitespace");
    }
    this.#readCardOrThrow(id);
    await this.#ensureLayout();
    return await this.#locked(async () => {
      const previous = this.#linkedRecords("retractions", id);
      if (previous.length > 0) {
        throw new UsageError("id", `${id} is already retracted (${previous[0]})`);
      }
      const retraction: Retraction = {
        schema: CARD_SCHEMA_VERSION,
        id: newId("retr"),
        card_id: id,
        timestamp: new Date().toISOString(),
        agent,
        reason,
      };
      const path = join(this.dir, "retractions", linkedFileName(id, retraction.id));
      await guardedCreateExclusive(this.dir, path, `${JSON.stringify(retraction, null, 2)}\n`);
      return retraction;
    });
  }

  /** A card with its judgement and retractions. UsageError for a bad or unknown id. */
  getCard(id: string): CardDetail {
    const card = this.#readCardOrThrow(id);
    const skipped: Skipped[] = [];
    const completions = this.#linkedRecords("completions", id)
      .map((name) => this.#readLinked<Completion>("completions", name, skipped))
      .filter((record): record is Completion => record !== null);
    const judgement = effectiveJudgement(completions);
    const completion = judgement?.head ?? null;
    const retractions = this.#linkedRecords("retractions", id)
      .map((name) => this.#readLinked<Retraction>("retractions", name, skipped))
      .filter((record): record is Retraction => record !== null);
    const judged = completion !== null;
    return {
      card,
      completion,
      completions,
      disputed: judgement?.disputed ?? false,
      retractions,
      status: judged ? completion.status : card.status,
      retracted: retractions.length > 0,
      skipped,
    };
  }

  /** Summaries of every readable card (judgements and retractions applied), oldest first. */
  async listCards(filter: CardFilter = {}): Promise<CardSummary[]> {
    const index = await this.#refreshed();
    const rows = index.summaries({ session: filter.session });
    return filter.includeRetracted === false ? rows.filter((row) => !row.retracted) : rows;
  }

  /**
   * Synthesis of the whole base. Its running state is cached in the derived index: when only
   * newer cards were added since, just those are folded in; any other change (a judgement, a
   * retraction, a card older than the newest, a removed file) recomputes it from all cards.
   */
  async synthesis(): Promise<Synthesis> {
    const index = await this.#refreshed();
    const { generation, hit, state } = index.snapshot(() => {
      const generation = index.generation();
      const hit = index.cached(SYNTHESIS_CACHE);
      let state: SynthesisState | null = null;
      if (hit !== null && hit.generation >= index.fullEpoch() && hit.generation <= generation) {
        try {
          const cached = JSON.parse(hit.value) as SynthesisState;
          if (cached.version !== SYNTHESIS_STATE_VERSION) throw new Error("old state layout");
          if (hit.generation !== generation) {
            const fresh = index.summaries({ afterId: cached.seenId });
            const held = cached.deferred.length
              ? index.summaries({ ids: cached.deferred.map((card) => card.id) })
              : [];
            foldUpdates(cached, fresh, held);
          }
          state = cached;
        } catch {
          state = null; // an unusable cache or cards out of order after all: recompute
        }
      }
      return { generation, hit, state: state ?? synthesisState(index.summaries()) };
    });
    if (hit?.generation !== generation) {
      index.cache(SYNTHESIS_CACHE, generation, JSON.stringify(state));
    }
    return finalize(state);
  }

  /** A stamp that changes whenever a record is added to or removed from the index. */
  async stamp(): Promise<string> {
    return (await this.#refreshed()).stamp();
  }

  /** Record files that could not be used (path + reason), after refreshing the index. */
  async skipped(): Promise<Skipped[]> {
    await this.#refreshed();
    return this.lastSkipped;
  }

  /** Unusable record files as of the last refresh (no new scan; empty before any read). */
  get lastSkipped(): Skipped[] {
    const skipped = this.#lastRefresh?.skipped ?? [];
    return this.#indexProblem === null ? skipped : [this.#indexProblem, ...skipped];
  }

  /** Bring the derived index up to date (parses only new files) and report what changed. */
  async refreshIndex(): Promise<RefreshReport> {
    const index = await this.#openIndex();
    this.#lastRefresh = this.#refreshOrScratch(index, () => index.refresh());
    return { ...this.#lastRefresh, skipped: this.lastSkipped };
  }

  /** Rebuild the derived index from the record files, from scratch. */
  async rebuildIndex(): Promise<RefreshReport> {
    const index = await this.#openIndex();
    this.#lastRefresh = this.#refreshOrScratch(index, () => index.rebuild());
    return { ...this.#lastRefresh, skipped: this.lastSkipped };
  }

  /** Ancestors (through prior_cards) and descendants of a card. */
  async lineage(id: string): Promise<Lineage> {
    checkCardId(id);
    const index = await this.#refreshed();
    const byId = new Map(index.summaries().map((row) => [row.id, row]));
    const card = byId.get(id);
    if (!card) this.#readCardOrThrow(id); // throws the precise reason
    const ancestors: Lineage["ancestors"] = [];
    const seen = new Set([id]);
    let frontier = [id];
    for (let depth = 1; frontier.length > 0; depth++) {
      const next: string[] = [];
      for (const current of frontier) {
        for (const prior of byId.get(current)?.prior_cards ?? []) {
          if (seen.has(prior)) continue;
          seen.add(prior);
          ancestors.push({ depth, id: prior, card: byId.get(prior) ?? null });
          next.push(prior);
        }
      }
      frontier = next;
    }
    const descendants: Lineage["descendants"] = [];
    const seenDown = new Set([id]);
    frontier = [id];
    for (let depth = 1; frontier.length > 0; depth++) {
      const next: string[] = [];
      for (const current of frontier) {
        for (const child of index.childrenOf(current)) {
          if (seenDown.has(child) || !byId.has(child)) continue;
          seenDown.add(child);
          descendants.push({ depth, card: byId.get(child)! });
          next.push(child);
        }
      }
      frontier = next;
    }
    return { card: card!, ancestors, descendants };
  }

  /** Release the index handle. */
  close(): void {
    this.#index?.close();
    this.#index = null;
  }

  async #openIndex(): Promise<CardIndex> {
    if (this.#index) return this.#index;
    if (!exists(this.dir)) {
      this.#index = CardIndex.empty(this.dir);
    } else {
      try {
        await ensureBase(this.dir); // the index is about to be created: keep it out of git
        this.#index = await CardIndex.open(this.dir);
      } catch (error) {
        // The index is derived: when it cannot live on disk (read-only base, a planted link),
        // build it in memory; a refused link is reported with every read.
        if (error instanceof UnsafePathError) {
          this.#indexProblem = { path: error.path, reason: error.reason };
        }
        this.#index = CardIndex.scratch(this.dir);
      }
    }
    return this.#index;
  }

  async #refreshed(): Promise<CardIndex> {
    const index = await this.#openIndex();
    this.#lastRefresh = this.#refreshOrScratch(index, () => index.refresh());
    return this.#index!;
  }

  /**
   * Run a refresh; when the on-disk index stays locked past the lock bound (a writer stopped or
   * hung mid-refresh), read from an in-memory index instead and report it: the index is derived,
   * so a stuck process costs speed, never the answer.
   */
  #refreshOrScratch(index: CardIndex, refresh: () => RefreshReport): RefreshReport {
    try {
      return refresh();
    } catch (error) {
      if (!/database is locked|SQLITE_BUSY/i.test(String((error as Error)?.message))) throw error;
      index.close();
      this.#index = CardIndex.scratch(this.dir);
      this.#indexProblem = {
        path: join(this.dir, "index.sqlite"),
        reason:
          `locked by another process for over ${lockTimeoutSeconds()} s (stopped or hung?); ` +
          "read without it this time",
      };
      return this.#index.refresh();
    }
  }

  #readCardOrThrow(id: string): Card {
    checkCardId(id);
    const path = this.cardPath(id);
    if (!exists(path)) throw new UsageError("id", `no card ${id} in ${this.dir}`);
    const result = readCardFile(path, id);
    if (!result.ok) throw new DataError(path, result.reason);
    return result.value;
  }

  /** Names of completion/retraction files for a card, oldest first. */
  #linkedRecords(dir: "completions" | "retractions", cardId: string): string[] {
    const names: string[] = [];
    try {
      for (const entry of Deno.readDirSync(join(this.dir, dir))) {
        if (entry.name.startsWith(`${cardId}.`)) {
          const parsed = parseFileName(
            dir === "completions" ? "completion" : "retraction",
            entry.name,
          );
          if (parsed) names.push(entry.name);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return names.sort();
  }

  #readLinked<T>(
    dir: "completions" | "retractions",
    name: string,
    skipped?: Skipped[],
  ): T | null {
    const kind = dir === "completions" ? "completion" : "retraction";
    const parsed = parseFileName(kind, name)!;
    const path = join(this.dir, dir, name);
    const result = kind === "completion"
      ? readCompletionFile(path, parsed.id, parsed.cardId)
      : readRetractionFile(path, parsed.id, parsed.cardId);
    if (!result.ok) skipped?.push({ path, reason: result.reason });
    return result.ok ? result.value as T : null;
  }

  /** Run `body` under the base's lock (a link planted as `.lock` is refused). */
  #locked<T>(body: () => Promise<T>): Promise<T> {
    return withLock(join(this.dir, ".lock"), body, { base: this.dir });
  }

  async #ensureLayout(): Promise<void> {
    await ensureBase(this.dir);
    for (const sub of ["cards", "completions", "retractions"]) {
      await guardedMkdir(this.dir, join(this.dir, sub));
    }
  }
}

/** Top-level entries of a base that hold shared records (or its git setup): never an output. */
export const RECORD_AREAS: readonly string[] = [
  "cards",
  "completions",
  "retractions",
  "queue",
  ".git",
  ".gitignore",
];

function realOrSelf(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Throw a UsageError unless `out` is a sensible place for a derived file (`plot --out`,
 * `train --results`): not a directory, not a link, and not among the base's records (an
 * immutable card must never be overwritten with a plot). Outside the base any other path is
 * the user's choice.
 */
export function checkOutputPath(kb: KnowledgeBase | string, field: string, out: string): void {
  const dir = typeof kb === "string" ? kb : kb.dir;
  if (out.trim() === "") throw new UsageError(field, "must not be empty");
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.lstatSync(out);
  } catch { /* a new file */ }
  if (info?.isDirectory) {
    throw new UsageError(field, `${JSON.stringify(out)} is a directory; give a file path`);
  }
  if (info?.isSymlink) {
    throw new UsageError(
      field,
      `${JSON.stringify(out)} is a symbolic link; refusing to write through it`,
    );
  }
  const candidates = [[resolve(dir), resolve(out)], [
    realOrSelf(dir),
    join(realOrSelf(dirname(resolve(out))), resolve(out).split(sep).pop()!),
  ]];
  // Inside the base, the way there must not pass through a planted link either (views -> ...).
  if (isInside(dir, out)) checkWritePath(dir, out);
  for (const [base, target] of candidates) {
    if (!isInside(base, target)) continue;
    const top = relative(base, target).split(sep)[0];
    if (top === "" || RECORD_AREAS.includes(top)) {
      throw new UsageError(
        field,
        `${JSON.stringify(out)} is inside the records of the base ${dir} (${top || "."}); ` +
          "records are never overwritten: write it elsewhere (views/ is for derived files)",
      );
    }
  }
}

/** Open the knowledge base at `dir` (created on first write). */
export function openKnowledgeBase(dir: string): KnowledgeBase {
  return new KnowledgeBase(dir);
}

/** Throw a UsageError unless `id` is a well-formed card id (rejects `../x` and friends). */
export function checkCardId(id: string, field = "id"): void {
  if (typeof id !== "string" || !isValidId(id, "card")) {
    throw new UsageError(field, `must be a card id like card_01J..., got ${JSON.stringify(id)}`);
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
