/**
 * Shared by the sync tests: a bare repository with clones (real git, local paths), queue items
 * seeded through the library, the scripted agent run as concurrent processes, and the checks
 * every multi-machine run must pass (every clone holds every card, every item done exactly once
 * by its claim's winner, lineage resolves, a linear history without conflicts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createItem } from "../../src/director/queue.ts";
import { readQueue } from "../../src/director/mod.ts";
import { syncAndResolve, type SyncOutcome } from "../../src/cli/sync.ts";

/** Run git in `cwd`; throws with its stderr when it fails. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", {
    args: ["-c", "user.name=test", "-c", "user.email=test@localhost", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(`git ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

/** A bare repository and `names.length` clones of it, under a fresh temp directory. */
export interface Shared {
  /** The temp directory holding everything. */
  root: string;
  /** The bare repository (the "remote"). */
  remote: string;
  /** Clone directory by name. */
  clones: Record<string, string>;
}

/**
 * Create the bare repository and its clones. `link` clones reach the remote through a symbolic
 * link (`remote-NAME.git`) that `partition` removes, so that clone alone goes offline.
 */
export async function sharedBase(names: string[], link: string[] = []): Promise<Shared> {
  const root = await Deno.makeTempDir({ prefix: "sync-test-" });
  const remote = join(root, "remote.git");
  await git(root, "init", "-q", "--bare", remote);
  const clones: Record<string, string> = {};
  for (const name of names) {
    let url = remote;
    if (link.includes(name)) {
      url = join(root, `remote-${name}.git`);
      await Deno.symlink(remote, url);
    }
    await git(root, "clone", "-q", url, join(root, name));
    clones[name] = join(root, name);
  }
  return { root, remote, clones };
}

/** Cut clone `name` off the remote (its link disappears), or reconnect it. */
export async function partition(shared: Shared, name: string, offline: boolean): Promise<void> {
  const url = join(shared.root, `remote-${name}.git`);
  if (offline) await Deno.remove(url);
  else await Deno.symlink(shared.remote, url);
}

/** Sync `kb` in this process (the library behind `autoresearch sync`). */
export async function sync(kb: string, agent = "tester"): Promise<SyncOutcome> {
  return await syncAndResolve({ kb }, agent);
}

/** Add `count` learning-rate items to `kb`, one config change each, and push them. */
export async function seedItems(kb: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const lr = (0.02 + 0.005 * i).toFixed(3);
    const item = await createItem({ kb }, {
      hypothesis: `matrix learning rate ${lr} instead of the default`,
      category: "learning_rate",
      priority: 3,
      config: { "optim.matrixLr": Number(lr) },
      createdBy: "seeder",
    });
    ids.push(item.id);
  }
  await sync(kb, "seeder");
  return ids;
}

/** What the scripted agent (agent.ts) reports. */
export interface AgentSummary {
  agent: string;
  worked: { item: string; card: string; status: string; claim: string }[];
  provisional: string[];
  lost: string[];
  syncCodes: number[];
  briefs: number;
}

const AGENT = new URL("./agent.ts", import.meta.url).pathname;

/** Start the scripted agent on `kb` as its own process; resolves with its summary. */
export async function runAgent(
  kb: string,
  agent: string,
  rounds: number,
  env: Record<string, string>,
): Promise<AgentSummary> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", AGENT, kb, agent, String(rounds)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  if (!output.success) {
    throw new Error(`agent ${agent} exited ${output.code}: ${decoder.decode(output.stderr)}`);
  }
  return JSON.parse(stdout.trim().split("\n").pop()!) as AgentSummary;
}

/** Start several agents at once (a go-file releases them together). */
export async function runAgents(
  shared: Shared,
  agents: { clone: string; name: string; rounds: number; host: string }[],
): Promise<AgentSummary[]> {
  const go = join(shared.root, "go");
  const running = agents.map((a) =>
    runAgent(shared.clones[a.clone], a.name, a.rounds, {
      AUTORESEARCH_HOSTNAME: a.host,
      AGENT_GO_FILE: go,
    })
  );
  await Deno.writeTextFile(go, "");
  return await Promise.all(running);
}

function listJson(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".json")).map((e) => e.name)
      .sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Sync every clone twice in turn, so each holds everything any of them pushed. */
export async function converge(shared: Shared): Promise<void> {
  for (let pass = 0; pass < 2; pass++) {
    for (const kb of Object.values(shared.clones)) {
      const outcome = await sync(kb);
      assert.equal(outcome.report.offline, false, `${kb} is online`);
    }
  }
}

/**
 * The checks of a multi-machine run: every clone holds the same records and every card the
 * agents wrote; each item was worked by one agent whose claim won and is completed exactly once
 * with that agent's card; prior cards resolve; the history is linear without conflicts.
 */
export async function checkConverged(
  shared: Shared,
  summaries: AgentSummary[],
  items: string[],
): Promise<void> {
  const kbs = Object.values(shared.clones);
  const written = summaries.flatMap((s) => s.worked.map((w) => `${w.card}.json`)).sort();
  const first = listJson(join(kbs[0], "cards"));
  for (const kb of kbs) {
    const cards = listJson(join(kb, "cards"));
    assert.deepEqual(cards, first, `${kb} holds the same cards as ${kbs[0]}`);
    for (const name of written) assert.ok(cards.includes(name), `${kb} holds ${name}`);
    assert.deepEqual(
      listJson(join(kb, "queue", "events")),
      listJson(join(kbs[0], "queue", "events")),
    );
    assert.deepEqual(listJson(join(kb, "completions")), listJson(join(kbs[0], "completions")));
    // Lineage: every prior card of every card exists in this clone.
    for (const name of cards) {
      const card = JSON.parse(await Deno.readTextFile(join(kb, "cards", name)));
      for (const prior of card.prior_cards) {
        assert.ok(cards.includes(`${prior}.json`), `${kb}: prior ${prior} of ${name} resolves`);
      }
    }
    // Every item is done exactly once, by the winning claim, with a card of that agent's run.
    const state = await readQueue(kb);
    assert.deepEqual(state.problems, []);
    for (const id of items) {
      const item = state.items.find((s) => s.item.id === id)!;
      assert.equal(item.status, "completed", `${id} completed in ${kb}`);
      const winner = summaries.flatMap((s) => s.worked).filter((w) => w.claim === item.claim?.id);
      assert.equal(winner.length, 1, `${id}: exactly one accepted run`);
      assert.equal(item.card, winner[0].card);
      const completions = listJson(join(kb, "queue", "events")).filter((name) =>
        name.startsWith(`${id}.`) && name.includes(".complete.")
      );
      const accepted = completions.length - item.lostClaims.reduce((n, l) => n + l.cards.length, 0);
      assert.equal(accepted, 1, `${id}: one accepted completion`);
    }
    assert.equal((await git(kb, "status", "--porcelain")).trim(), "", `${kb} has nothing unshared`);
  }
  // No item was worked twice by runs whose claims both stood.
  const accepted = new Set<string>();
  for (const kb of kbs.slice(0, 1)) {
    const state = await readQueue(kb);
    for (const item of state.items) if (item.claim) accepted.add(item.claim.id);
  }
  const standing = summaries.flatMap((s) => s.worked).filter((w) => accepted.has(w.claim));
  assert.equal(new Set(standing.map((w) => w.item)).size, standing.length, "no item worked twice");
  // A linear history without merges; no conflict marker anywhere; derived files never tracked.
  assert.equal((await git(shared.remote, "log", "--merges", "--oneline")).trim(), "");
  const tracked = (await git(kbs[0], "ls-files")).split("\n");
  assert.ok(!tracked.some((p) => p.startsWith("index.sqlite") || p.startsWith("views/")));
  for (const kb of kbs) {
    const grep = await new Deno.Command("git", {
      args: ["grep", "-l", "-e", "^<<<<<<<", "-e", "^>>>>>>>"],
      cwd: kb,
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(grep.stdout).trim(), "", `${kb}: no conflict markers`);
  }
}
