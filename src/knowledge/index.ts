/**
 * The derived, rebuildable index over the record files (node:sqlite, `index.sqlite`, git-ignored).
 * Reads never re-parse every card: a refresh lists the record directories (cheap), parses only
 * files not indexed yet, and drops rows whose file vanished. Concurrent refreshes are safe:
 * writes happen in `BEGIN IMMEDIATE` transactions behind sqlite's own lock with a busy timeout.
 * A corrupt, foreign or outdated index file is deleted and rebuilt from the records.
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { lockTimeoutSeconds, withLock } from "../util/lock.ts";
import { UnsafePathError } from "../util/guarded.ts";
import { categoriesOf, type Category } from "./taxonomy.ts";
import {
  isTempName,
  parseFileName,
  readCardFile,
  readCompletionFile,
  readRetractionFile,
  RECORD_DIRS,
  type RecordKind,
} from "./records.ts";
import type { Backend, Card, JudgedStatus, Status } from "./schema.ts";

/** Bump when the index layout changes: an older index is rebuilt. */
const INDEX_VERSION = 5;

/**
 * A record directory whose mtime is at least this much older than the scan that saw it is
 * trusted to be unchanged while its mtime stays the same, so warm reads skip listing it.
 */
const SETTLE_MS = 2000;

/** A record file that could not be used, and why. */
export interface Skipped {
  /** path of the file */
  path: string;
  /** why it was skipped */
  reason: string;
}

/** What a refresh did. */
export interface RefreshReport {
  /** records newly indexed */
  added: number;
  /** rows dropped because their file disappeared */
  removed: number;
  /** files that are not usable records (reported on every refresh until fixed) */
  skipped: Skipped[];
}

/** One card as the index knows it, with its judged status and retraction applied. */
export interface CardSummary {
  /** card id */
  id: string;
  /** creation time, ISO 8601 */
  timestamp: string;
  /** who ran it */
  agent: string;
  /** session tag */
  session: string;
  /** what was tried */
  hypothesis: string;
  /** lesson: the judgement's lesson if judged, else the card's */
  lesson: string | null;
  /** normalised tags */
  tags: string[];
  /** taxonomy categories of the tags (`other` when none maps) */
  categories: Category[];
  /** cards that inspired this one */
  prior_cards: string[];
  /** compute backend */
  backend: Backend;
  /** adapter or CPU description */
  device: string;
  /** harness hash */
  harness_hash: string;
  /** time budget, seconds */
  budget_s: number;
  /** recipe hash (same hash = a replicate) */
  recipe_hash: string;
  /** seed */
  seed: number;
  /** comparability class: backend + device + harness + budget */
  class_key: string;
  /** validation bits per byte; null for a crash (or a run judged crash) */
  val_bpb: number | null;
  /** claimed delta (the judgement's if it gave one) */
  delta: number | null;
  /** status the card was written with */
  written_status: Status;
  /** effective status: the judgement of a pending card, else the written status */
  status: Status;
  /** id of the completion record whose judgement is in effect, if any */
  completion_id: string | null;
  /** true when two judgements of the card do not supersede each other (two machines) */
  disputed: boolean;
  /** optimizer steps of the run, when recorded */
  num_steps: number | null;
  /** 1-minute load average at the end of training, when recorded */
  load_avg: number | null;
  /** id shared by the seeds of one idea (one `train --seeds N` or one queue item), if any */
  group: string | null;
  /** true when a retraction record names this card */
  retracted: boolean;
  /** the first retraction's reason */
  retraction_reason: string | null;
}

/** The comparability class of a card: results are compared only within one class. */
export function classKeyOf(card: Pick<Card, "platform" | "harness_hash" | "budget_s">): string {
  const p = card.platform;
  return `${p.backend}|${p.device}|${card.harness_hash}|${card.budget_s}`;
}

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS files (
  kind TEXT NOT NULL, name TEXT NOT NULL, ok INTEGER NOT NULL, reason TEXT,
  size INTEGER, mtime REAL, PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cards (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, timestamp TEXT NOT NULL, agent TEXT NOT NULL,
  session TEXT NOT NULL, hypothesis TEXT NOT NULL, lesson TEXT, tags TEXT NOT NULL,
  prior_cards TEXT NOT NULL, backend TEXT NOT NULL, device TEXT NOT NULL,
  harness_hash TEXT NOT NULL, budget_s REAL NOT NULL, recipe_hash TEXT NOT NULL,
  seed INTEGER NOT NULL, val_bpb REAL, delta REAL, status TEXT NOT NULL,
  num_steps INTEGER, load_avg REAL, group_id TEXT
);
CREATE INDEX IF NOT EXISTS cards_session ON cards (session);
CREATE TABLE IF NOT EXISTS completions (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, card_id TEXT NOT NULL, status TEXT NOT NULL,
  lesson TEXT, delta REAL, agent TEXT NOT NULL, timestamp TEXT NOT NULL,
  supersedes TEXT NOT NULL, reason TEXT, verdict TEXT
);
CREATE INDEX IF NOT EXISTS completions_card ON completions (card_id);
CREATE TABLE IF NOT EXISTS retractions (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, card_id TEXT NOT NULL, reason TEXT NOT NULL,
  agent TEXT NOT NULL, timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS retractions_card ON retractions (card_id);
CREATE TABLE IF NOT EXISTS priors (card_id TEXT NOT NULL, prior_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS priors_card ON priors (card_id);
CREATE INDEX IF NOT EXISTS priors_prior ON priors (prior_id);
`;

const KINDS: RecordKind[] = ["card", "completion", "retraction"];

/** The sqlite index of one knowledge base directory. */
export class CardIndex {
  #db: DatabaseSync;
  readonly #dir: string;
  readonly #path: string;

  /** Open (creating or rebuilding as needed) the index of the base at `dir`. */
  static async open(dir: string): Promise<CardIndex> {
    const path = join(dir, "index.sqlite");
    // A link planted as the index would have sqlite write into whatever it points at.
    for (const suffix of ["", "-wal", "-shm", "-journal"]) {
      try {
        if (!Deno.lstatSync(path + suffix).isSymlink) continue;
      } catch {
        continue;
      }
      throw new UnsafePathError(
        path + suffix,
        "is a symbolic link; not used as the index (an in-memory index is used; remove the link)",
      );
    }
    try {
      return new CardIndex(dir, path, openDb(path));
    } catch (error) {
      if (!isDamaged(error)) throw error;
    }
    // Corrupt, foreign or outdated: it is derived, so delete it and start over (one process).
    return await withLock(join(dir, ".lock"), () => {
      try {
        return new CardIndex(dir, path, openDb(path));
      } catch (error) {
        if (!isDamaged(error)) throw error;
      }
      for (const suffix of ["", "-wal", "-shm", "-journal"]) {
        try {
          Deno.removeSync(path + suffix);
        } catch { /* not there */ }
      }
      return new CardIndex(dir, path, openDb(path));
    }, { base: dir });
  }

  /** An empty in-memory index, for a base directory that does not exist yet. */
  static empty(dir: string): CardIndex {
    return new CardIndex(dir, ":memory:", openDb(":memory:"), false);
  }

  /**
   * An in-memory index that scans the base like the on-disk one, for a base whose index file
   * cannot be created (a read-only checkout): slower, never wrong.
   */
  static scratch(dir: string): CardIndex {
    return new CardIndex(dir, ":memory:", openDb(":memory:"), true);
  }

  readonly #scan: boolean;

  private constructor(dir: string, path: string, db: DatabaseSync, scan = true) {
    this.#dir = dir;
    this.#path = path;
    this.#db = db;
    this.#scan = scan;
  }

  /** Close the database handle. */
  close(): void {
    this.#db.close();
  }

  /**
   * Bring the index up to date with the record files; parses only new or changed files. A
   * directory whose mtime has not moved since a settled scan is not listed again.
   */
  refresh(): RefreshReport {
    if (!this.#scan) return { added: 0, removed: 0, skipped: [] };
    const scanStart = Date.now();
    const dirStates = this.#dirStates();
    const knownBefore = this.#knownFiles();
    const listed = new Map<RecordKind, Set<string>>();
    const observed = new Map<RecordKind, number>();
    const linkedDirs: Skipped[] = [];
    for (const kind of KINDS) {
      const path = join(this.#dir, RECORD_DIRS[kind]);
      if (isSymlink(path)) {
        // A record directory planted as a link could point anywhere: not read, reported.
        linkedDirs.push({
          path,
          reason: "is a symbolic link; its records are not read (remove it)",
        });
        listed.set(kind, new Set());
        continue;
      }
      const mtime = statOrNull(path)?.mtime ?? null;
      const stored = dirStates.get(kind);
      if (
        mtime !== null && stored !== undefined && stored.mtime === mtime &&
        stored.mtime < stored.scanned - SETTLE_MS
      ) {
        listed.set(kind, new Set(knownBefore.get(kind)!.keys()));
        continue;
      }
      if (mtime !== null) observed.set(kind, mtime);
      listed.set(kind, listNames(path));
    }
    let added = 0;
    let removed = 0;
    const settled = [...observed].filter(([, mtime]) => mtime < scanStart - SETTLE_MS);
    // Records are immutable, but a base is hostile input: one edited in place (same name, new
    // size or mtime) must not keep being served from the index, so every good file is stat'ed.
    const edited = this.#editedGoodFiles(listed, knownBefore);
    if (edited.size > 0 || this.#pendingWork(listed, knownBefore) || settled.length > 0) {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        // Re-read inside the write lock: another process may have indexed them meanwhile.
        const known = this.#knownFiles();
        const maxCard = (this.#db.prepare("SELECT max(id) AS id FROM cards").get() as {
          id: string | null;
        }).id ?? "";
        // Only new cards newer than every indexed card can be folded into a cached synthesis.
        let appendOnly = true;
        for (const kind of KINDS) {
          const names = listed.get(kind)!;
          const knownOfKind = known.get(kind)!;
          for (const name of names) {
            const entry = knownOfKind.get(name);
            const wasEdited = edited.has(`${kind}/${name}`);
            if (entry && !wasEdited && (entry.ok || !this.#changed(kind, name, entry))) continue;
            if (entry) this.#forget(kind, name);
            if (
              this.#index(kind, name) && (wasEdited || !this.#appendable(kind, name, maxCard))
            ) {
              appendOnly = false;
            }
            if (wasEdited) appendOnly = false;
            added++;
          }
          for (const name of knownOfKind.keys()) {
            if (names.has(name)) continue;
            this.#forget(kind, name);
            appendOnly = false;
            removed++;
          }
        }
        const setMeta = this.#db.prepare("INSERT OR REPLACE INTO meta VALUES (?, ?)");
        for (const [kind, mtime] of settled) {
          setMeta.run(`dir:${kind}`, JSON.stringify({ mtime, scanned: scanStart }));
        }
        if (added + removed > 0) {
          const generation = this.generation() + 1;
          setMeta.run("generation", String(generation));
          if (!appendOnly) setMeta.run("full_epoch", String(generation));
        }
        this.#db.exec("COMMIT");
      } catch (error) {
        this.#db.exec("ROLLBACK");
        throw error;
      }
    }
    return { added, removed, skipped: [...linkedDirs, ...this.skipped()] };
  }

  /**
   * Whether a newly indexed record can be folded into a cached synthesis without recomputing:
   * a card newer than every indexed card, or the judgement of a pending card that no judged
   * card is newer than. Anything else (retractions, late older cards) forces a recomputation.
   */
  #appendable(kind: RecordKind, name: string, maxCard: string): boolean {
    const parsed = parseFileName(kind, name)!;
    if (kind === "card") return parsed.id > maxCard;
    if (kind === "retraction") return false;
    const card = this.#db.prepare("SELECT status FROM cards WHERE id = ?").get(parsed.cardId) as
      | { status: string }
      | undefined;
    if (card?.status !== "pending") return false;
    const newerJudged = this.#db.prepare(
      `SELECT 1 FROM cards c WHERE c.id > ? AND (c.status != 'pending' OR EXISTS
         (SELECT 1 FROM completions d WHERE d.card_id = c.id AND d.id != ?)) LIMIT 1`,
    ).get(parsed.cardId, parsed.id);
    const judgedBefore = this.#db.prepare(
      "SELECT 1 FROM completions WHERE card_id = ? AND id != ? LIMIT 1",
    ).get(parsed.cardId, parsed.id);
    return newerJudged === undefined && judgedBefore === undefined;
  }

  /** A number that changes whenever indexed content changes (keys derived caches). */
  generation(): number {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'generation'").get() as
      | { value: string }
      | undefined;
    return row ? Number(row.value) : 0;
  }

  /** Identifies this index file and its generation: changes on any content change or rebuild. */
  stamp(): string {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as
      | { value: string }
      | undefined;
    return `${row?.value ?? "memory"}:${this.generation()}`;
  }

  /** A cached derived value stored under `key`, with the generation it was computed at. */
  cached(key: string): { generation: number; value: string } | null {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(`cache:${key}`) as
      | { value: string }
      | undefined;
    if (!row) return null;
    const split = row.value.indexOf(":");
    return { generation: Number(row.value.slice(0, split)), value: row.value.slice(split + 1) };
  }

  /** The last generation whose changes were not plain appends of newer cards. */
  fullEpoch(): number {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'full_epoch'").get() as
      | { value: string }
      | undefined;
    return row ? Number(row.value) : 0;
  }

  /** Store a derived value computed at `generation` (best effort: a failure only loses it). */
  cache(key: string, generation: number, value: string): void {
    if (this.#path === ":memory:") return;
    try {
      this.#db.prepare("INSERT OR REPLACE INTO meta VALUES (?, ?)").run(
        `cache:${key}`,
        `${generation}:${value}`,
      );
    } catch { /* the next reader caches it */ }
  }

  /** Run `body` on one consistent snapshot of the index (a read transaction). */
  snapshot<T>(body: () => T): T {
    this.#db.exec("BEGIN");
    try {
      return body();
    } finally {
      this.#db.exec("COMMIT");
    }
  }

  #dirStates(): Map<RecordKind, { mtime: number; scanned: number }> {
    const states = new Map<RecordKind, { mtime: number; scanned: number }>();
    const rows = this.#db.prepare("SELECT key, value FROM meta WHERE key LIKE 'dir:%'").all() as {
      key: string;
      value: string;
    }[];
    for (const row of rows) states.set(row.key.slice(4) as RecordKind, JSON.parse(row.value));
    return states;
  }

  /** Drop every row and index all record files again. */
  rebuild(): RefreshReport {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const table of ["files", "cards", "completions", "retractions", "priors"]) {
        this.#db.exec(`DELETE FROM ${table}`);
      }
      this.#db.exec("DELETE FROM meta WHERE key LIKE 'dir:%' OR key LIKE 'cache:%'");
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
    return this.refresh();
  }

  /** Files currently skipped as unusable, with their reasons. */
  skipped(): Skipped[] {
    const rows = this.#db.prepare("SELECT kind, name, reason FROM files WHERE ok = 0 ORDER BY name")
      .all() as { kind: RecordKind; name: string; reason: string }[];
    return rows.map((row) => ({
      path: join(this.#dir, RECORD_DIRS[row.kind], row.name),
      reason: row.reason,
    }));
  }

  /** Every indexed card with judgement and retraction applied, oldest first. */
  summaries(filter: { session?: string; afterId?: string; ids?: string[] } = {}): CardSummary[] {
    const clauses: string[] = [];
    const args: string[] = [];
    if (filter.ids !== undefined) {
      clauses.push(`id IN (${filter.ids.map(() => "?").join(",") || "NULL"})`);
      args.push(...filter.ids);
    }
    if (filter.session !== undefined) {
      clauses.push("session = ?");
      args.push(filter.session);
    }
    if (filter.afterId !== undefined) {
      clauses.push("id > ?");
      args.push(filter.afterId);
    }
    const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
    const cards = this.#db.prepare(`SELECT * FROM cards ${where} ORDER BY id`).all(
      ...args,
    ) as unknown as CardRow[];
    const completions = new Map<string, CompletionRow[]>();
    for (
      const row of this.#db.prepare("SELECT * FROM completions ORDER BY id")
        .all() as unknown as (Omit<CompletionRow, "supersedes"> & { supersedes: string })[]
    ) {
      const record = { ...row, supersedes: JSON.parse(row.supersedes) as string[] };
      let list = completions.get(row.card_id);
      if (!list) completions.set(row.card_id, list = []);
      list.push(record);
    }
    const retractions = new Map<string, string>();
    for (
      const row of this.#db.prepare("SELECT card_id, reason FROM retractions ORDER BY id")
        .all() as { card_id: string; reason: string }[]
    ) {
      if (!retractions.has(row.card_id)) retractions.set(row.card_id, row.reason);
    }
    return cards.map((row) => {
      const judgement = effectiveJudgement(completions.get(row.id) ?? []);
      return summarize(row, judgement, retractions.get(row.id));
    });
  }

  /** Ids of the cards that list `id` among their prior cards. */
  childrenOf(id: string): string[] {
    return (this.#db.prepare("SELECT card_id FROM priors WHERE prior_id = ? ORDER BY card_id")
      .all(id) as { card_id: string }[]).map((row) => row.card_id);
  }

  /** Number of indexed cards. */
  count(): number {
    return (this.#db.prepare("SELECT count(*) AS n FROM cards").get() as { n: number }).n;
  }

  #pendingWork(
    listed: Map<RecordKind, Set<string>>,
    known: Map<RecordKind, Map<string, FileRow>>,
  ): boolean {
    for (const kind of KINDS) {
      const names = listed.get(kind)!;
      const knownOfKind = known.get(kind)!;
      if (names.size !== knownOfKind.size) return true;
      for (const name of names) {
        const entry = knownOfKind.get(name);
        if (!entry) return true;
        if (!entry.ok && this.#changed(kind, name, entry)) return true;
      }
    }
    return false;
  }

  #knownFiles(): Map<RecordKind, Map<string, FileRow>> {
    const known = new Map<RecordKind, Map<string, FileRow>>();
    for (const kind of KINDS) known.set(kind, new Map());
    // Fetch good files as one string per kind (10k row objects are slow): `name|size|mtime`.
    const good = this.#db.prepare(
      `SELECT kind, group_concat(name || '|' || ifnull(size, '') || '|' || ifnull(mtime, ''), '/')
         AS names FROM files WHERE ok = 1 GROUP BY kind`,
    ).all() as { kind: RecordKind; names: string }[];
    for (const row of good) {
      const map = known.get(row.kind);
      if (!map) continue;
      for (const entry of row.names.split("/")) {
        const [name, size, mtime] = entry.split("|");
        map.set(name, {
          ok: 1,
          size: size === "" ? null : Number(size),
          mtime: mtime === "" ? null : Number(mtime),
        });
      }
    }
    const bad = this.#db.prepare("SELECT kind, name, ok, size, mtime FROM files WHERE ok = 0")
      .all() as unknown as (FileRow & { kind: RecordKind; name: string })[];
    for (const row of bad) known.get(row.kind)?.set(row.name, row);
    return known;
  }

  /** `kind/name` of indexed good files whose size or mtime changed since they were indexed. */
  #editedGoodFiles(
    listed: Map<RecordKind, Set<string>>,
    known: Map<RecordKind, Map<string, FileRow>>,
  ): Set<string> {
    const edited = new Set<string>();
    for (const kind of KINDS) {
      const dir = join(this.#dir, RECORD_DIRS[kind]);
      const names = listed.get(kind)!;
      for (const [name, entry] of known.get(kind)!) {
        if (!entry.ok || !names.has(name)) continue;
        const stat = statOrNull(join(dir, name));
        if (stat === null || stat.size !== entry.size || stat.mtime !== entry.mtime) {
          edited.add(`${kind}/${name}`);
        }
      }
    }
    return edited;
  }

  /** A skipped file is re-checked when its size or mtime changed (someone repaired it). */
  #changed(kind: RecordKind, name: string, entry: FileRow): boolean {
    const stat = statOrNull(join(this.#dir, RECORD_DIRS[kind], name));
    return stat === null || stat.size !== entry.size || stat.mtime !== entry.mtime;
  }

  #forget(kind: RecordKind, name: string): void {
    this.#db.prepare("DELETE FROM files WHERE kind = ? AND name = ?").run(kind, name);
    const parsed = parseFileName(kind, name);
    if (!parsed) return;
    if (kind === "card") {
      this.#db.prepare("DELETE FROM cards WHERE id = ?").run(parsed.id);
      this.#db.prepare("DELETE FROM priors WHERE card_id = ?").run(parsed.id);
    } else {
      const table = kind === "completion" ? "completions" : "retractions";
      this.#db.prepare(`DELETE FROM ${table} WHERE id = ?`).run(parsed.id);
    }
  }

  /** Index one file; true when it was a usable record (false: recorded as skipped). */
  #index(kind: RecordKind, name: string): boolean {
    const path = join(this.#dir, RECORD_DIRS[kind], name);
    const parsed = parseFileName(kind, name);
    const markBad = (reason: string): false => {
      const stat = statOrNull(path);
      this.#db.prepare("INSERT OR REPLACE INTO files VALUES (?, ?, 0, ?, ?, ?)").run(
        kind,
        name,
        reason,
        stat?.size ?? null,
        stat?.mtime ?? null,
      );
      return false;
    };
    if (!parsed) return markBad(`file name is not a ${kind} record name`);
    if (kind === "card") {
      const result = readCardFile(path, parsed.id);
      if (!result.ok) return markBad(result.reason);
      const c = result.value;
      this.#db.prepare(
        `INSERT OR REPLACE INTO cards VALUES
           (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        c.id,
        name,
        c.timestamp,
        c.agent,
        c.session,
        c.hypothesis,
        c.lesson ?? null,
        JSON.stringify(c.tags),
        JSON.stringify(c.prior_cards),
        c.platform.backend,
        c.platform.device,
        c.harness_hash,
        c.budget_s,
        c.recipe_hash,
        c.seed,
        c.results.val_bpb,
        c.results.delta ?? null,
        c.status,
        c.results.num_steps ?? null,
        c.results.load_avg ?? null,
        c.group ?? null,
      );
      const insertPrior = this.#db.prepare("INSERT INTO priors VALUES (?, ?)");
      for (const prior of c.prior_cards) insertPrior.run(c.id, prior);
    } else if (kind === "completion") {
      const result = readCompletionFile(path, parsed.id, parsed.cardId);
      if (!result.ok) return markBad(result.reason);
      const r = result.value;
      this.#db.prepare(
        "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ).run(
        r.id,
        name,
        r.card_id,
        r.status,
        r.lesson ?? null,
        r.delta ?? null,
        r.agent,
        r.timestamp,
        JSON.stringify(r.supersedes ?? []),
        r.reason ?? null,
        r.verdict ?? null,
      );
    } else {
      const result = readRetractionFile(path, parsed.id, parsed.cardId);
      if (!result.ok) return markBad(result.reason);
      const r = result.value;
      this.#db.prepare("INSERT OR REPLACE INTO retractions VALUES (?, ?, ?, ?, ?, ?)").run(
        r.id,
        name,
        r.card_id,
        r.reason,
        r.agent,
        r.timestamp,
      );
    }
    // Size and mtime of a good file: a record edited in place later is noticed and re-read.
    const stat = statOrNull(path);
    this.#db.prepare("INSERT OR REPLACE INTO files VALUES (?, ?, 1, NULL, ?, ?)").run(
      kind,
      name,
      stat?.size ?? null,
      stat?.mtime ?? null,
    );
    return true;
  }
}

interface FileRow {
  ok: number;
  size: number | null;
  mtime: number | null;
}

interface CardRow {
  id: string;
  timestamp: string;
  agent: string;
  session: string;
  hypothesis: string;
  lesson: string | null;
  tags: string;
  prior_cards: string;
  backend: Backend;
  device: string;
  harness_hash: string;
  budget_s: number;
  recipe_hash: string;
  seed: number;
  val_bpb: number | null;
  delta: number | null;
  status: Status;
  num_steps: number | null;
  load_avg: number | null;
  group_id: string | null;
}

interface CompletionRow {
  id: string;
  card_id: string;
  status: JudgedStatus;
  lesson: string | null;
  delta: number | null;
  supersedes: string[];
}

/**
 * The judgement in effect among a card's completion records (oldest first): the records no
 * other record supersedes are the heads; one head is the judgement, several heads (judged
 * independently, e.g. on two machines) make the card disputed and the earliest head stands.
 */
export function effectiveJudgement<T extends { id: string; supersedes?: string[] }>(
  records: T[],
): { head: T; disputed: boolean; heads: T[] } | null {
  if (records.length === 0) return null;
  const superseded = new Set<string>();
  for (const record of records) {
    for (const id of record.supersedes ?? []) {
      if (id !== record.id) superseded.add(id);
    }
  }
  const heads = records.filter((record) => !superseded.has(record.id));
  // A cycle of supersedes (hostile input) leaves no head: fall back to the earliest record.
  if (heads.length === 0) return { head: records[0], disputed: true, heads: [records[0]] };
  return { head: heads[0], disputed: heads.length > 1, heads };
}

function summarize(
  row: CardRow,
  judgement: { head: CompletionRow; disputed: boolean } | null,
  retraction: string | undefined,
): CardSummary {
  const tags = JSON.parse(row.tags) as string[];
  const completion = judgement?.head;
  const judged = completion !== undefined;
  const status: Status = judged ? completion.status : row.status;
  return {
    id: row.id,
    timestamp: row.timestamp,
    agent: row.agent,
    session: row.session,
    hypothesis: row.hypothesis,
    // A crash card's own judgement (crash again) only carries its lesson.
    lesson:
      (judged || (row.status === "crash" && completion !== undefined)
        ? completion!.lesson
        : null) ?? row.lesson,
    tags,
    categories: categoriesOf(tags),
    prior_cards: JSON.parse(row.prior_cards) as string[],
    backend: row.backend,
    device: row.device,
    harness_hash: row.harness_hash,
    budget_s: row.budget_s,
    recipe_hash: row.recipe_hash,
    seed: row.seed,
    class_key: `${row.backend}|${row.device}|${row.harness_hash}|${row.budget_s}`,
    // A run judged a crash never counts as a result.
    val_bpb: status === "crash" ? null : row.val_bpb,
    delta: (judged && completion.delta !== null ? completion.delta : null) ?? row.delta,
    written_status: row.status,
    status,
    completion_id: judged ? completion.id : null,
    disputed: judgement?.disputed ?? false,
    num_steps: row.num_steps,
    load_avg: row.load_avg,
    group: row.group_id,
    retracted: retraction !== undefined,
    retraction_reason: retraction ?? null,
  };
}

function openDb(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    // The same bound as every other lock wait: a stopped writer must not block readers forever.
    db.exec(`PRAGMA busy_timeout = ${Math.round(lockTimeoutSeconds() * 1000)}`);
    const version = (db.prepare("PRAGMA user_version").get() as { user_version: number })
      .user_version;
    if (version !== 0 && version !== INDEX_VERSION) throw new Error("outdated index");
    if (version === 0) {
      if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
      db.exec("BEGIN IMMEDIATE");
      db.exec(SCHEMA_SQL);
      db.prepare("INSERT OR IGNORE INTO meta VALUES ('instance', ?)").run(crypto.randomUUID());
      db.exec(`PRAGMA user_version = ${INDEX_VERSION}`);
      db.exec("COMMIT");
    }
    // Touch every table once so a damaged file fails here, not halfway through a command.
    db.prepare("SELECT count(*) FROM files").get();
    db.prepare("SELECT count(*) FROM cards").get();
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** True for errors that mean the index file itself is unusable (not a busy or I/O error). */
function isDamaged(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /not a database|malformed|outdated index|encrypted|disk image|no such table/i.test(
    message,
  );
}

function listNames(dir: string): Set<string> {
  const names = new Set<string>();
  try {
    for (const entry of Deno.readDirSync(dir)) {
      // Directories and links are listed too, so they are reported (never silently skipped).
      if (isTempName(entry.name) || entry.name.startsWith(".")) continue;
      names.add(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names;
}

function isSymlink(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSymlink;
  } catch {
    return false;
  }
}

function statOrNull(path: string): { size: number; mtime: number | null } | null {
  try {
    const stat = Deno.lstatSync(path);
    return { size: stat.size, mtime: stat.mtime?.getTime() ?? null };
  } catch {
    return null;
  }
}
