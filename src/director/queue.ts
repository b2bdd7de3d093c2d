/**
 * The experiment queue: add items, claim the best pending one, heartbeat, complete, release,
 * drop, and release stale claims. State is never stored, only derived by folding the immutable
 * records of store.ts, so readers always see a whole state and nothing is rewritten.
 *
 * Claims are exclusive under any concurrency on one machine: the pick (fold, choose, write) holds
 * the queue lock, and the claim record itself is created exclusively per (item, generation).
 * Across machines, two offline claims of one generation are both kept and the fold picks the
 * earliest; the loser learns it on its next heartbeat or complete.
 */
import { withLock } from "../util/lock.ts";
import { newId } from "../util/ids.ts";
import { UsageError } from "../util/errors.ts";
import {
  ensureQueueDirs,
  hostTag,
  type ItemBase,
  type Problem,
  type QueueEvent,
  type QueueItem,
  readSnapshot,
  type Snapshot,
  writeEvent,
  writeItem,
} from "./store.ts";

export type { EventKind, ItemBase, Problem, QueueEvent, QueueItem } from "./store.ts";

/** Default minutes without a heartbeat after which a claim is released. */
export const DEFAULT_STALE_MINUTES = 15;

/** Where an item is in its life. */
export type ItemStatus = "pending" | "in_progress" | "completed" | "dropped";

/** Options every queue operation takes. */
export interface QueueOptions {
  /** Knowledge base directory (the queue lives in `<kb>/queue`). */
  kb: string;
  /** The clock; inject a fake one in tests. Defaults to the real time. */
  now?: () => Date;
  /** Minutes without a heartbeat before a claim is stale (default 15). */
  staleMinutes?: number;
  /** Machine tag used in claim file names (default: the sanitised host name). */
  host?: string;
}

/** The active claim of an in-progress item. */
export interface ClaimInfo {
  /** Agent holding the claim. */
  agent: string;
  /** Claim generation (0 for the first claim, +1 after each release). */
  generation: number;
  /** When the claim was made. */
  claimedAt: string;
  /** Latest heartbeat (the claim time when none yet). */
  heartbeatAt: string;
}

/** An item with its derived state. */
export interface ItemState {
  /** The item record. */
  item: QueueItem;
  /** Current status. */
  status: ItemStatus;
  /** The generation the next claim takes. */
  nextGeneration: number;
  /** The claim behind in_progress, or the last one for completed items. */
  claim: ClaimInfo | null;
  /** The card that completed the item (the first of `cards`). */
  card: string | null;
  /** Every card that completed the item (its seeds), in the order given. */
  cards: string[];
  /** True when the item was completed by a run its agent chose on its own (adopted). */
  adopted: boolean;
  /** When the item was completed or dropped. */
  closedAt: string | null;
  /** Why it was dropped. */
  dropReason: string | null;
  /** Every release so far (manual or stale), oldest first. */
  releases: {
    at: string;
    agent: string | null;
    generation: number;
    stale: boolean;
    reason: string | null;
  }[];
}

function byTimeThenId(a: QueueEvent, b: QueueEvent): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Derive the state of `item` from its events. Pure: the same records give the same state. */
export function foldItem(item: QueueItem, events: readonly QueueEvent[]): ItemState {
  const sorted = [...events].sort(byTimeThenId);
  // The winning claim of each generation: the earliest (only several across machines).
  const claims = new Map<number, QueueEvent>();
  for (const event of sorted) {
    if (event.kind === "claim" && !claims.has(event.generation)) {
      claims.set(event.generation, event);
    }
  }
  const releasedGenerations = new Set<number>();
  const releases: ItemState["releases"] = [];
  for (const event of sorted) {
    if (event.kind !== "release") continue;
    releasedGenerations.add(event.generation);
    releases.push({
      at: event.at,
      agent: event.agent,
      generation: event.generation,
      stale: event.stale === true,
      reason: event.reason ?? null,
    });
  }
  const lastGeneration = claims.size === 0 ? -1 : Math.max(...claims.keys());
  const lastClaim = claims.get(lastGeneration);
  let claim: ClaimInfo | null = null;
  if (lastClaim) {
    let heartbeatAt = lastClaim.at;
    for (const event of sorted) {
      if (
        event.kind === "heartbeat" && event.generation === lastGeneration &&
        event.at > heartbeatAt
      ) heartbeatAt = event.at;
    }
    claim = {
      agent: lastClaim.agent ?? "unknown",
      generation: lastGeneration,
      claimedAt: lastClaim.at,
      heartbeatAt,
    };
  }
  const state: ItemState = {
    item,
    status: "pending",
    nextGeneration: lastGeneration + 1,
    claim: null,
    card: null,
    cards: [],
    adopted: false,
    closedAt: null,
    dropReason: null,
    releases,
  };
  // A completion wins over everything: the work was done and its card exists.
  const complete = sorted.find((event) => event.kind === "complete");
  if (complete) {
    const done = complete.adopted ? complete : claims.get(complete.generation) ?? lastClaim;
    return {
      ...state,
      status: "completed",
      claim: done
        ? {
          agent: done.agent ?? "unknown",
          generation: done.generation,
          claimedAt: done.at,
          heartbeatAt: done.at,
        }
        : null,
      card: complete.card ?? complete.cards?.[0] ?? null,
      cards: complete.cards ?? (complete.card ? [complete.card] : []),
      adopted: complete.adopted === true,
      closedAt: complete.at,
    };
  }
  const drop = sorted.find((event) => event.kind === "drop");
  if (drop) {
    return { ...state, status: "dropped", closedAt: drop.at, dropReason: drop.reason ?? null };
  }
  if (claim && !releasedGenerations.has(lastGeneration)) {
    return { ...state, status: "in_progress", claim };
  }
  return state;
}

/** The whole queue, derived: every readable item with its state, and what was skipped. */
export interface QueueState {
  /** Items in id (creation) order. */
  items: ItemState[];
  /** Files that could not be used (reported, skipped, left untouched on disk). */
  problems: Problem[];
}

function foldSnapshot(snapshot: Snapshot): QueueState {
  const items = snapshot.items.map((item) => foldItem(item, snapshot.events.get(item.id) ?? []));
  return { items, problems: snapshot.problems };
}

/** Read and fold the queue of `kb`. Never writes. */
export async function readQueue(kb: string): Promise<QueueState> {
  return foldSnapshot(await readSnapshot(kb));
}

function clock(options: QueueOptions): Date {
  return options.now ? options.now() : new Date();
}

/** True when the claim of `state` has had no heartbeat for longer than the stale timeout. */
export function isStale(state: ItemState, now: Date, staleMinutes: number): boolean {
  if (state.status !== "in_progress" || !state.claim) return false;
  return now.getTime() - Date.parse(state.claim.heartbeatAt) > staleMinutes * 60_000;
}

/** Fields of a new queue item. */
export interface NewItem {
  /** What to try and what is expected, in one sentence. */
  hypothesis: string;
  /** A taxonomy category (see `CATEGORIES`). */
  category: string;
  /** 1 (most urgent) to 5. */
  priority: number;
  /** The config change to try, e.g. `{ "lr": 0.02 }`. */
  config?: Record<string, unknown> | null;
  /** Cards this idea comes from. */
  priorCards?: string[];
  /** Who added it. */
  createdBy?: string | null;
  /** `add` (a person or agent) or `plan` (the planner). */
  source?: "add" | "plan";
  /** Why (the planner explains its suggestions here). */
  rationale?: string | null;
  /** What the change applies to (recipe hash and/or card). */
  base?: ItemBase | null;
  /** Fixed seeds to run (replicates). */
  seeds?: number[] | null;
}

/** Write a new pending item (no dedup here; see `addItem` in add.ts). Returns the record. */
export async function createItem(options: QueueOptions, fields: NewItem): Promise<QueueItem> {
  const item: QueueItem = {
    id: newId("item"),
    hypothesis: fields.hypothesis,
    category: fields.category,
    priority: fields.priority,
    config: fields.config ?? null,
    priorCards: fields.priorCards ?? [],
    createdAt: clock(options).toISOString(),
    createdBy: fields.createdBy ?? null,
    source: fields.source ?? "add",
    rationale: fields.rationale ?? null,
    ...(fields.base && (fields.base.card || fields.base.recipe_hash) ? { base: fields.base } : {}),
    ...(fields.seeds && fields.seeds.length > 0 ? { seeds: fields.seeds } : {}),
  };
  await writeItem(options.kb, item);
  return item;
}

async function locked<T>(options: QueueOptions, body: () => Promise<T>): Promise<T> {
  const paths = await ensureQueueDirs(options.kb);
  return await withLock(paths.lock, body);
}

/** Release every stale claim in `state` (caller holds the lock). Returns the released items. */
async function releaseStaleIn(
  options: QueueOptions,
  state: QueueState,
  now: Date,
): Promise<ItemState[]> {
  const minutes = options.staleMinutes ?? DEFAULT_STALE_MINUTES;
  const released: ItemState[] = [];
  for (const item of state.items) {
    if (!isStale(item, now, minutes) || !item.claim) continue;
    await writeEvent(options.kb, {
      kind: "release",
      item: item.item.id,
      generation: item.claim.generation,
      at: now.toISOString(),
      agent: item.claim.agent,
      stale: true,
      reason: `no heartbeat since ${item.claim.heartbeatAt} (timeout ${minutes} min)`,
    }, options.host ?? hostTag());
    released.push(item);
  }
  return released;
}

/** Release every claim with no heartbeat for longer than the stale timeout; recorded, not silent. */
export async function releaseStale(options: QueueOptions): Promise<ItemState[]> {
  return await locked(options, async () => {
    const state = await readQueue(options.kb);
    return await releaseStaleIn(options, state, clock(options));
  });
}

/** Order in which pending items are handed out: priority, then age. */
export function pickOrder(a: ItemState, b: ItemState): number {
  if (a.item.priority !== b.item.priority) return a.item.priority - b.item.priority;
  return a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0;
}

/** What `claimNext` returns. */
export interface ClaimResult {
  /** The claimed item with its new state, or null when nothing is pending. */
  claimed: ItemState | null;
  /** Stale claims released on the way (each recorded as a release event). */
  released: ItemState[];
  /** Unreadable records skipped while reading the queue. */
  problems: Problem[];
}

/** How a claim treats the agent's other claims. */
export interface ClaimOptions {
  /** Let the agent hold this claim beside others it already holds (default: one at a time). */
  allowMultiple?: boolean;
}

/** Refuse a second active claim of `agent` (the claims released as stale do not count). */
function requireNoOtherClaim(
  state: QueueState,
  agent: string,
  releasedIds: Set<string>,
  claim: ClaimOptions,
): void {
  if (claim.allowMultiple) return;
  const held = state.items.find((item) =>
    item.status === "in_progress" && item.claim?.agent === agent && !releasedIds.has(item.item.id)
  );
  if (held) {
    throw new UsageError(
      "agent",
      `${agent} already holds ${held.item.id} (claimed ${held.claim!.claimedAt}): complete or ` +
        `release it first, or pass --allow-multiple`,
    );
  }
}

/**
 * Atomically take the best pending item for `agent` (stale claims are released first), or the
 * pending item `claim.item` when given. Holds the queue lock for the pick; the claim record is
 * created exclusively, so no two claimers on one machine ever get the same item. An agent holds
 * one claim at a time unless `claim.allowMultiple`.
 */
export async function claimNext(
  options: QueueOptions,
  agent: string,
  claim: ClaimOptions & { item?: string } = {},
): Promise<ClaimResult> {
  if (claim.item !== undefined) await findItem(options, claim.item);
  return await locked(options, async () => {
    const snapshot = await readSnapshot(options.kb);
    const state = foldSnapshot(snapshot);
    const now = clock(options);
    const released = await releaseStaleIn(options, state, now);
    const releasedIds = new Set(released.map((item) => item.item.id));
    requireNoOtherClaim(state, agent, releasedIds, claim);
    if (claim.item !== undefined) {
      const wanted = state.items.find((item) => item.item.id === claim.item)!;
      if (wanted.status !== "pending" && !releasedIds.has(wanted.item.id)) {
        const who = wanted.claim ? ` by ${wanted.claim.agent}` : "";
        throw new UsageError(
          "id",
          `cannot claim ${wanted.item.id}: it is ${wanted.status.replace("_", " ")}` +
            (wanted.status === "in_progress" ? who : ""),
        );
      }
    }
    const candidates = state.items
      .filter((item) => claim.item === undefined || item.item.id === claim.item)
      .filter((item) => item.status === "pending" || releasedIds.has(item.item.id))
      .map((item) =>
        releasedIds.has(item.item.id)
          ? { ...item, status: "pending" as const, nextGeneration: item.nextGeneration }
          : item
      )
      .sort(pickOrder);
    const host = options.host ?? hostTag();
    for (const candidate of candidates) {
      const generation = candidate.nextGeneration;
      const event = await writeEvent(options.kb, {
        kind: "claim",
        item: candidate.item.id,
        generation,
        at: now.toISOString(),
        agent,
      }, host);
      if (!event) continue; // this generation's claim file exists (e.g. unreadable): skip it
      const claim = { agent, generation, claimedAt: event.at, heartbeatAt: event.at };
      return {
        claimed: { ...candidate, status: "in_progress", nextGeneration: generation + 1, claim },
        released,
        problems: state.problems,
      };
    }
    return { claimed: null, released, problems: state.problems };
  });
}

async function findItem(options: QueueOptions, id: string): Promise<ItemState> {
  const state = await readQueue(options.kb);
  const found = state.items.find((item) => item.item.id === id);
  if (!found) {
    const corrupt = state.problems.find((problem) => problem.path.includes(id));
    if (corrupt) throw new UsageError("id", `${id} is unreadable: ${corrupt.reason}`);
    throw new UsageError("id", `no queue item ${id}`);
  }
  return found;
}

/**
 * The active claim of `state`, or a UsageError. With `agent`, the claim must be that agent's:
 * an agent whose stale claim was released (and maybe taken by another) is told so.
 */
function requireInProgress(state: ItemState, action: string, agent?: string): ClaimInfo {
  const lastRelease = state.releases[state.releases.length - 1];
  const released = lastRelease
    ? ` (a claim was released at ${lastRelease.at}${lastRelease.stale ? ", stale" : ""})`
    : "";
  if (state.status !== "in_progress" || !state.claim) {
    const detail = state.status === "pending" ? released : "";
    throw new UsageError("id", `cannot ${action} ${state.item.id}: it is ${state.status}${detail}`);
  }
  if (agent !== undefined && state.claim.agent !== agent) {
    throw new UsageError(
      "agent",
      `cannot ${action} ${state.item.id}: it is claimed by ${state.claim.agent}, not ${agent}` +
        released,
    );
  }
  return state.claim;
}

/**
 * Record that the agent holding `id` is still working on it. With `agent`, refused unless the
 * claim is that agent's.
 */
export async function heartbeat(
  options: QueueOptions,
  id: string,
  agent?: string,
): Promise<ItemState> {
  await findItem(options, id); // an unknown id is refused before the lock file is created
  return await locked(options, async () => {
    const state = await findItem(options, id);
    const claim = requireInProgress(state, "heartbeat", agent);
    const event = await writeEvent(options.kb, {
      kind: "heartbeat",
      item: id,
      generation: claim.generation,
      at: clock(options).toISOString(),
      agent: claim.agent,
    }, options.host ?? hostTag());
    return { ...state, claim: { ...claim, heartbeatAt: event!.at } };
  });
}

/** How `complete` may close an item nobody claimed. */
export interface CompleteOptions {
  /**
   * The cards are a run `agent` chose on its own that matches this pending item (the caller
   * checked the match): the item is completed by them instead of being run again.
   */
  adopt?: boolean;
}

/**
 * Mark the claimed item `id` done, linking the cards with its result (one per seed). The caller
 * checks that the cards exist (the CLI does, through the knowledge layer). With `agent`, the
 * claim must be that agent's. A pending item whose last claim was released as stale can still be
 * completed by that claim's agent; any pending item can be completed with `adopt` by an agent
 * who ran it on its own.
 */
export async function complete(
  options: QueueOptions,
  id: string,
  cards: string | readonly string[],
  agent?: string,
  how: CompleteOptions = {},
): Promise<ItemState> {
  const list = [...new Set(typeof cards === "string" ? [cards] : cards)];
  if (list.length === 0) throw new UsageError("card", "name at least one card");
  await findItem(options, id); // an unknown id is refused before the lock file is created
  return await locked(options, async () => {
    const state = await findItem(options, id);
    // An agent whose claim went stale but who finished anyway still completes it: the result
    // exists, and repeating the run would waste it.
    const last = state.releases[state.releases.length - 1];
    const late = state.status === "pending" && last?.stale && last.agent !== null &&
      (agent === undefined || agent === last.agent);
    const adopted = state.status === "pending" && !late && how.adopt === true;
    if (adopted && agent === undefined) {
      throw new UsageError("agent", `name the agent who ran the cards to adopt them for ${id}`);
    }
    const claim = adopted
      ? { agent: agent!, generation: state.nextGeneration }
      : late
      ? { agent: last.agent!, generation: last.generation }
      : requireInProgress(state, "complete", agent);
    const event = await writeEvent(options.kb, {
      kind: "complete",
      item: id,
      generation: claim.generation,
      at: clock(options).toISOString(),
      agent: claim.agent,
      card: list[0],
      cards: list,
      ...(adopted ? { adopted: true } : {}),
    }, options.host ?? hostTag());
    return {
      ...state,
      status: "completed",
      card: list[0],
      cards: list,
      adopted,
      closedAt: event!.at,
    };
  });
}

/** Give the claimed item `id` back to the queue (recorded as a release; `agent`: must hold it). */
export async function release(
  options: QueueOptions,
  id: string,
  reason?: string,
  agent?: string,
): Promise<ItemState> {
  await findItem(options, id); // an unknown id is refused before the lock file is created
  return await locked(options, async () => {
    const state = await findItem(options, id);
    const claim = requireInProgress(state, "release", agent);
    const at = clock(options).toISOString();
    await writeEvent(options.kb, {
      kind: "release",
      item: id,
      generation: claim.generation,
      at,
      agent: claim.agent,
      stale: false,
      ...(reason ? { reason } : {}),
    }, options.host ?? hostTag());
    return {
      ...state,
      status: "pending",
      claim: null,
      releases: [
        ...state.releases,
        {
          at,
          agent: claim.agent,
          generation: claim.generation,
          stale: false,
          reason: reason ?? null,
        },
      ],
    };
  });
}

/** Remove `id` from the work list for good, with a reason (a pending or in-progress item). */
export async function drop(options: QueueOptions, id: string, reason: string): Promise<ItemState> {
  await findItem(options, id); // an unknown id is refused before the lock file is created
  return await locked(options, async () => {
    const state = await findItem(options, id);
    if (state.status === "completed" || state.status === "dropped") {
      throw new UsageError("id", `cannot drop ${id}: it is already ${state.status}`);
    }
    const at = clock(options).toISOString();
    await writeEvent(options.kb, {
      kind: "drop",
      item: id,
      generation: state.claim?.generation ?? Math.max(0, state.nextGeneration - 1),
      at,
      agent: state.claim?.agent ?? null,
      reason,
    }, options.host ?? hostTag());
    return { ...state, status: "dropped", closedAt: at, dropReason: reason };
  });
}

/** Counts by status, for `status`. */
export interface QueueCounts {
  /** Every readable item. */
  total: number;
  /** Waiting for an agent. */
  pending: number;
  /** Claimed and being worked on. */
  in_progress: number;
  /** Done, with a result card. */
  completed: number;
  /** Taken off the work list. */
  dropped: number;
  /** In-progress claims past the stale timeout (released by the next claim). */
  stale: number;
}

/** Count the items of `state` by status. */
export function countQueue(state: QueueState, now: Date, staleMinutes: number): QueueCounts {
  const counts: QueueCounts = {
    total: state.items.length,
    pending: 0,
    in_progress: 0,
    completed: 0,
    dropped: 0,
    stale: 0,
  };
  for (const item of state.items) {
    counts[item.status]++;
    if (isStale(item, now, staleMinutes)) counts.stale++;
  }
  return counts;
}
