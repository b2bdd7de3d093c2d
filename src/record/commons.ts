/**
 * `autoresearch import --commons DIR`: migrate a knowledge base of the commons fork (JSON cards
 * in `cards/`, a `queue.json`) into ours. Statuses are mapped (`revert` -> discard, `retracted`
 * -> a retraction record on the card), `prior_knowledge_used` becomes lineage, the fork's
 * `config_diff` the recipe diff. Each card keeps the fork's id as its source key, so a second
 * import adds nothing (a card retracted in the fork since then gets its retraction). Every card
 * the fork itself would crash on (missing fields, wrong types, not UTF-8, NaN) is reported with
 * its path and skipped; the fork's files are only read.
 */
import { basename, join } from "node:path";
import { createItem, readQueue } from "../director/queue.ts";
import { validateNewItem } from "../director/add.ts";
import type { KnowledgeBase } from "../knowledge/store.ts";
import {
  type Backend,
  type Card,
  type CardInput,
  LIMITS,
  type Platform,
  type Results,
} from "../knowledge/schema.ts";
import { recordText } from "../knowledge/records.ts";
import { checkSharedCardFields, writeOrSkip } from "./imports.ts";
import { categoriesOf } from "../knowledge/taxonomy.ts";
import { UsageError } from "../util/errors.ts";
import { withLock } from "../util/lock.ts";
import { sha256Hex } from "./hash.ts";
import type { ImportReport } from "./tsv.ts";
import { readCards, sourceIndex, sourceKey } from "./sources.ts";
import { clipText, isDirectory, isFile, vendorOf } from "./text.ts";

/** The fork's statuses. */
const FORK_STATUSES = ["keep", "revert", "discard", "inconclusive", "crash", "retracted"] as const;

/** A fork card that passed the checks, with the fields we use. */
export interface ForkCard {
  /** path of its file */
  path: string;
  /** the fork's id */
  id: string;
  /** the fork's timestamp, verbatim */
  timestamp: string;
  hypothesis: string;
  status: typeof FORK_STATUSES[number];
  /** val_bpb; null for a crash (the fork logs 0) */
  valBpb: number | null;
  results: Record<string, number | null>;
  platform: { gpu: string | null; ram_gb: number | null; framework: string | null };
  /** the commit the experiment started from */
  parentCommit: string | null;
  /** the commit that ran (`commit_id`, in some versions of the fork) */
  commitId: string | null;
  configDiff: unknown;
  lesson: string | null;
  tags: string[];
  prior: string[];
  retractionReason: string | null;
  agent: string | null;
  session: string | null;
}

/** A fork queue item that passed the checks. */
export interface ForkItem {
  id: string;
  hypothesis: string;
  category: string;
  priority: number;
  status: "pending" | "in_progress" | "completed";
  assignedTo: string | null;
}

/** What was found in a fork base. */
export interface ForkBase {
  /** the directory holding `cards/` */
  dir: string;
  /** usable cards in lineage order (a card after the cards it names as prior) */
  cards: ForkCard[];
  /** usable queue items in file order */
  items: ForkItem[];
  /** files and records that cannot be used (path + reason) */
  problems: { where: string; reason: string }[];
  /** the fork's harness file next to the base (`prepare.py`), when there is one */
  harnessFile: string | null;
}

/** Parse JSON as Python's json module would, telling NaN/Infinity apart from broken JSON. */
function parseForkJson(
  bytes: Uint8Array,
): { ok: true; value: unknown } | { ok: false; reason: string } {
  const decoded = recordText(bytes);
  if (!decoded.ok) return decoded;
  const text = decoded.value;
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const cleaned = text.replace(/(?<=[:\[,]\s*)-?(?:NaN|Infinity)(?=\s*[,\]}])/g, "null");
    if (cleaned !== text) {
      try {
        JSON.parse(cleaned);
        return { ok: false, reason: "holds NaN or Infinity where a number belongs" };
      } catch {
        // broken beyond the NaN: report the parse error below
      }
    }
    return { ok: false, reason: `invalid JSON (${(error as Error).message.split("\n")[0]})` };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "";
}

function optionalString(card: Record<string, unknown>, key: string): string | null {
  const value = card[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new Error(`${key} must be a string`);
  return value.trim() === "" ? null : value;
}

function stringList(card: Record<string, unknown>, key: string): string[] {
  const value = card[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new Error(`${key} must be a list of strings`);
  }
  return value as string[];
}

const RESULT_KEYS = [
  "delta",
  "peak_vram_mb",
  "training_seconds",
  "num_steps",
  "estimated_flops",
  "num_params",
];

/** Check one fork card as the fork's own readers would use it; throws the reason. */
export function checkForkCard(value: unknown, path: string): ForkCard {
  if (!isObject(value)) throw new Error("not a JSON object");
  for (const key of ["id", "timestamp", "hypothesis", "status"]) {
    if (value[key] === undefined || value[key] === null) throw new Error(`${key} is missing`);
    if (!nonEmptyString(value[key])) throw new Error(`${key} must be a non-empty string`);
  }
  const status = value.status as string;
  if (!(FORK_STATUSES as readonly string[]).includes(status)) {
    throw new Error(`status ${JSON.stringify(status.slice(0, 40))} is not a fork status`);
  }
  const results = value.results;
  if (!isObject(results)) throw new Error("results is missing or not an object");
  const raw = results.val_bpb;
  if (raw === undefined) throw new Error("results.val_bpb is missing");
  if (raw !== null && typeof raw !== "number") throw new Error("results.val_bpb must be a number");
  if (raw === null && status !== "crash" && status !== "retracted" && status !== "inconclusive") {
    throw new Error(`results.val_bpb is null on a ${status} card`);
  }
  const mapped: Record<string, number | null> = {};
  for (const key of RESULT_KEYS) {
    const v = results[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number") throw new Error(`results.${key} must be a number`);
    mapped[key] = v;
  }
  const platform = value.platform;
  if (!isObject(platform)) throw new Error("platform is missing or not an object");
  const gpu = platform.gpu;
  const ram = platform.ram_gb;
  const framework = platform.framework;
  if (gpu !== undefined && gpu !== null && typeof gpu !== "string") {
    throw new Error("platform.gpu must be a string");
  }
  if (ram !== undefined && ram !== null && typeof ram !== "number") {
    throw new Error("platform.ram_gb must be a number");
  }
  if (framework !== undefined && framework !== null && typeof framework !== "string") {
    throw new Error("platform.framework must be a string");
  }
  const crashLike = status === "crash" || ((status === "retracted" || status === "inconclusive") &&
    (raw === null || raw <= 0));
  if (!crashLike && (raw === null || raw <= 0)) {
    throw new Error(`results.val_bpb ${raw} on a ${status} card (only a crash has no result)`);
  }
  return {
    path,
    id: value.id as string,
    timestamp: value.timestamp as string,
    hypothesis: value.hypothesis as string,
    status: status as ForkCard["status"],
    valBpb: crashLike ? null : raw as number,
    results: mapped,
    platform: {
      gpu: nonEmptyString(gpu) ? gpu : null,
      ram_gb: typeof ram === "number" ? ram : null,
      framework: nonEmptyString(framework) ? framework : null,
    },
    parentCommit: optionalString(value, "parent_commit"),
    commitId: optionalString(value, "commit_id"),
    configDiff: value.config_diff ?? null,
    lesson: optionalString(value, "lesson"),
    tags: stringList(value, "tags"),
    prior: stringList(value, "prior_knowledge_used"),
    retractionReason: optionalString(value, "retraction_reason"),
    agent: optionalString(value, "agent"),
    session: optionalString(value, "session"),
  };
}

function checkForkItem(value: unknown): ForkItem {
  if (!isObject(value)) throw new Error("not a JSON object");
  for (const key of ["id", "hypothesis", "category", "status"]) {
    if (!nonEmptyString(value[key])) throw new Error(`${key} is missing or not a string`);
  }
  const priority = value.priority;
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 1 || priority > 5) {
    throw new Error("priority must be an integer from 1 to 5");
  }
  const status = value.status as string;
  if (status !== "pending" && status !== "in_progress" && status !== "completed") {
    throw new Error(`status ${JSON.stringify(status.slice(0, 40))} is not a fork queue status`);
  }
  const assigned = value.assigned_to;
  return {
    id: value.id as string,
    hypothesis: value.hypothesis as string,
    category: value.category as string,
    priority,
    status,
    assignedTo: typeof assigned === "string" ? assigned : null,
  };
}

/** Order cards so each comes after the cards it names as prior (timestamp order otherwise). */
function lineageOrder(cards: ForkCard[]): ForkCard[] {
  const sorted = [...cards].sort((a, b) =>
    a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : 1
  );
  const byId = new Map(sorted.map((card) => [card.id, card]));
  const order: ForkCard[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (card: ForkCard) => {
    if (state.get(card.id)) return; // done, or a cycle: the link is dropped on import
    state.set(card.id, "visiting");
    for (const prior of card.prior) {
      const parent = byId.get(prior);
      if (parent) visit(parent);
    }
    state.set(card.id, "done");
    order.push(card);
  };
  for (const card of sorted) visit(card);
  return order;
}

/**
 * Read a fork base: DIR is the fork's `knowledge/` directory or the repository holding it.
 * Throws a UsageError when DIR has no `cards/` directory (nothing to import).
 */
export function readForkBase(dir: string): ForkBase {
  const candidates = [dir, join(dir, "knowledge")];
  const base = candidates.find((d) => isDirectory(join(d, "cards")));
  if (base === undefined) {
    throw new UsageError("--commons", `${dir} holds no cards/ directory (nor knowledge/cards/)`);
  }
  const problems: ForkBase["problems"] = [];
  const cards: ForkCard[] = [];
  const ids = new Map<string, string>();
  const names = [...Deno.readDirSync(join(base, "cards"))]
    .filter((entry) => entry.name.endsWith(".json"))
    .map((entry) => entry.name)
    .sort();
  for (const name of names) {
    const path = join(base, "cards", name);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (error) {
      problems.push({ where: path, reason: `cannot read: ${(error as Error).message}` });
      continue;
    }
    if (!info.isFile) {
      problems.push({ where: path, reason: "not a regular file (a link or directory)" });
      continue;
    }
    const parsed = parseForkJson(Deno.readFileSync(path));
    if (!parsed.ok) {
      problems.push({ where: path, reason: parsed.reason });
      continue;
    }
    try {
      const card = checkForkCard(parsed.value, path);
      const first = ids.get(card.id);
      if (first !== undefined) {
        problems.push({ where: path, reason: `id ${card.id} already used by ${basename(first)}` });
        continue;
      }
      ids.set(card.id, path);
      cards.push(card);
    } catch (error) {
      problems.push({ where: path, reason: (error as Error).message });
    }
  }
  const items: ForkItem[] = [];
  const queuePath = join(base, "queue.json");
  if (isFile(queuePath)) {
    const parsed = parseForkJson(Deno.readFileSync(queuePath));
    if (!parsed.ok) problems.push({ where: queuePath, reason: parsed.reason });
    else {
      const value = parsed.value;
      const list = Array.isArray(value)
        ? value
        : isObject(value)
        ? [value.queue, value.items, value.experiments].find(Array.isArray)
        : undefined;
      if (list === undefined) {
        problems.push({ where: queuePath, reason: "no list of queue items found" });
      } else {
        for (const [i, raw] of list.entries()) {
          try {
            items.push(checkForkItem(raw));
          } catch (error) {
            problems.push({ where: `${queuePath} item ${i}`, reason: (error as Error).message });
          }
        }
      }
    }
  }
  const harness = [join(base, "prepare.py"), join(base, "..", "prepare.py")].find(isFile) ?? null;
  return { dir: base, cards: lineageOrder(cards), items, problems, harnessFile: harness };
}

/** The card platform of a fork platform `{gpu, ram_gb, framework}`. */
export function forkPlatform(p: ForkCard["platform"]): Platform {
  const framework = (p.framework ?? "").toLowerCase();
  const gpu = p.gpu ?? "";
  let backend: Backend;
  if (framework.includes("cuda")) backend = "cuda";
  else if (framework.includes("rocm")) backend = "rocm";
  else if (framework.includes("mlx")) backend = "mlx";
  else if (framework.includes("mps")) backend = "mps";
  else if (framework.includes("cpu")) backend = "cpu";
  else if (/nvidia/i.test(gpu)) backend = "cuda";
  else if (/apple/i.test(gpu)) backend = "mps";
  else backend = "cpu";
  const noGpu = gpu === "" || /^(cpu|none|n\/a)$/i.test(gpu);
  const device = noGpu ? "CPU (model not recorded by the fork)" : gpu.slice(0, LIMITS.device);
  return {
    backend,
    device,
    vendor: vendorOf(device),
    cores: 1, // the fork does not record cores
    memory_gb: p.ram_gb !== null && p.ram_gb > 0 ? p.ram_gb : 1,
  };
}

function configDiffText(diff: unknown, parent: string | null): string | undefined {
  if (diff === null || diff === undefined) return undefined;
  if (typeof diff === "string") return diff.trim() === "" ? undefined : diff;
  const header = `config_diff (commons fork)${parent ? ` against parent commit ${parent}` : ""}`;
  if (isObject(diff)) {
    const lines = Object.entries(diff).map(([key, value]) =>
      `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`
    );
    return lines.length ? `${header}\n${lines.join("\n")}\n` : undefined;
  }
  return `${header}\n${JSON.stringify(diff)}\n`;
}

/** True when `text` holds a control or line-separator character (not allowed in a tag). */
function hasControl(text: string): boolean {
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) {
      return true;
    }
  }
  return false;
}

function cleanTags(tags: string[]): string[] {
  const out: string[] = [];
  for (const tag of tags.flatMap((t) => t.split(","))) {
    const trimmed = tag.trim();
    if (trimmed === "" || hasControl(trimmed)) continue;
    out.push(trimmed.slice(0, LIMITS.tagLength));
  }
  return [...new Set(out)].slice(0, LIMITS.tags);
}

/** What a fork import needs besides the base. */
export interface CommonsImportOptions {
  /** the base to write into */
  kb: KnowledgeBase;
  /** harness hash of the fork's runs */
  harnessHash: string;
  /** their time budget, seconds */
  budgetS: number;
  /** agent for cards that do not name one, and creator of queue items */
  agent: string;
}

/** What a fork import did: cards as for results.tsv, plus retractions and queue items. */
export interface CommonsImportReport extends ImportReport {
  /** retraction records written (card ids) */
  retracted: string[];
  /** queue items written (our ids) */
  itemsAdded: string[];
  /** fork queue items imported before */
  itemsExisting: number;
  /** completed fork items, not imported (their results are the cards) */
  itemsCompleted: number;
  /** things worth knowing that did not stop an import (dropped lineage links, ...) */
  notes: string[];
}

/** The marker a migrated queue item carries in its rationale (how a second import finds it). */
export function forkItemMarker(id: string): string {
  return `imported from the commons fork (queue item ${id})`;
}

/** Import a fork base read by `readForkBase`. */
export async function importCommons(
  forkBase: ForkBase,
  options: CommonsImportOptions,
): Promise<CommonsImportReport> {
  const { kb } = options;
  // The fields every card shares are checked once: a bad flag is one error, nothing written.
  checkSharedCardFields({
    agent: options.agent,
    session: "check",
    platform: { backend: "cpu", device: "check", vendor: "check", cores: 1, memory_gb: 1 },
    harness_hash: options.harnessHash,
    budget_s: options.budgetS,
  });
  const report: CommonsImportReport = {
    added: [],
    existing: [],
    skipped: [...forkBase.problems],
    retracted: [],
    itemsAdded: [],
    itemsExisting: 0,
    itemsCompleted: 0,
    notes: [],
  };
  const lockPath = join(kb.dir, "views", ".import.lock");
  await withLock(lockPath, async () => {
    const cards: Card[] = readCards(kb);
    const known = sourceIndex(cards);
    const ourId = new Map<string, string>(); // fork id -> our card id
    for (const [key, id] of known) {
      const [kind, ref] = key.split("\u0000");
      if (kind === "commons" && ref.startsWith("card:")) ourId.set(ref.slice(5), id);
    }
    for (const fork of forkBase.cards) {
      const source = {
        kind: "commons" as const,
        ref: `card:${fork.id}`,
        timestamp: fork.timestamp.slice(0, LIMITS.name),
      };
      let id = known.get(sourceKey(source));
      if (id !== undefined) {
        report.existing.push({ ref: source.ref, card: id });
      } else {
        const prior: string[] = [];
        for (const p of fork.prior) {
          const mapped = ourId.get(p);
          if (mapped) prior.push(mapped);
          else report.notes.push(`${fork.path}: prior card ${p} is not in the base; link left out`);
        }
        const results: Results = { val_bpb: fork.valBpb };
        const r = fork.results;
        if (r.delta !== undefined) results.delta = r.delta;
        const nonNegative = (
          key: keyof Results,
          value: number | null | undefined,
          int: boolean,
        ) => {
          if (value === undefined || value === null) return;
          const v = int ? Math.round(value) : value;
          if (v >= 0) (results as unknown as Record<string, number>)[key] = v;
          else report.notes.push(`${fork.path}: negative ${key} ${value} left out`);
        };
        nonNegative("peak_memory_mb", r.peak_vram_mb, false);
        nonNegative("training_seconds", r.training_seconds, false);
        nonNegative("num_steps", r.num_steps, true);
        nonNegative("estimated_flops", r.estimated_flops, false);
        nonNegative("num_params", r.num_params, true);
        const status = fork.status === "revert"
          ? "discard"
          : fork.status === "retracted"
          ? (fork.valBpb === null ? "crash" : "inconclusive")
          : fork.status === "inconclusive" || fork.status === "crash" ||
              fork.status === "keep" || fork.status === "discard"
          ? fork.status
          : "inconclusive";
        // The recipe: the commit that ran when the fork recorded it, else parent + config diff.
        const recipeKey = JSON.stringify(
          fork.commitId ? { commit: fork.commitId } : {
            parent: fork.parentCommit,
            diff: fork.configDiff,
          },
        );
        const diffText = configDiffText(fork.configDiff, fork.parentCommit);
        const commit = fork.commitId && /^[0-9a-f]{4,64}$/i.test(fork.commitId)
          ? fork.commitId
          : undefined;
        const date = /^\d{4}-\d{2}-\d{2}/.exec(fork.timestamp)?.[0];
        const input: CardInput = {
          agent: (fork.agent ?? options.agent).slice(0, LIMITS.name),
          session: (fork.session ?? date ?? "commons").slice(0, LIMITS.name),
          hypothesis: clipText(fork.hypothesis, LIMITS.text),
          ...(commit ? { commit } : {}),
          ...(fork.lesson ? { lesson: clipText(fork.lesson, LIMITS.text) } : {}),
          tags: cleanTags(fork.tags),
          prior_cards: prior.slice(0, LIMITS.priorCards),
          platform: forkPlatform(fork.platform),
          harness_hash: options.harnessHash,
          recipe_hash: `commons-${await sha256Hex(recipeKey)}`,
          budget_s: options.budgetS,
          seed: 0,
          config: {},
          ...(diffText ? { recipe_diff: clipText(diffText, LIMITS.recipeDiff) } : {}),
          results,
          source,
          status,
        };
        const card = await writeOrSkip(kb, input, fork.path, report.skipped);
        if (card === null) continue;
        report.added.push(card);
        id = card.id;
      }
      ourId.set(fork.id, id);
      if (fork.status === "retracted" && !kb.getCard(id).retracted) {
        const reason = fork.retractionReason ?? "retracted in the commons fork (no reason given)";
        await kb.retract(id, clipText(reason, LIMITS.text), options.agent);
        report.retracted.push(id);
      }
    }

    // Queue: pending and in-progress items become pending items (a fork claim does not carry
    // over); completed items are not imported: their results are the cards.
    await importItems(forkBase, options, report);
  }, { base: kb.dir });
  return report;
}

async function importItems(
  fork: ForkBase,
  options: CommonsImportOptions,
  report: CommonsImportReport,
): Promise<void> {
  const { kb } = options;
  const queue = await readQueue(kb.dir);
  const markers = new Set(
    queue.items.map((state) => state.item.rationale ?? "").filter((r) => r !== ""),
  );
  for (const item of fork.items) {
    if (item.status === "completed") {
      report.itemsCompleted++;
      continue;
    }
    const marker = forkItemMarker(item.id);
    if ([...markers].some((r) => r.includes(marker))) {
      report.itemsExisting++;
      continue;
    }
    const claimed = item.status === "in_progress"
      ? `; it was in progress in the fork${item.assignedTo ? ` (${item.assignedTo})` : ""}`
      : "";
    try {
      const fields = validateNewItem({
        hypothesis: item.hypothesis,
        category: categoriesOf([item.category])[0],
        priority: item.priority,
        createdBy: options.agent,
        rationale: `${marker}${claimed}`,
      });
      const created = await createItem({ kb: kb.dir }, fields);
      report.itemsAdded.push(created.id);
      markers.add(created.rationale ?? "");
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      report.skipped.push({ where: `queue item ${item.id}`, reason: error.message });
    }
  }
}
