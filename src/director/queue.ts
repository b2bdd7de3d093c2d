/**
 * The experiment queue: add items, claim the best pending one, heartbeat, complete, release,
 * drop, and release stale claims. State is never stored, only derived by folding the immutable
 * records of store.ts, so readers always see a whole state and nothing is rewritten.
 *
 * Claims are exclusive under any concurrency on one machine: the pick (fold, choose, write) holds
 * the queue lock and never hands out an (item, generation) that has a claim file. Across
 * machines a claim counts once pushed: of two claims of one generation, the one that came first
 * in the linear git history wins (git push is the compare-and-swap; `sync` records the order),
 * and a claim not yet pushed is provisional, behind every pushed one. Heartbeats, releases and
 * completions name the claim they belong to, so the loser's records never move the item: its
 * card stays in the base, its completion is not accepted, and it is told (see `lostClaims`).
 */
import { withLock } from "../util/lock.ts";
import { newId } from "../util/ids.ts";
import { UsageError } from "../util/errors.ts";
import {
  damagedClaimGenerations,
  ensureQueueDirs,
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
}

/** The active claim of an in-progress item. */
export interface ClaimInfo {
  /** The claim's event id (`claim_<ULID>`); later records of the claim name it. */
  id: string;
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
    /** The claim it released (null for old records that name none). */
    claim: string | null;
  }[];
  /** Claims that lost their generation to an earlier one (two machines claimed it). */
  lostClaims: LostClaim[];
}

/** A claim that lost its generation to one pushed earlier, and what its agent did meanwhile. */
export interface LostClaim {
  /** The losing claim's event id. */
  id: string;
  /** Its agent. */
  agent: string;
  /** The generation both claimed. */
  generation: number;
  /** When it was claimed. */
  claimedAt: string;
  /** The claim that won, and its agent. */
  winner: { id: string; agent: string };
  /** Cards the loser completed the item with (kept in the base, not accepted for the item). */
  cards: string[];
  /** True once a `lost` record acknowledges it (its agent was told). */
  told: boolean;
}

function byTimeThenId(a: QueueEvent, b: QueueEvent): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Where a claim stands among claims of its generation: git position, then time and id. */
function claimOrder(rank: (event: QueueEvent) => number) {
  return (a: QueueEvent, b: QueueEvent): number => {
    const ra = rank(a), rb = rank(b);
    if (ra !== rb) return ra < rb ? -1 : 1;
    return byTimeThenId(a, b);
  };
}

/** True when `event` (heartbeat, release, complete) belongs to the claim `owner`. */
function belongsTo(event: QueueEvent, owner: QueueEvent | undefined): boolean {
  if (event.claim !== undefined) return owner !== undefined && event.claim === owner.id;
  // Old records name no claim: they belong to the claim of their agent (or to none at all).
  return owner === undefined || event.agent === null || event.agent === owner.agent;
}

/**
 * Derive the state of `item` from its events. Pure: the same records give the same state.
 * `rank` gives a claim's position in the git history (Infinity when not pushed yet).
 */
export function foldItem(
  item: QueueItem,
  events: readonly QueueEvent[],
  rank: (event: QueueEvent) => number = () => Infinity,
): ItemState {
  const sorted = [...events].sort(byTimeThenId);
  // The winning claim of each generation: the first pushed, else the earliest.
  const byGeneration = new Map<number, QueueEvent[]>();
  for (const event of sorted) {
    if (event.kind !== "claim") continue;
    const list = byGeneration.get(event.generation);
    if (list) list.push(event);
    else byGeneration.set(event.generation, [event]);
  }
  const claims = new Map<number, QueueEvent>();
  const lostClaims: LostClaim[] = [];
  const order = claimOrder(rank);
  for (const [generation, list] of byGeneration) {
    list.sort(order);
    const winner = list[0];
    claims.set(generation, winner);
    for (const loser of list.slice(1)) {
      const mine = (kind: string) =>
        sorted.filter((e) =>
          e.kind === kind && e.generation === generation && e.claim === loser.id
        );
      lostClaims.push({
        id: loser.id,
        agent: loser.agent ?? "unknown",
        generation,
        claimedAt: loser.at,
        winner: { id: winner.id, agent: winner.agent ?? "unknown" },
        cards: mine("complete").flatMap((e) => e.cards ?? (e.card ? [e.card] : [])),
        told: mine("lost").length > 0,
      });
    }
  }
  const owns = (event: QueueEvent) => belongsTo(event, claims.get(event.generation));
  const releasedGenerations = new Set<number>();
  const releases: ItemState["releases"] = [];
  for (const event of sorted) {
    if (event.kind !== "release" || !owns(event)) continue;
    releasedGenerations.add(event.generation);
    releases.push({
      at: event.at,
      agent: event.agent,
      generation: event.generation,
      stale: event.stale === true,
      reason: event.reason ?? null,
      claim: claims.get(event.generation)?.id ?? null,
    });
  }
  const lastGeneration = claims.size === 0 ? -1 : Math.max(...claims.keys());
  const lastClaim = claims.get(lastGeneration);
  let claim: ClaimInfo | null = null;
  if (lastClaim) {
    let heartbeatAt = lastClaim.at;
    for (const event of sorted) {
      if (
        event.kind === "heartbeat" && event.generation === lastGeneration && owns(event) &&
        event.at > heartbeatAt
      ) heartbeatAt = event.at;
    }
    claim = {
      id: lastClaim.id,
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
    lostClaims,
  };
  // A completion by the winning claim wins over everything: the work was done, its card exists.
  const complete = sorted.find((event) => event.kind === "complete" && owns(event));
  if (complete) {
    const done = complete.adopted ? complete : claims.get(complete.generation) ?? lastClaim;
    return {
      ...state,
      status: "completed",
      claim: done
        ? {
          id: done.id,
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
  const rank = (event: QueueEvent) => snapshot.ranks.get(event) ?? Infinity;
  const items = snapshot.items.map((item) =>
    foldItem(item, snapshot.events.get(item.id) ?? [], rank)
  );
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
  return await withLock(paths.lock, body, { base: options.kb });
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
      claim: item.claim.id,
      stale: true,
      reason: `no heartbeat since ${item.claim.heartbeatAt} (timeout ${minutes} min)`,
    });
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
 * created exclusively, so no two claimers on one base ever get the same item; across machines
 * the claim is provisional until pushed (see `sync`). An agent holds one claim at a time unless
 * `pick.allowMultiple`.
 */
export async function claimNext(
  options: QueueOptions,
  agent: string,
  pick: ClaimOptions & { item?: string } = {},
): Promise<ClaimResult> {
  if (pick.item !== undefined) await findItem(options, pick.item);
  return await locked(options, async () => {
    const snapshot = await readSnapshot(options.kb);
    const state = foldSnapshot(snapshot);
    const now = clock(options);
    const released = await releaseStaleIn(options, state, now);
    const releasedIds = new Set(released.map((item) => item.item.id));
    requireNoOtherClaim(state, agent, releasedIds, pick);
    if (pick.item !== undefined) {
      const wanted = state.items.find((item) => item.item.id === pick.item)!;
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
      .filter((item) => pick.item === undefined || item.item.id === pick.item)
      .filter((item) => item.status === "pending" || releasedIds.has(item.item.id))
      .map((item) =>
        releasedIds.has(item.item.id)
          ? { ...item, status: "pending" as const, nextGeneration: item.nextGeneration }
          : item
      )
      .sort(pickOrder);
    for (const candidate of candidates) {
      const claimed = await claimPastDamaged(options, candidate, snapshot.problems, agent, now);
      if (!claimed) continue;
      const { event, generation } = claimed;
      const claim = { id: event.id, agent, generation, claimedAt: event.at, heartbeatAt: event.at };
      return {
        claimed: { ...candidate, status: "in_progress", nextGeneration: generation + 1, claim },
        released,
        problems: state.problems,
      };
    }
    return { claimed: null, released, problems: state.problems };
  });
}

/**
 * Write a claim of `candidate` for `agent` at its next generation, going past generations whose
 * claim file exists but is unreadable (a corrupt record must never leave an item stuck: it would
 * be listed pending while every claim of it failed). Null when the generation is really taken.
 */
async function claimPastDamaged(
  options: QueueOptions,
  candidate: ItemState,
  problems: readonly Problem[],
  agent: string,
  now: Date,
): Promise<{ event: QueueEvent; generation: number } | null> {
  // Every generation with a claim file (readable or not) is taken: a damaged one is skipped.
  const damaged = new Set(damagedClaimGenerations(problems, candidate.item.id));
  let generation = candidate.nextGeneration;
  while (damaged.has(generation)) generation++;
  const event = await writeEvent(options.kb, {
    kind: "claim",
    item: candidate.item.id,
    generation,
    at: now.toISOString(),
    agent,
  });
  return event ? { event, generation } : null;
}

/**
 * The claim `agent` holds on a pending `state` whose own claim record became unreadable: the
 * item is claimed again for that agent past the damaged generation, so the holder can still
 * heartbeat and complete. Null when no claim of the item's next generation is damaged.
 */
async function reclaimDamaged(
  options: QueueOptions,
  state: ItemState,
  problems: readonly Problem[],
  agent: string | undefined,
): Promise<ClaimInfo | null> {
  if (state.status !== "pending" || agent === undefined) return null;
  const damaged = damagedClaimGenerations(problems, state.item.id);
  if (!damaged.some((generation) => generation >= state.nextGeneration)) return null;
  const claimed = await claimPastDamaged(options, state, problems, agent, clock(options));
  if (!claimed) return null;
  return {
    id: claimed.event.id,
    agent,
    generation: claimed.generation,
    claimedAt: claimed.event.at,
    heartbeatAt: claimed.event.at,
  };
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
  const lost = agent === undefined
    ? undefined
    : state.lostClaims.findLast((claim) => claim.agent === agent);
  if (lost && state.claim?.agent !== agent) {
    throw new UsageError(
      "agent",
      `cannot ${action} ${state.item.id}: ${agent}'s claim ${lost.id} lost generation ` +
        `${lost.generation} to ${lost.winner.agent} (${lost.winner.id}, pushed first); ` +
        `take another item`,
    );
  }
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
    const claim = await reclaimDamaged(options, state, await queueProblems(options), agent) ??
      requireInProgress(state, "heartbeat", agent);
    const event = await writeEvent(options.kb, {
      kind: "heartbeat",
      item: id,
      generation: claim.generation,
      at: clock(options).toISOString(),
      agent: claim.agent,
      claim: claim.id,
    });
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
      ? { agent: agent!, generation: state.nextGeneration, id: null }
      : late
      ? { agent: last.agent!, generation: last.generation, id: last.claim }
      : await reclaimDamaged(options, state, await queueProblems(options), agent) ??
        requireInProgress(state, "complete", agent);
    const event = await writeEvent(options.kb, {
      kind: "complete",
      item: id,
      generation: claim.generation,
      at: clock(options).toISOString(),
      agent: claim.agent,
      card: list[0],
      cards: list,
      ...(adopted ? { adopted: true } : {}),
      ...(claim.id === null ? {} : { claim: claim.id }),
    });
    return {
      ...state,
      status: "completed",
      // An adopted item was never claimed: the record is its agent's claim and completion.
      claim: adopted
        ? {
          id: event!.id,
          agent: claim.agent,
          generation: claim.generation,
          claimedAt: event!.at,
          heartbeatAt: event!.at,
        }
        : state.claim,
      card: list[0],
      cards: list,
      adopted,
      closedAt: event!.at,
    };
  });
}

/**
 * Acknowledge that the claim `lost` of item `id` lost its generation (its agent was told): an
 * append-only `lost` record naming the claim and the winner. Nothing is removed or rewritten.
 */
export async function recordLost(
  options: QueueOptions,
  id: string,
  lost: LostClaim,
): Promise<QueueEvent> {
  return await locked(options, async () => {
    const event = await writeEvent(options.kb, {
      kind: "lost",
      item: id,
      generation: lost.generation,
      at: clock(options).toISOString(),
      agent: lost.agent,
      claim: lost.id,
      reason: `claim ${lost.id} lost to ${lost.winner.agent} (${lost.winner.id}, pushed first)`,
    });
    return event!;
  });
}

/** Unreadable queue records as of now. */
async function queueProblems(options: QueueOptions): Promise<Problem[]> {
  return (await readSnapshot(options.kb)).problems;
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
      claim: claim.id,
      stale: false,
      ...(reason ? { reason } : {}),
    });
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
          claim: claim.id,
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
    });
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
