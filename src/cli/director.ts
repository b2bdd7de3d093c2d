/**
 * CLI commands of the director layer, grouped under `autoresearch director` (alias `queue`):
 * plan, add, status, claim, heartbeat, complete, release, drop. Every command takes `--kb` and
 * prints `--json` for scripts; bad input exits 2 with one line naming the field.
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { action, checkBase, jsonOption, kbOption, parseNumber, printJson } from "./common.ts";
import { UsageError } from "../util/errors.ts";
import { isValidId } from "../util/ids.ts";
import { oneLine, truncate } from "../util/text.ts";
import {
  addItem,
  claimNext,
  completeItem,
  countQueue,
  DEFAULT_STALE_MINUTES,
  dropItem,
  duplicateMessage,
  heartbeatItem,
  type ItemState,
  parseConfig,
  pickOrder,
  type QueueOptions,
  type QueueProblem,
  readQueue,
  releaseItem,
  releaseStale,
  validateAgent,
  validateNewItem,
  validateReason,
} from "../director/mod.ts";
import { loadTriedCards, requireCard, type TriedCards } from "../director/cards.ts";
import type { CardSummary } from "../knowledge/index.ts";
import { recipeValidator, workspaceRecipeConfig } from "./recipe_check.ts";
import {
  adoptionProblem,
  type BaseNews,
  baseNews,
  describeBaseNews,
  itemResult,
  queueRates,
} from "../director/results.ts";
import { readSnapshot } from "../director/store.ts";
import { planExperiments, type Suggestion } from "../director/plan.ts";
import { claimWithSync, printSyncedClaim, syncedClaimJson } from "./sync.ts";

/** The clock: `$AUTORESEARCH_NOW` (ISO time or epoch ms) when set, for tests; else real time. */
function clockFromEnv(): () => Date {
  const raw = Deno.env.get("AUTORESEARCH_NOW");
  if (!raw) return () => new Date();
  const fixed = /^\d+$/.test(raw) ? new Date(Number(raw)) : new Date(raw);
  if (Number.isNaN(fixed.getTime())) {
    throw new UsageError("AUTORESEARCH_NOW", "must be an ISO time or epoch milliseconds");
  }
  return () => fixed;
}

function staleOption() {
  return new Option(
    "--stale-minutes <minutes>",
    `release claims with no heartbeat for this long (env AUTORESEARCH_STALE_MINUTES)`,
  ).default(Deno.env.get("AUTORESEARCH_STALE_MINUTES") ?? String(DEFAULT_STALE_MINUTES));
}

function queueOptions(kb: string, staleRaw?: string): QueueOptions {
  let staleMinutes = DEFAULT_STALE_MINUTES;
  if (staleRaw !== undefined) {
    staleMinutes = parseNumber("stale-minutes", staleRaw);
    if (staleMinutes <= 0) throw new UsageError("stale-minutes", "must be greater than 0");
  }
  return { kb, now: clockFromEnv(), staleMinutes };
}

function itemId(raw: string): string {
  if (!isValidId(raw, "item")) {
    throw new UsageError("id", `must be a queue item id like item_01J..., got ${oneLine(raw)}`);
  }
  return raw;
}

/** Parse `--seeds 1,2,3`. */
function parseSeeds(raw: string): number[] {
  const seeds = raw.split(",").map((part) => part.trim()).filter((part) => part !== "");
  if (seeds.length === 0 || !seeds.every((seed) => /^\d{1,15}$/.test(seed))) {
    throw new UsageError(
      "seeds",
      `must be comma-separated non-negative integers, got ${oneLine(raw)}`,
    );
  }
  return seeds.map(Number);
}

/** The best card of the most recently active comparability class, or null. */
async function currentBest(tried: TriedCards): Promise<CardSummary | null> {
  const synthesis = await tried.base.synthesis();
  for (const stats of synthesis.classes) {
    const best = stats.best ? tried.byId.get(stats.best.id) : undefined;
    if (best) return best;
  }
  return null;
}

function reportProblems(problems: readonly QueueProblem[]): void {
  for (const problem of problems) {
    console.error(`warning: ${oneLine(problem.path)}: ${oneLine(problem.reason)} (skipped)`);
  }
}

/** The JSON shape of an item with its state. */
function itemJson(state: ItemState) {
  return {
    ...state.item,
    status: state.status,
    claim: state.claim,
    card: state.card,
    cards: state.cards,
    adopted: state.adopted,
    closedAt: state.closedAt,
    dropReason: state.dropReason,
    releases: state.releases,
  };
}

function ago(from: string, now: Date): string {
  const minutes = Math.round((now.getTime() - Date.parse(from)) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 120) return `${minutes} min ago`;
  return `${Math.round(minutes / 60)} h ago`;
}

function line(state: ItemState): string {
  const { item } = state;
  return `${item.id} p${item.priority} [${oneLine(item.category)}] ${
    truncate(oneLine(item.hypothesis), 100)
  }`;
}

function printSuggestion(suggestion: Suggestion, index: number): void {
  const enqueued = suggestion.enqueued ? ` -> ${suggestion.enqueued}` : "";
  const config = suggestion.config ? ` config ${oneLine(JSON.stringify(suggestion.config))}` : "";
  console.log(
    `${index + 1}. p${suggestion.priority} [${oneLine(suggestion.category)}] ` +
      `${oneLine(suggestion.hypothesis)}${config}${enqueued}`,
  );
  console.log(`   why: ${oneLine(suggestion.rationale)}`);
  if (suggestion.base?.card) {
    console.log(
      `   base: ${suggestion.base.card}` +
        (suggestion.seeds ? `; seeds ${suggestion.seeds.join(", ")}` : ""),
    );
  } else if (suggestion.seeds) console.log(`   seeds: ${suggestion.seeds.join(", ")}`);
  if (suggestion.priorCards.length > 0) {
    console.log(`   cards: ${suggestion.priorCards.join(", ")}`);
  }
  if (suggestion.skipped) console.log(`   not enqueued: ${oneLine(suggestion.skipped)}`);
}

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  const director = program
    .command("director")
    .alias("queue")
    .description("experiment queue with exclusive claims, and a planner over the knowledge base");

  director
    .command("plan")
    .description("suggest concrete next experiments from the knowledge base (--enqueue adds them)")
    .option("--enqueue", "add the suggestions to the queue (duplicates are skipped)")
    .option(
      "--keep-full <n>",
      "enqueue just enough suggestions to keep N items pending (implies --enqueue)",
    )
    .option("--limit <n>", "at most this many suggestions", "8")
    .option("--agent <name>", "who enqueues (recorded on the items)", "director")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      checkBase(opts.kb, true);
      const limit = parseNumber("limit", opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
        throw new UsageError("limit", "must be an integer from 1 to 100");
      }
      const agent = validateAgent(opts.agent);
      let keepFull: number | undefined;
      if (opts.keepFull !== undefined) {
        keepFull = parseNumber("keep-full", opts.keepFull);
        if (!Number.isInteger(keepFull) || keepFull < 1 || keepFull > 100) {
          throw new UsageError("keep-full", "must be an integer from 1 to 100");
        }
      }
      const result = await planExperiments({
        ...queueOptions(opts.kb),
        limit: keepFull === undefined ? limit : Math.max(limit, keepFull),
        enqueue: opts.enqueue === true,
        keepFull,
        agent,
        validateChange: recipeValidator(),
        recipeConfig: workspaceRecipeConfig(),
      });
      reportProblems(result.problems);
      reportProblems((await readQueue(opts.kb)).problems); // skipped queue records, too
      if (opts.json) return printJson(result);
      if (result.stepsPerRun !== null) {
        console.log(`budget: runs take ~${result.stepsPerRun} optimizer steps`);
      }
      if (result.suggestions.length === 0) {
        console.log(
          keepFull === undefined
            ? "no suggestions: the knowledge base has nothing new to propose"
            : `the queue already holds ${keepFull} or more pending items (or nothing new to add)`,
        );
        return;
      }
      result.suggestions.forEach(printSuggestion);
      if (opts.enqueue) {
        const added = result.suggestions.filter((s) => s.enqueued).length;
        console.log(`enqueued ${added} of ${result.suggestions.length}`);
      }
    }));

  director
    .command("add")
    .description("add an experiment to the queue (refused when it duplicates an item or a card)")
    .requiredOption("--hypothesis <text>", "what to try and what you expect")
    .requiredOption("--category <name>", "taxonomy category (learning_rate, architecture, ...)")
    .option("--priority <n>", "1 (most urgent) to 5", "3")
    .option("--config <json>", "the config change, e.g. '{\"lr\": 0.02}'")
    .option("--prior-cards <ids>", "comma-separated cards this idea comes from")
    .option(
      "--base <card-id>",
      "the card whose config the change applies to (default: the current best card)",
    )
    .option("--seeds <list>", "comma-separated seeds to run, e.g. 1,2,3")
    .option("--agent <name>", "who adds it")
    .option("--force", "add even when it duplicates a queue item or a tried card")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      checkBase(opts.kb, false); // adding the first item creates the queue
      const priority = parseNumber("priority", opts.priority);
      const config = opts.config === undefined ? null : parseConfig(opts.config);
      const priorCards = opts.priorCards === undefined ? [] : opts.priorCards.split(",")
        .map((id) => id.trim()).filter((id) => id !== "");
      const seeds = opts.seeds === undefined ? null : parseSeeds(opts.seeds);
      const fields = {
        hypothesis: opts.hypothesis,
        category: opts.category,
        priority,
        config,
        priorCards,
        seeds,
        base: opts.base === undefined ? null : { card: opts.base },
        createdBy: opts.agent ?? null,
        source: "add" as const,
      };
      const valid = validateNewItem(fields); // bad input fails before anything is opened
      const validateChange = recipeValidator();
      // Unknown keys and wrong types fail before anything is opened; constraints need the base.
      if (valid.config) recipeValidator(undefined, { keysOnly: true })(valid.config);
      const tried = await loadTriedCards(opts.kb);
      let result;
      try {
        reportProblems(tried.problems);
        reportProblems((await readQueue(opts.kb)).problems); // dedup skips them: say so
        for (const id of priorCards) requireCard(tried, id, "prior-cards");
        const baseCard = opts.base === undefined
          ? await currentBest(tried)
          : requireCard(tried, opts.base, "base");
        const baseConfig = baseCard ? tried.configOf(baseCard.id) : null;
        result = await addItem(
          {
            ...queueOptions(opts.kb),
            force: opts.force === true,
            triedCards: tried.comparables,
            validateChange,
            baseConfig,
            configOf: tried.configOf,
          },
          {
            ...fields,
            base: baseCard ? { card: baseCard.id, recipe_hash: baseCard.recipe_hash } : null,
          },
        );
      } finally {
        tried.base.close();
      }
      if (!result.item) throw new UsageError("hypothesis", duplicateMessage(result.duplicate!));
      if (opts.json) return printJson({ item: result.item, duplicate: result.duplicate });
      if (result.duplicate) {
        console.error(`note: forced past ${duplicateMessage(result.duplicate)}`);
      }
      console.log(`added ${result.item.id}`);
    }));

  director
    .command("status")
    .description("the queue: counts, pending items (best first), in progress by whom, done")
    .option("--all", "list every completed and dropped item (default: the last 10 and 5)")
    .addOption(staleOption())
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      const options = queueOptions(checkBase(opts.kb, true), opts.staleMinutes);
      const state = await readQueue(opts.kb);
      reportProblems(state.problems);
      const now = options.now!();
      const counts = countQueue(state, now, options.staleMinutes!);
      const rates = queueRates(state, (await readSnapshot(opts.kb)).events, now);
      const results = new Map<string, ReturnType<typeof itemResult>>();
      if (state.items.some((s) => s.status === "completed")) {
        const tried = await loadTriedCards(opts.kb);
        try {
          for (const s of state.items) results.set(s.item.id, itemResult(tried, s));
        } finally {
          tried.base.close();
        }
      }
      if (opts.json) {
        return printJson({
          counts,
          rates,
          items: state.items.map((s) => ({
            ...itemJson(s),
            result: results.get(s.item.id) ?? null,
          })),
          problems: state.problems,
        });
      }
      console.log(
        `queue: ${counts.total} items: ${counts.pending} pending, ${counts.in_progress} in ` +
          `progress${counts.stale ? ` (${counts.stale} stale)` : ""}, ${counts.completed} ` +
          `completed, ${counts.dropped} dropped`,
      );
      const pending = state.items.filter((s) => s.status === "pending").sort(pickOrder);
      if (pending.length) console.log("pending (best first):");
      for (const s of pending) console.log(`  ${line(s)}`);
      const running = state.items.filter((s) => s.status === "in_progress");
      if (running.length) console.log("in progress:");
      for (const s of running) {
        const stale = now.getTime() - Date.parse(s.claim!.heartbeatAt) >
            options.staleMinutes! * 60_000
          ? " STALE"
          : "";
        console.log(
          `  ${line(s)} | ${oneLine(s.claim!.agent)}, claimed ${ago(s.claim!.claimedAt, now)}, ` +
            `heartbeat ${ago(s.claim!.heartbeatAt, now)}${stale}`,
        );
      }
      const byClose = (a: ItemState, b: ItemState) => (a.closedAt! < b.closedAt! ? -1 : 1);
      // Completed and dropped are listed apart, so drops never push results out of view.
      const completed = state.items.filter((s) => s.status === "completed").sort(byClose);
      const shown = opts.all ? completed : completed.slice(-10);
      if (shown.length) console.log(opts.all ? "completed:" : "completed (latest 10):");
      for (const s of shown) {
        const result = results.get(s.item.id);
        const value = result?.valBpb == null
          ? "no val_bpb"
          : `val_bpb ${result.valBpb.toFixed(4)}${result.n > 1 ? ` (mean of ${result.n})` : ""}`;
        console.log(
          `  ${line(s)} | ${value}, ${result?.verdict ?? "?"} -> ${s.cards.join(", ")}` +
            `${s.adopted ? " (adopted)" : ""}`,
        );
      }
      const dropped = state.items.filter((s) => s.status === "dropped").sort(byClose);
      const shownDropped = opts.all ? dropped : dropped.slice(-5);
      if (shownDropped.length) console.log(opts.all ? "dropped:" : "dropped (latest 5):");
      for (const s of shownDropped) {
        console.log(`  ${line(s)} | ${truncate(oneLine(s.dropReason ?? ""), 60)}`);
      }
      const rate = rates.itemsPerHour === null
        ? "no item completed yet"
        : `${
          rates.itemsPerHour.toFixed(1)
        } items/hour (${rates.completedLastHour} in the last hour)`;
      const dry = rates.emptySince
        ? `queue EMPTY since ${rates.emptySince} (${ago(rates.emptySince, now)})`
        : `${counts.pending} pending`;
      console.log(
        `throughput: ${rate}; ${dry}; empty ${rates.emptyMinutesLastHour} min of the last hour`,
      );
      if (rates.itemsPerHour !== null && rates.itemsPerHour > 0) {
        const perCheck = Math.ceil(rates.itemsPerHour / 2);
        console.log(
          `  keep at least ${perCheck} pending for a check every 30 min: ` +
            `autoresearch director plan --keep-full ${perCheck}`,
        );
      }
    }));

  director
    .command("claim")
    .description(
      "atomically take the best pending item, or pending item ID (stale claims are released first)",
    )
    .argument("[id]", "a specific pending queue item")
    .requiredOption("--agent <name>", "who claims it")
    .option("--allow-multiple", "hold this claim beside the agent's other claims")
    .option("--sync", "sync, claim, push the claim and confirm it won (else take another)")
    .addOption(staleOption())
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (id, opts) => {
      checkBase(opts.kb, true);
      const agent = validateAgent(opts.agent);
      const options = queueOptions(opts.kb, opts.staleMinutes);
      const pick = {
        item: id === undefined ? undefined : itemId(id),
        allowMultiple: opts.allowMultiple === true,
      };
      const synced = opts.sync ? await claimWithSync(options, agent, pick) : null;
      const result = synced
        ? { claimed: synced.claimed, released: synced.released, problems: [] }
        : await claimNext(options, agent, pick);
      if (synced && !opts.json) printSyncedClaim(synced, opts.kb);
      reportProblems(result.problems);
      for (const released of result.released) {
        console.error(
          `note: released stale claim ${released.item.id} of ${oneLine(released.claim!.agent)}`,
        );
      }
      let news: BaseNews | null = null;
      if (result.claimed?.item.base?.card) {
        const tried = await loadTriedCards(opts.kb);
        try {
          news = await baseNews(tried, result.claimed.item);
        } finally {
          tried.base.close();
        }
      }
      if (opts.json) {
        return printJson({
          claimed: result.claimed ? itemJson(result.claimed) : null,
          released: result.released.map((s) => s.item.id),
          baseMoved: news,
          ...(synced ? syncedClaimJson(synced) : {}),
        });
      }
      if (!result.claimed) {
        console.log("nothing pending");
        return;
      }
      const { item } = result.claimed;
      console.log(`claimed ${item.id} for ${agent}`);
      console.log(`hypothesis: ${oneLine(item.hypothesis)}`);
      console.log(`category: ${oneLine(item.category)}  priority: ${item.priority}`);
      if (item.config) console.log(`config: ${oneLine(JSON.stringify(item.config))}`);
      if (item.base) {
        console.log(
          `base: ${
            oneLine(
              [item.base.card, item.base.recipe_hash && `recipe ${item.base.recipe_hash}`]
                .filter(Boolean).join(", "),
            )
          }`,
        );
      }
      if (item.seeds) {
        console.log(`seeds: ${item.seeds.join(", ")} (run each; complete with every card)`);
      }
      if (news) console.log(oneLine(describeBaseNews(news)));
      if (item.priorCards.length) {
        console.log(`prior cards: ${oneLine(item.priorCards.join(", "))}`);
      }
      if (item.rationale) console.log(`why: ${oneLine(item.rationale)}`);
      console.log(
        `heartbeat at least every ${queueOptions(opts.kb, opts.staleMinutes).staleMinutes} min: ` +
          `autoresearch director heartbeat ${item.id} --agent ${agent}`,
      );
    }));

  director
    .command("heartbeat")
    .description("record that the claim on ID is still being worked on")
    .argument("<id>", "queue item id")
    .option("--agent <name>", "refuse unless the claim is this agent's (recommended)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (id, opts) => {
      checkBase(opts.kb, true);
      const agent = opts.agent === undefined ? undefined : validateAgent(opts.agent);
      const state = await heartbeatItem(queueOptions(opts.kb), itemId(id), agent);
      if (opts.json) return printJson(itemJson(state));
      console.log(`heartbeat ${state.item.id} (${oneLine(state.claim!.agent)})`);
    }));

  director
    .command("complete")
    .description(
      "mark item ID done with its cards (one per seed); a pending item is adopted when the " +
        "cards ran its change",
    )
    .argument("<id>", "queue item id")
    .requiredOption(
      "--card <card-id>",
      "a card that records the result (repeat for each seed)",
      (value: string, list: string[] | undefined) => [...(list ?? []), value],
    )
    .option("--agent <name>", "refuse unless the claim is this agent's (required to adopt)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (id, opts) => {
      checkBase(opts.kb, true);
      const valid = itemId(id);
      const agent = opts.agent === undefined ? undefined : validateAgent(opts.agent);
      const cardIds = [...new Set(opts.card.flatMap((c) => c.split(",")).map((c) => c.trim()))]
        .filter((c) => c !== "");
      if (cardIds.length === 0) throw new UsageError("card", "name at least one card");
      const options = queueOptions(opts.kb);
      const state0 = (await readQueue(opts.kb)).items.find((s) => s.item.id === valid);
      const tried = await loadTriedCards(opts.kb);
      let adopt = false;
      try {
        for (const card of cardIds) requireCard(tried, card, "card");
        const lastRelease = state0?.releases[state0.releases.length - 1];
        if (state0?.status === "pending" && !(lastRelease?.stale)) {
          // Nobody claimed it: the cards may be a run chosen on its own that did this item.
          const problem = adoptionProblem(tried, state0.item, cardIds);
          if (problem) {
            throw new UsageError(
              "id",
              `cannot complete ${valid}: it is pending, and ${problem}; claim it and run it`,
            );
          }
          adopt = true;
        }
      } finally {
        tried.base.close();
      }
      const state = await completeItem(options, valid, cardIds, agent, { adopt });
      if (opts.json) return printJson(itemJson(state));
      console.log(
        `completed ${state.item.id} -> ${cardIds.join(", ")}${adopt ? " (adopted)" : ""}`,
      );
    }));

  director
    .command("release")
    .description("give the claimed item ID back to the queue (--stale: every stale claim)")
    .argument("[id]", "queue item id")
    .option("--reason <text>", "why it is given back")
    .option("--agent <name>", "refuse unless the claim is this agent's")
    .option("--stale", "release every claim with no heartbeat within the stale timeout")
    .addOption(staleOption())
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (id, opts) => {
      const options = queueOptions(checkBase(opts.kb, true), opts.staleMinutes);
      if (opts.stale) {
        if (id !== undefined) throw new UsageError("id", "give an id or --stale, not both");
        const released = await releaseStale(options);
        if (opts.json) return printJson({ released: released.map((s) => s.item.id) });
        for (const s of released) {
          console.log(`released ${s.item.id} (${oneLine(s.claim!.agent)}, stale)`);
        }
        if (released.length === 0) console.log("no stale claims");
        return;
      }
      if (id === undefined) throw new UsageError("id", "required (or --stale)");
      const valid = itemId(id);
      const reason = opts.reason === undefined ? undefined : validateReason(opts.reason);
      const agent = opts.agent === undefined ? undefined : validateAgent(opts.agent);
      const state = await releaseItem(options, valid, reason, agent);
      if (opts.json) return printJson(itemJson(state));
      console.log(`released ${state.item.id}`);
    }));

  director
    .command("drop")
    .description("take ID off the work list for good, with a reason")
    .argument("<id>", "queue item id")
    .requiredOption("--reason <text>", "why it is dropped")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (id, opts) => {
      checkBase(opts.kb, true);
      const valid = itemId(id);
      const reason = validateReason(opts.reason);
      const state = await dropItem(queueOptions(opts.kb), valid, reason);
      if (opts.json) return printJson(itemJson(state));
      console.log(`dropped ${state.item.id}`);
    }));
}
