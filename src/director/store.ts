/**
 * The queue on disk. Every record is one immutable file, so two machines never edit the same
 * file and `git pull --rebase` never conflicts:
 *
 * ```
 * <kb>/queue/items/<item-id>.json                                  one per queue item
 * <kb>/queue/events/<item-id>.<gen>.claim.<agent>.<claim-id>.json   claim of generation <gen>
 * <kb>/queue/events/<item-id>.<gen>.<kind>.<event-id>.json         heartbeat | release |
 *                                                                  complete | drop | lost
 * <kb>/queue/.lock                                                 local pick lock (git-ignored)
 * <kb>/views/claim-order.json                                      derived: claims in git order
 * ```
 *
 * Every name is unique across machines without coordination (ids carry 80 random bits), so a
 * `git pull --rebase` never meets two files of one name. Old claim names
 * (`<item>.<gen>.claim.<host>.json`, id `claim_<host>`) stay readable.
 *
 * The current state of an item is a fold of its events (see `foldItem`). On one machine the pick
 * holds the queue lock and skips any (item, generation) with a claim file, readable or not, so
 * one base never hands a generation to two agents; across machines the first claim in the git
 * history wins (`views/claim-order.json`, written by `sync`). Files are parsed once per process
 * and cached by path, which is safe because a record never changes after it is created.
 */
import * as v from "valibot";
import { dirname, join } from "node:path";
import { guardedCreateExclusive, guardedMkdir, guardedWrite } from "../util/guarded.ts";
import { isValidId, newId } from "../util/ids.ts";
import { ensureBase } from "../knowledge/base.ts";
import { QUEUE_EVENT_KINDS, type QueueEventKind } from "../knowledge/records.ts";

/** Record kinds of the event log. */
export type EventKind = QueueEventKind;

const EVENT_KINDS: readonly EventKind[] = QUEUE_EVENT_KINDS;

const IdString = v.pipe(v.string(), v.check((id) => isValidId(id), "must be an id"));
const IsoTime = v.pipe(v.string(), v.isoTimestamp("must be an ISO timestamp"));

/** Schema of a queue item file. */
const ItemSchema = v.strictObject({
  id: IdString,
  hypothesis: v.pipe(v.string(), v.nonEmpty("must not be empty")),
  category: v.pipe(v.string(), v.nonEmpty("must not be empty")),
  priority: v.pipe(v.number(), v.integer("must be an integer")),
  config: v.nullable(v.record(v.string(), v.unknown())),
  priorCards: v.array(v.string()),
  createdAt: IsoTime,
  createdBy: v.nullable(v.string()),
  source: v.picklist(["add", "plan"]),
  rationale: v.nullable(v.string()),
  base: v.optional(v.strictObject({
    recipe_hash: v.optional(v.string()),
    card: v.optional(IdString),
  })),
  seeds: v.optional(v.array(v.pipe(v.number(), v.integer(), v.minValue(0)))),
});

/** Schema of an event file. */
const EventSchema = v.strictObject({
  id: v.string(),
  kind: v.picklist(EVENT_KINDS),
  item: IdString,
  generation: v.pipe(v.number(), v.integer(), v.minValue(0)),
  at: IsoTime,
  agent: v.nullable(v.string()),
  card: v.optional(v.string()),
  cards: v.optional(v.array(v.string())),
  adopted: v.optional(v.boolean()),
  reason: v.optional(v.string()),
  stale: v.optional(v.boolean()),
  claim: v.optional(v.string()),
});

/** One experiment waiting in (or gone through) the queue. Immutable once written. */
export interface QueueItem {
  /** `item_<ULID>`: unique without coordination, sortable by creation time. */
  id: string;
  /** What to try and what is expected. */
  hypothesis: string;
  /** Taxonomy category. */
  category: string;
  /** 1 (most urgent) to 5. */
  priority: number;
  /** The config change to try (dotted keys into the recipe config), or null. */
  config: Record<string, unknown> | null;
  /** Cards this idea comes from. */
  priorCards: string[];
  /** Creation time, ISO 8601. */
  createdAt: string;
  /** Who added it. */
  createdBy: string | null;
  /** `add` (a person or agent) or `plan` (the planner). */
  source: "add" | "plan";
  /** Why it was proposed (the planner's explanation). */
  rationale: string | null;
  /**
   * What the change applies to: the recipe hash and/or the card whose config it changes.
   * Absent on items written before items carried a base.
   */
  base?: ItemBase;
  /** Seeds to run (replicates use fixed seeds); absent: the worker chooses. */
  seeds?: number[];
}

/** The base of a queue item: the recipe (hash) and/or card whose config the change applies to. */
export interface ItemBase {
  /** Recipe hash of the base. */
  recipe_hash?: string;
  /** Card whose effective config the change applies to. */
  card?: string;
}

/** One state change of a queue item. Immutable once written. */
export interface QueueEvent {
  /** Event id: `ev_<ULID>`, `claim_<ULID>` for claims (`claim_<host>` in old bases). */
  id: string;
  /** What happened. */
  kind: EventKind;
  /** The item it happened to. */
  item: string;
  /** Claim generation it belongs to (0 for the first claim, +1 after each release). */
  generation: number;
  /** When, ISO 8601. */
  at: string;
  /** The agent concerned (the claim holder), if any. */
  agent: string | null;
  /** The result card (complete; the first of `cards`). */
  card?: string;
  /** Every result card of a complete (the seeds of the item); absent on older records. */
  cards?: string[];
  /** True when a pending item was completed by a run its agent chose on its own. */
  adopted?: boolean;
  /** Why (release, drop). */
  reason?: string;
  /** True for a release because of a missed heartbeat. */
  stale?: boolean;
  /** The claim (event id) a heartbeat, release, complete or lost record belongs to. */
  claim?: string;
}

/** A record on disk that could not be used: reported and skipped, never rewritten. */
export interface Problem {
  /** Path of the unusable file. */
  path: string;
  /** Why it was skipped. */
  reason: string;
}

/** Where the queue of the knowledge base `kb` lives. */
export interface QueuePaths {
  /** `<kb>/queue` */
  root: string;
  /** One file per item. */
  items: string;
  /** One file per event. */
  events: string;
  /** The local pick lock (git-ignored). */
  lock: string;
}

/** The directories and lock file of the queue in `kb`. */
export function queuePaths(kb: string): QueuePaths {
  const root = join(kb, "queue");
  return {
    root,
    items: join(root, "items"),
    events: join(root, "events"),
    lock: join(root, ".lock"),
  };
}

const GITIGNORE = "# local lock of the queue: never shared\n.lock\n.tmp-*\n";

// Queue roots this process has already set up (the directories are never removed).
const readyRoots = new Set<string>();

/** Create the queue directories (and its .gitignore for the local lock) when missing. */
export async function ensureQueueDirs(kb: string): Promise<QueuePaths> {
  const paths = queuePaths(kb);
  if (readyRoots.has(paths.root)) return paths;
  await ensureBase(kb); // a base first created by the queue still keeps its index out of git
  // Guarded: a base is hostile input, and `queue/` or `queue/events` may be planted links.
  await guardedMkdir(kb, paths.items);
  await guardedMkdir(kb, paths.events);
  try {
    await Deno.lstat(join(paths.root, ".gitignore"));
  } catch {
    await guardedCreateExclusive(kb, join(paths.root, ".gitignore"), GITIGNORE);
  }
  readyRoots.add(paths.root);
  return paths;
}

// Parsed records by path. Records are immutable, so a cached parse never goes stale.
const itemCache = new Map<string, QueueItem>();
const eventCache = new Map<string, QueueEvent>();

const decoder = new TextDecoder("utf-8", { fatal: true });

function describeIssues(issues: v.BaseIssue<unknown>[]): string {
  const issue = issues[0];
  const path = issue.path?.map((step) => String(step.key)).join(".") ?? "";
  return `${path ? `field ${path}: ` : ""}${issue.message}`;
}

async function readJson(path: string): Promise<{ value?: unknown; reason?: string }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { reason: "vanished while reading" };
    return { reason: `unreadable: ${(error as Error).message}` };
  }
  if (bytes.length === 0) return { reason: "empty file" };
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { reason: "not valid UTF-8" };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { reason: `invalid JSON (${(error as Error).message.split("\n")[0]})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const what = Array.isArray(value)
      ? "a JSON list"
      : `JSON ${value === null ? "null" : typeof value}`;
    return { reason: `expected a JSON object, found ${what}` };
  }
  return { value };
}

/** Parse an item file (cached). Returns a reason instead when the file is unusable. */
async function loadItem(path: string, name: string): Promise<QueueItem | Problem> {
  const cached = itemCache.get(path);
  if (cached) return cached;
  const { value, reason } = await readJson(path);
  if (reason) return { path, reason };
  const parsed = v.safeParse(ItemSchema, value);
  if (!parsed.success) return { path, reason: describeIssues(parsed.issues) };
  if (`${parsed.output.id}.json` !== name) {
    return { path, reason: `id ${parsed.output.id} does not match the file name` };
  }
  itemCache.set(path, parsed.output as QueueItem);
  return parsed.output as QueueItem;
}

interface EventName {
  item: string;
  generation: number;
  kind: EventKind;
  /** The event id the name promises (the content must agree). */
  id: string;
}

// `<item>.<gen>.<kind>.<event id>.json`, or for claims `<item>.<gen>.claim.<agent>.<claim id>.json`
// (old claims: `<item>.<gen>.claim.<host>.json` with id `claim_<host>`).
const EVENT_NAME =
  /^([a-z]+_[0-9A-Z]{26})\.(\d{4,})\.([a-z]+)\.([A-Za-z0-9_-]+)(?:\.([a-z]+_[0-9A-Z]{26}))?\.json$/;

/**
 * Generations of item `id` whose claim file exists but could not be read (listed in `problems`):
 * such a generation is taken, so the next claim goes past it and the item never gets stuck.
 */
export function damagedClaimGenerations(problems: readonly Problem[], id: string): number[] {
  const generations: number[] = [];
  for (const problem of problems) {
    const parsed = parseEventName(problem.path.split("/").pop() ?? "");
    if (parsed?.kind === "claim" && parsed.item === id) generations.push(parsed.generation);
  }
  return generations.sort((a, b) => a - b);
}

function parseEventName(name: string): EventName | null {
  const match = EVENT_NAME.exec(name);
  if (!match || !(EVENT_KINDS as readonly string[]).includes(match[3])) return null;
  const kind = match[3] as EventKind;
  if (match[5] !== undefined && kind !== "claim") return null;
  const id = match[5] ?? (kind === "claim" ? `claim_${match[4]}` : match[4]);
  return { item: match[1], generation: Number(match[2]), kind, id };
}

/** Parse an event file (cached), checking that its content agrees with its name. */
async function loadEvent(path: string, name: EventName): Promise<QueueEvent | Problem> {
  const cached = eventCache.get(path);
  if (cached) return cached;
  const { value, reason } = await readJson(path);
  if (reason) return { path, reason };
  const parsed = v.safeParse(EventSchema, value);
  if (!parsed.success) return { path, reason: describeIssues(parsed.issues) };
  const event = parsed.output as QueueEvent;
  if (
    event.item !== name.item || event.generation !== name.generation || event.kind !== name.kind ||
    event.id !== name.id
  ) {
    return { path, reason: "content does not match the file name (item, generation, kind, id)" };
  }
  eventCache.set(path, event);
  return event;
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "reason" in value && "path" in value;
}

/**
 * Names of the record files in `dir`. A directory or a symbolic link named like a record, and a
 * record directory that is itself a link (a hostile base may point it anywhere), are reported in
 * `problems` and not read.
 */
function listNames(dir: string, problems: Problem[]): string[] {
  const names: string[] = [];
  try {
    for (const above of [dirname(dir), dir]) {
      if (Deno.lstatSync(above).isSymlink) {
        if (!problems.some((problem) => problem.path === above)) {
          problems.push({ path: above, reason: "is a symbolic link; not read (remove it)" });
        }
        return names;
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return names;
    throw error;
  }
  try {
    // One synchronous listing: far fewer round trips than the async iterator.
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.name.endsWith(".json") || entry.name.startsWith(".")) continue;
      if (entry.isFile) names.push(entry.name);
      else {
        problems.push({
          path: join(dir, entry.name),
          reason: entry.isSymlink
            ? "is a symbolic link; a record must be a regular file"
            : "is a directory, not a record file",
        });
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names;
}

/** Everything on disk, parsed: items, their events, and the files that had to be skipped. */
export interface Snapshot {
  /** Readable items, in id order. */
  items: QueueItem[];
  /** Readable events by item id. */
  events: Map<string, QueueEvent[]>;
  /** Files skipped as unreadable. */
  problems: Problem[];
  /** `<item>.<generation>` of every claim file name, readable or not (never handed out again). */
  claimed: Set<string>;
  /** Position of each claim in the git history (`views/claim-order.json`); absent: not pushed. */
  ranks: Map<QueueEvent, number>;
}

/** Run `work` over `inputs` with at most `limit` in flight (file reads overlap this way). */
async function mapLimited<T, R>(inputs: T[], limit: number, work: (x: T) => Promise<R>) {
  const results = new Array<R>(inputs.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, inputs.length) }, async () => {
    while (next < inputs.length) {
      const index = next++;
      results[index] = await work(inputs[index]);
    }
  });
  await Promise.all(runners);
  return results;
}

/**
 * Read the whole queue. Events are listed before items, so an event always belongs to an item
 * the reader also sees, and the result is a state the queue really was in (files are only ever
 * added, each one whole).
 */
export async function readSnapshot(kb: string): Promise<Snapshot> {
  const paths = queuePaths(kb);
  const problems: Problem[] = [];
  const eventNames = listNames(paths.events, problems);
  const itemNames = listNames(paths.items, problems);

  const items: QueueItem[] = [];
  const loadedItems = await mapLimited(
    itemNames,
    32,
    (name) => loadItem(`${paths.items}/${name}`, name),
  );
  for (const loaded of loadedItems) {
    if (isProblem(loaded)) problems.push(loaded);
    else items.push(loaded);
  }

  const events = new Map<string, QueueEvent[]>();
  const parsedNames: { name: string; parsed: EventName }[] = [];
  const claimed = new Set<string>();
  for (const name of eventNames) {
    const parsed = parseEventName(name);
    if (!parsed) {
      problems.push({ path: join(paths.events, name), reason: "not a queue event file name" });
      continue;
    }
    if (parsed.kind === "claim") claimed.add(`${parsed.item}.${parsed.generation}`);
    parsedNames.push({ name, parsed });
  }
  const order = readClaimOrder(kb);
  const ranks = new Map<QueueEvent, number>();
  const loadedEvents = await mapLimited(
    parsedNames,
    32,
    ({ name, parsed }) => loadEvent(`${paths.events}/${name}`, parsed),
  );
  for (const [index, loaded] of loadedEvents.entries()) {
    if (isProblem(loaded)) {
      problems.push(loaded);
      continue;
    }
    const rank = loaded.kind === "claim" ? order.get(parsedNames[index].name) : undefined;
    if (rank !== undefined) ranks.set(loaded, rank);
    const list = events.get(loaded.item);
    if (list) list.push(loaded);
    else events.set(loaded.item, [loaded]);
  }
  items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { items, events, problems, claimed, ranks };
}

/** Write a new item file. Item ids are unique, so this never replaces anything. */
export async function writeItem(kb: string, item: QueueItem): Promise<void> {
  const paths = await ensureQueueDirs(kb);
  const path = join(paths.items, `${item.id}.json`);
  if (!await guardedCreateExclusive(kb, path, JSON.stringify(item, null, 2) + "\n")) {
    throw new Error(`${path}: already exists`);
  }
}

/** Sanitised host name (`$AUTORESEARCH_HOSTNAME` overrides it), for messages and commits. */
export function hostTag(): string {
  let host = Deno.env.get("AUTORESEARCH_HOSTNAME") ?? "";
  if (host === "") {
    try {
      host = Deno.hostname();
    } catch { /* no --allow-sys: one machine is all we can tell apart */ }
  }
  return fileTag(host) || "local";
}

/** `text` as a file-name part: lower case `a-z 0-9 -`, at most 40 characters. */
export function fileTag(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
}

function eventFileName(event: QueueEvent): string {
  const head = `${event.item}.${String(event.generation).padStart(4, "0")}.${event.kind}`;
  // A claim's name carries its agent (for people reading the directory) and its random id.
  return event.kind === "claim"
    ? `${head}.${fileTag(event.agent ?? "") || "agent"}.${event.id}.json`
    : `${head}.${event.id}.json`;
}

/**
 * Write an event under a name unique across machines (`claim_<ULID>` or `ev_<ULID>` inside it).
 * Returns null only in the astronomically unlikely case that the name exists.
 */
export async function writeEvent(
  kb: string,
  fields: Omit<QueueEvent, "id">,
): Promise<QueueEvent | null> {
  const paths = await ensureQueueDirs(kb);
  const event: QueueEvent = { id: newId(fields.kind === "claim" ? "claim" : "ev"), ...fields };
  const path = join(paths.events, eventFileName(event));
  if (!await guardedCreateExclusive(kb, path, JSON.stringify(event, null, 2) + "\n")) {
    return null;
  }
  return event;
}

/** Where the derived order of claims in the git history lives (git-ignored with `views/`). */
export function claimOrderPath(kb: string): string {
  return join(kb, "views", "claim-order.json");
}

/**
 * The position of each claim file in the linear git history, from `views/claim-order.json`
 * (empty when there is none or it is unusable: every claim then counts as not yet pushed).
 */
export function readClaimOrder(kb: string): Map<string, number> {
  const order = new Map<string, number>();
  let value: unknown;
  try {
    value = JSON.parse(Deno.readTextFileSync(claimOrderPath(kb)));
  } catch {
    return order; // missing or unreadable: derived, rebuilt by the next sync
  }
  const claims = (value as { claims?: unknown })?.claims;
  if (!Array.isArray(claims)) return order;
  claims.forEach((name, index) => {
    if (typeof name === "string" && !order.has(name)) order.set(name, index);
  });
  return order;
}

/**
 * Record the order in which claim files entered the linear git history (`names`: file names of
 * `queue/events`, oldest first) as of commit `head`. Derived and local: `sync` rewrites it.
 */
export async function writeClaimOrder(kb: string, head: string, names: string[]): Promise<void> {
  const claims = names.filter((name) => parseEventName(name)?.kind === "claim");
  await guardedWrite(
    kb,
    claimOrderPath(kb),
    JSON.stringify({ version: 1, head, claims }) + "\n",
  );
}
