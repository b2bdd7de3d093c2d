/**
 * Shared helpers of the director tests: a scratch knowledge base, the real CLI run as a child
 * process, and valid experiment cards written through the knowledge layer.
 */
import { join } from "node:path";
import { openKnowledgeBase } from "../../src/knowledge/store.ts";
import type { Card } from "../../src/knowledge/schema.ts";
import { type CliResult, MAIN, runCli } from "../cli_helpers.ts";

export { type CliResult, MAIN };

/** A fresh temp directory for a knowledge base. */
export async function tempKb(): Promise<string> {
  return join(await Deno.makeTempDir({ prefix: "director-test-" }), "kb");
}

/** Run `autoresearch <args>` as a real process with `env` added. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { env: { XDG_RUNTIME_DIR: "/tmp", ...env } });
}

/** Run the CLI and parse its `--json` stdout; throws with stderr when it fails. */
export async function cliJson<T = Record<string, unknown>>(
  args: string[],
  env: Record<string, string> = {},
): Promise<T> {
  const result = await cli([...args, "--json"], env);
  if (result.code !== 0) {
    throw new Error(`autoresearch ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

/** Fields of a test card that tests usually vary. */
export interface TestCard {
  hypothesis: string;
  tags: string[];
  status?: "keep" | "discard" | "inconclusive" | "crash";
  valBpb?: number | null;
  delta?: number | null;
  config?: Record<string, unknown>;
  priorCards?: string[];
  lesson?: string;
  recipeHash?: string;
  seed?: number;
  /** optimizer steps the run took (results.num_steps) */
  numSteps?: number;
}

/** The CPU recipe as a nested config snapshot, with `overrides` merged in (dotted keys). */
export function recipeConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const config: Record<string, Record<string, unknown> | unknown> = {
    model: { depth: 4, width: 256, headDim: 64, seqLen: 256, windowPattern: "L", softcap: 15 },
    optim: { matrixLr: 0.04, embeddingLr: 0.6, weightDecay: 0.2, warmdownRatio: 0.5 },
    totalBatchTokens: 16384,
    deviceBatchRows: 16,
  };
  for (const [path, value] of Object.entries(overrides)) {
    const [head, tail] = path.split(".");
    if (tail === undefined) config[head] = value;
    else (config[head] as Record<string, unknown>)[tail] = value;
  }
  return config;
}

let recipeCounter = 0;

/** Write a valid card into `kb` through the knowledge layer. */
export async function writeCard(kb: string, card: TestCard): Promise<Card> {
  const base = openKnowledgeBase(kb);
  try {
    const status = card.status ?? "keep";
    return await base.writeCard({
      agent: "tester",
      session: "test",
      hypothesis: card.hypothesis,
      tags: card.tags,
      prior_cards: card.priorCards ?? [],
      ...(card.lesson ? { lesson: card.lesson } : {}),
      platform: { backend: "cpu", device: "test cpu", vendor: "test", cores: 2, memory_gb: 8 },
      harness_hash: "harness1",
      recipe_hash: card.recipeHash ?? `recipe${++recipeCounter}`,
      budget_s: 300,
      seed: card.seed ?? 0,
      config: card.config ?? recipeConfig(),
      results: {
        val_bpb: status === "crash" ? null : card.valBpb ?? 1.0,
        ...(card.delta === undefined ? {} : { delta: card.delta }),
        ...(card.numSteps === undefined ? {} : { num_steps: card.numSteps }),
      },
      status,
    });
  } finally {
    base.close();
  }
}

/** Every file under `dir` with its bytes (to prove that nothing was written or rewritten). */
export async function snapshotFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  async function walk(path: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      const child = join(path, entry.name);
      if (entry.isDirectory) await walk(child);
      else if (entry.name !== ".lock" && !entry.name.startsWith("index.sqlite")) {
        files.set(child, new TextDecoder().decode(await Deno.readFile(child)));
      }
    }
  }
  await walk(dir);
  return files;
}
