/**
 * A scripted research agent (no LLM), run as its own process by the multi-machine tests. Each
 * round: read the brief, `director claim --sync` (the real CLI), change the one hyperparameter
 * the item names, train the tiny recipe for a 1 s budget on synthetic data (a pending card is
 * recorded), judge the card (keep when it beats this agent's best, else discard: the change is
 * reverted), complete the item, `sync` (the real CLI). Prints a JSON summary on stdout.
 *
 * Usage: deno run -A agent.ts KB AGENT ROUNDS
 * Env: AUTORESEARCH_HOSTNAME (the machine's name), AGENT_GO_FILE (wait for it before starting).
 */
import { join } from "node:path";
import { readBrief } from "../../mod.ts";
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { completeItem } from "../../src/director/mod.ts";
import { runExperiment } from "../../src/train/run.ts";
import type { Recipe } from "../../src/train/recipe.ts";
import { MAIN } from "../cli_helpers.ts";
import {
  REFERENCE_RECIPE_TEXT,
  syntheticTrainingData,
  TINY_RECIPE,
} from "../train/model_helpers.ts";
import type { AgentSummary } from "./helpers.ts";

const [kb, agent, roundsArg] = Deno.args;
const rounds = Number(roundsArg);

/** The recipe with one dotted key (`optim.matrixLr`) set. */
function withChange(recipe: Recipe, change: Record<string, unknown>): Recipe {
  const copy = structuredClone(recipe) as unknown as Record<string, Record<string, unknown>>;
  for (const [path, value] of Object.entries(change)) {
    const [head, tail] = path.split(".");
    if (tail === undefined) (copy as Record<string, unknown>)[head] = value;
    else copy[head][tail] = value;
  }
  return copy as unknown as Recipe;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args, "--kb", kb, "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

const goFile = Deno.env.get("AGENT_GO_FILE");
if (goFile) {
  while (!await Deno.stat(goFile).then(() => true, () => false)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const summary: AgentSummary = {
  agent,
  worked: [],
  provisional: [],
  lost: [],
  syncCodes: [],
  briefs: 0,
};
const data = syntheticTrainingData(100, 10);
const scratch = await Deno.makeTempDir({ prefix: `agent-${agent}-` });
let best: { recipe: Recipe; valBpb: number; card: string } | null = null;
let lastCard: string | null = null;
for (let round = 0; round < rounds; round++) {
  const base = openKnowledgeBase(kb);
  const brief = await readBrief(base);
  base.close();
  if (!brief.text.includes("queue")) {
    throw new Error(`brief without a queue section: ${brief.text}`);
  }
  summary.briefs++;

  const claim = await cli(["director", "claim", "--sync", "--agent", agent]);
  if (claim.code !== 0) throw new Error(`claim --sync exited ${claim.code}: ${claim.stderr}`);
  const claimed = JSON.parse(claim.stdout);
  for (const outcome of claimed.syncs) {
    for (const lost of outcome.lost_claims) if (lost.local) summary.lost.push(lost.item);
  }
  if (!claimed.claimed) break;
  const item = claimed.claimed;
  if (claimed.provisional) summary.provisional.push(item.id);

  const recipe = withChange(best?.recipe ?? TINY_RECIPE, item.config ?? {});
  const priorCards = [...new Set([lastCard, best?.card].filter((id): id is string => !!id))];
  const report = await runExperiment({
    data,
    backend: "cpu",
    budgetSeconds: 1,
    seed: 1,
    recipe: REFERENCE_RECIPE_TEXT,
    configOverride: recipe,
    evalTokens: 256,
    item: item.id,
    kb,
    agent,
    session: "sync-test",
    hypothesis: item.hypothesis,
    tags: [item.category],
    priorCards,
    checkpointDir: join(scratch, `checkpoint-${round}`),
    onProgressLine: () => {},
    log: () => {},
  });
  const card = report.card_id!;
  // Keep when it beats this agent's best so far, else discard (the change is reverted).
  const keep = report.val_bpb !== null && (best === null || report.val_bpb < best.valBpb);
  const status = report.val_bpb === null ? "crash" : keep ? "keep" : "discard";
  const judged = openKnowledgeBase(kb);
  await judged.completeCard(card, { status, agent, lesson: `${status} at round ${round}` });
  judged.close();
  if (keep) best = { recipe, valBpb: report.val_bpb!, card };
  lastCard = card;
  await completeItem({ kb }, item.id, card, agent);
  summary.worked.push({ item: item.id, card, status, claim: item.claim.id });

  const sync = await cli(["sync", "--agent", agent]);
  summary.syncCodes.push(sync.code);
  if (sync.code !== 0 && sync.code !== 3) {
    throw new Error(`sync exited ${sync.code}: ${sync.stderr}`);
  }
  if (sync.code === 0) {
    for (const lost of JSON.parse(sync.stdout).lost_claims) {
      if (lost.local) summary.lost.push(lost.item);
    }
  }
}
console.log(JSON.stringify(summary));
await Deno.remove(scratch, { recursive: true });
