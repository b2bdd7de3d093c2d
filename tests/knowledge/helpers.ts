/**
 * Shared helpers for the knowledge tests: a valid card input to vary, scratch base directories,
 * and a runner for the real `autoresearch` CLI as a child process.
 */
import {
  type Card,
  type CardInput,
  type KnowledgeBase,
  openKnowledgeBase,
} from "../../src/knowledge/mod.ts";
import { type CliResult, runCli as runCliProcess, type RunCliOptions } from "../cli_helpers.ts";

export type { CliResult };

/** A valid card input; override any field. */
export function sampleInput(overrides: Partial<CardInput> = {}): CardInput {
  return {
    agent: "agent-a",
    session: "s1",
    hypothesis: "halve the batch size",
    lesson: "more steps in the same budget",
    tags: ["batch_size"],
    platform: { backend: "cpu", device: "Test CPU", vendor: "TestVendor", cores: 2, memory_gb: 8 },
    harness_hash: "h1",
    recipe_hash: "r1",
    budget_s: 300,
    seed: 0,
    config: { depth: 4, lr: 0.04 },
    results: { val_bpb: 1.0, delta: 0 },
    status: "keep",
    ...overrides,
  };
}

/** A fresh empty directory for a knowledge base. */
export async function tempKb(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "kb-test-" });
}

/** A fresh base holding one card per input (each a variation of `sampleInput`), in order. */
export async function baseWith(
  inputs: Partial<CardInput>[],
): Promise<{ kb: KnowledgeBase; cards: Card[] }> {
  const kb = openKnowledgeBase(await tempKb());
  const cards: Card[] = [];
  for (const input of inputs) cards.push(await kb.writeCard(sampleInput(input)));
  return { kb, cards };
}

/** Run `autoresearch <args>` as a real process (agent "tester"); `stdin` is piped in when given. */
export function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  return runCliProcess(args, { ...options, env: { AUTORESEARCH_AGENT: "tester", ...options.env } });
}

/** CLI flags that make a complete card apart from hypothesis/result/status. */
export function baseFlags(kb: string): string[] {
  return ["--kb", kb, "--harness-hash", "h1", "--recipe-hash", "r1", "--budget", "300"];
}

/** Names of the files in `dir` (empty when it does not exist). */
export function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
  } catch {
    return [];
  }
}
