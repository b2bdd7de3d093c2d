/**
 * `autoresearch sync`: share the knowledge base through git (commit new records, pull with
 * rebase, push, retry a rejected push), then resolve what the pull means (claim winners, merged
 * duplicate ideas, disputed judgements) and print what came in and what went out. Also the
 * claim-push-confirm step behind `director claim --sync`.
 *
 * Exit codes: 0 in sync (or no remote configured: committed locally, said so); 1 git failed
 * (nothing lost, a rebase is aborted); 2 bad input (not a git repository: the message says how);
 * 3 offline: the remote could not be reached, everything is committed locally, claims are
 * provisional; sync again later.
 */
import type { Command } from "@commander-js/extra-typings";
import { relative, sep } from "node:path";
import { action, jsonOption, kbOption, parseNumber, printJson } from "./common.ts";
import {
  countByKind,
  describeCounts,
  EXIT_OFFLINE,
  initBase,
  type RecordChange,
  syncBase,
  type SyncReport,
} from "../knowledge/sync.ts";
import { openKnowledgeBase, type Skipped } from "../knowledge/mod.ts";
import { type Resolution, resolveAfterSync, withQueueLock } from "../director/sync.ts";
import {
  claimNext,
  type ClaimOptions,
  type ClaimResult,
  type QueueOptions,
  readQueue,
} from "../director/queue.ts";
import { hostTag } from "../director/store.ts";
import { UsageError } from "../util/errors.ts";
import { oneLine, truncate } from "../util/text.ts";

/** Default agent name: `$AUTORESEARCH_AGENT`, else `$USER`, else `agent`. */
function defaultAgent(): string {
  return Deno.env.get("AUTORESEARCH_AGENT") || Deno.env.get("USER") || "agent";
}

/** One sync and its resolution, with a follow-up push of the records the resolution wrote. */
export interface SyncOutcome {
  /** The git side (the follow-up push merged in). */
  report: SyncReport;
  /** The queue and judgement side. */
  resolution: Resolution;
  /** Incoming record files the knowledge base cannot use (reported, skipped). */
  skipped: Skipped[];
}

function mergeReports(first: SyncReport, second: SyncReport): SyncReport {
  const seen = new Set(first.incoming.map((c) => c.path));
  return {
    ...second,
    committed: [...first.committed, ...second.committed],
    incoming: [...first.incoming, ...second.incoming.filter((c) => !seen.has(c.path))],
    outgoing: [...first.outgoing, ...second.outgoing.filter((c) => !first.outgoing.includes(c))],
    rewritten: [...first.rewritten, ...second.rewritten],
    refused: [...first.refused, ...second.refused],
    pushAttempts: Math.max(first.pushAttempts, second.pushAttempts),
  };
}

/**
 * Sync the base at `options.kb` and resolve the result; when the resolution wrote records
 * (lost, drop), sync once more so they go out too.
 */
export async function syncAndResolve(
  options: QueueOptions,
  agent: string,
  attempts?: number,
): Promise<SyncOutcome> {
  const kb = options.kb;
  const base = openKnowledgeBase(kb);
  try {
    const once = () =>
      syncBase({
        kb,
        agent,
        host: hostTag(),
        attempts,
        exclusive: (body) => withQueueLock(kb, body),
      });
    let report = await once();
    const resolution = await resolveAfterSync(options, report);
    if (resolution.written > 0) {
      const second = await once();
      report = mergeReports(report, second);
      if (second.incoming.length > 0) {
        // What arrived with the follow-up is resolved too (its order recorded, losers told).
        const more = await resolveAfterSync(options, second);
        resolution.lost.push(...more.lost);
        resolution.merged.push(...more.merged);
        resolution.disputed.push(...more.disputed);
        resolution.corrupt.push(...more.corrupt);
      }
    }
    // Derived views: the index takes in the new records now, not at the next read.
    const refresh = await base.refreshIndex();
    const incoming = new Set(report.incoming.map((c) => c.path));
    const skipped = refresh.skipped.filter((skip) => incoming.has(relativeTo(kb, skip.path)));
    // What came in counts usable records; the unusable ones are listed as skipped instead.
    const unusable = new Set(
      [...skipped, ...resolution.corrupt].map((skip) => relativeTo(kb, skip.path)),
    );
    report.incoming = report.incoming.filter((change) => !unusable.has(change.path));
    return { report, resolution, skipped };
  } finally {
    base.close();
  }
}

function relativeTo(kb: string, path: string): string {
  return relative(kb, path).split(sep).join("/");
}

function idsByKind(changes: readonly RecordChange[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const change of changes) (out[change.kind] ??= []).push(change.id);
  return out;
}

/** The JSON form of a sync outcome. */
function outcomeJson(outcome: SyncOutcome) {
  const { report, resolution } = outcome;
  const counts = (changes: readonly RecordChange[]) => Object.fromEntries(countByKind(changes));
  return {
    remote: report.remote,
    branch: report.branch,
    offline: report.offline,
    offline_reason: report.offlineReason,
    head: report.head,
    push_attempts: report.pushAttempts,
    in: { counts: counts(report.incoming), ids: idsByKind(report.incoming) },
    out: { counts: counts(report.outgoing), ids: idsByKind(report.outgoing) },
    unpushed: { counts: counts(report.unpushed), ids: idsByKind(report.unpushed) },
    committed: report.committed.length,
    lost_claims: resolution.lost.map((lost) => ({
      item: lost.item,
      claim: lost.claim.id,
      agent: lost.claim.agent,
      generation: lost.claim.generation,
      winner: lost.claim.winner,
      cards: lost.claim.cards,
      local: lost.local,
    })),
    merged_duplicates: resolution.merged,
    disputed: resolution.disputed,
    skipped: [
      ...outcome.skipped,
      ...resolution.corrupt,
      ...report.refused.map((r) => ({ path: r.path, reason: r.reason })),
    ],
    rewritten: report.rewritten,
  };
}

function idList(changes: readonly RecordChange[], kind: string, limit = 8): string {
  const ids = changes.filter((c) => c.kind === kind).map((c) => oneLine(c.id));
  const shown = ids.slice(0, limit).join(", ");
  return ids.length > limit ? `${shown}, ... (${ids.length - limit} more)` : shown;
}

function printChanges(label: string, changes: readonly RecordChange[]): void {
  console.log(`${label} ${changes.length ? describeCounts(changes) : "nothing"}`);
  for (const kind of ["card", "item"]) {
    if (changes.some((c) => c.kind === kind)) {
      console.log(`       ${kind}s: ${idList(changes, kind)}`);
    }
  }
}

/** Print a sync outcome for people and agents (stdout), warnings on stderr. */
export function printOutcome(outcome: SyncOutcome, kb: string): void {
  const { report, resolution } = outcome;
  if (report.remote === null) {
    console.log(
      `sync: no git remote: ${report.committed.length} records committed locally. To share ` +
        `the base: git -C ${kb} remote add origin URL, then autoresearch sync`,
    );
  } else if (report.offline) {
    console.log(
      `sync: offline: ${report.remote} unreachable (${oneLine(report.offlineReason ?? "")}); ` +
        `${report.unpushed.length} records committed locally, not pushed; claims made here are ` +
        `provisional. Keep working and sync again later.`,
    );
  } else {
    console.log(
      `sync: ${report.remote}/${report.branch}: ${report.incoming.length} records in, ` +
        `${report.outgoing.length} out` +
        (report.pushAttempts > 1 ? ` (${report.pushAttempts} push attempts)` : ""),
    );
  }
  if (report.remote !== null && !report.offline) {
    printChanges("  in: ", report.incoming);
    printChanges("  out:", report.outgoing);
  } else if (report.unpushed.length) printChanges("  unpushed:", report.unpushed);
  for (const lost of resolution.lost) {
    const who = lost.local ? "yours" : "elsewhere";
    const cards = lost.claim.cards.length
      ? `; its card ${lost.claim.cards.join(", ")} stays in the base, not as the item's result`
      : "";
    console.log(
      `  claim lost (${who}): ${lost.item} generation ${lost.claim.generation}: ` +
        `${oneLine(lost.claim.agent)}'s claim ${lost.claim.id} lost to ` +
        `${oneLine(lost.claim.winner.agent)} (${lost.claim.winner.id}, pushed first)${cards}` +
        (lost.local ? "; take another item" : ""),
    );
  }
  for (const merged of resolution.merged) {
    console.log(
      `  merged duplicate idea: ${merged.dropped} dropped (duplicate of ${merged.kept}: ` +
        `${merged.why})`,
    );
  }
  for (const disputed of resolution.disputed) {
    const views = disputed.judgements.map((j) => `${j.status} by ${oneLine(j.agent)}`);
    console.log(`  disputed: ${disputed.card} judged ${views.join(" and ")} (both kept)`);
  }
  for (const skip of [...outcome.skipped, ...resolution.corrupt, ...report.refused]) {
    console.error(`warning: skipped incoming ${oneLine(skip.path)}: ${oneLine(skip.reason)}`);
  }
  for (const rewrite of report.rewritten) {
    console.error(
      rewrite.where === "local"
        ? `warning: ${oneLine(rewrite.path)} was ${rewrite.change} here: records are ` +
          `append-only, not shared (restore it: git -C ${kb} checkout -- ${oneLine(rewrite.path)})`
        : `warning: ${oneLine(rewrite.path)} was ${rewrite.change} on the remote ` +
          `(records are append-only; someone rewrote history)`,
    );
  }
}

/** What `claimWithSync` did. */
export interface SyncedClaim {
  /** The claim that stands (pushed, or provisional when offline); null: nothing pending. */
  claimed: ClaimResult["claimed"];
  /** Stale claims released on the way. */
  released: ClaimResult["released"];
  /** True when the claim could not be pushed (offline or no remote): it is provisional. */
  provisional: boolean;
  /** Why it is provisional. */
  reason: string | null;
  /** Claims this agent made and lost on the way (each acknowledged by a lost record). */
  lost: { item: string; winner: string }[];
  /** Every sync on the way. */
  syncs: SyncOutcome[];
}

/**
 * `director claim --sync`: sync (to see the others' claims), claim, sync (push the claim),
 * confirm that it won. A claim that lost to one pushed first is acknowledged and another item
 * is claimed, up to `rounds` times (with `pick.item`, that item only: a loss ends it). Offline,
 * the claim stands locally as provisional.
 */
export async function claimWithSync(
  options: QueueOptions,
  agent: string,
  pick: ClaimOptions & { item?: string } = {},
  rounds = 5,
): Promise<SyncedClaim> {
  const syncs: SyncOutcome[] = [await syncAndResolve(options, agent)];
  const result: SyncedClaim = {
    claimed: null,
    released: [],
    provisional: false,
    reason: null,
    lost: [],
    syncs,
  };
  for (let round = 0; round < rounds; round++) {
    const claim = await claimNext(options, agent, pick);
    result.released.push(...claim.released);
    if (!claim.claimed) return result;
    const outcome = await syncAndResolve(options, agent);
    syncs.push(outcome);
    const { report } = outcome;
    if (report.remote === null || report.offline) {
      return {
        ...result,
        claimed: claim.claimed,
        provisional: true,
        reason: report.remote === null ? "no git remote" : `offline: ${report.offlineReason}`,
      };
    }
    const mine = claim.claimed.claim!.id;
    const now = (await readQueue(options.kb)).items.find((s) =>
      s.item.id === claim.claimed!.item.id
    );
    const lost = now?.lostClaims.find((l) => l.id === mine);
    if (!lost) return { ...result, claimed: now ?? claim.claimed };
    result.lost.push({ item: claim.claimed.item.id, winner: lost.winner.agent });
    if (pick.item !== undefined) break; // that item is someone else's: nothing else was asked for
  }
  return result;
}

/** Add `sync` to `program`. */
export function register(program: Command): void {
  program
    .command("sync")
    .description(
      "share the knowledge base through git: commit new records, pull --rebase, push (retried), " +
        "then resolve claims, duplicate ideas and disputed judgements",
    )
    .option("--agent <name>", "who syncs, for the commit message (env AUTORESEARCH_AGENT)")
    .option("--attempts <n>", "push attempts against a busy remote", "8")
    .option("--init", "make the base a git repository (git init, .gitignore, first commit)")
    .option("--remote <url>", "with --init: the shared repository to push to (origin)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Exit codes: 0 in sync (or no remote: committed locally); 1 git failed (nothing lost);
2 bad input (e.g. the base is not a git repository); 3 offline: the remote could not be
reached, everything is committed locally and claims are provisional: sync again later.`,
    )
    .action(action(async (opts) => {
      const agent = opts.agent ?? defaultAgent();
      const attempts = parseNumber("attempts", opts.attempts);
      if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) {
        throw new UsageError("attempts", "must be an integer from 1 to 100");
      }
      if (opts.remote !== undefined && !opts.init) {
        throw new UsageError("remote", "only with --init (else: git remote add origin URL)");
      }
      if (opts.init) {
        const where = await initBase(opts.kb, opts.remote);
        if (!opts.json) {
          console.log(
            `initialised ${where} as a git repository` +
              (opts.remote ? ` with origin ${opts.remote}` : ""),
          );
        }
      }
      const outcome = await syncAndResolve({ kb: opts.kb }, agent, attempts);
      if (opts.json) printJson(outcomeJson(outcome));
      else printOutcome(outcome, opts.kb);
      if (outcome.report.offline) Deno.exit(EXIT_OFFLINE);
    }));
}

/** Print the result of `director claim --sync` (text); the caller prints the claimed item. */
export function printSyncedClaim(result: SyncedClaim, kb: string): void {
  for (const outcome of result.syncs) {
    if (outcome.report.incoming.length || outcome.resolution.lost.length) {
      printOutcome(outcome, kb);
    }
  }
  for (const lost of result.lost) {
    console.log(`lost ${lost.item} to ${oneLine(lost.winner)} (pushed first)`);
  }
  if (result.claimed && result.provisional) {
    console.log(
      `provisional: ${truncate(oneLine(result.reason ?? ""), 200)}: the claim counts once ` +
        `pushed; sync again when the remote is reachable`,
    );
  }
}

/** The JSON extras of `director claim --sync`. */
export function syncedClaimJson(result: SyncedClaim) {
  return {
    provisional: result.provisional,
    reason: result.reason,
    lost: result.lost,
    syncs: result.syncs.map(outcomeJson),
  };
}
