/**
 * Sync benchmark, whole-process wall time (Deno start-up included) of `autoresearch sync` with a
 * bare repository and 3 clones sharing 10,000 cards: the first push of the 10,000, the first
 * pull into a fresh clone, then steady rounds where each clone adds 5 cards and all 3 sync at
 * once (push races retried); and `read-brief` right after a sync that brought 1,000 new cards.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateBase } from "./knowledge.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const CARDS = 10_000;
const NEW_CARDS = 1_000;
const ROUNDS = 3;

async function run1(args: string[], cwd?: string): Promise<{ ms: number; out: string }> {
  const start = performance.now();
  const output = await new Deno.Command(args[0], {
    args: args.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", AUTORESEARCH_AGENT: "bench" },
  }).output();
  const ms = performance.now() - start;
  if (!output.success) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return { ms, out: new TextDecoder().decode(output.stdout) };
}

function cli(...args: string[]): Promise<{ ms: number; out: string }> {
  return run1([Deno.execPath(), "run", "-A", MAIN, ...args]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Run the benchmark and print its figures. */
export async function run(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "bench-sync-" });
  try {
    const remote = join(root, "remote.git");
    await run1(["git", "init", "-q", "--bare", remote]);
    const clones = ["a", "b", "c"].map((name) => join(root, name));
    for (const clone of clones) await run1(["git", "clone", "-q", remote, clone]);
    const [a, b, c] = clones;

    generateBase(a, CARDS);
    const firstPush = await cli("sync", "--kb", a);
    const firstPull = await cli("sync", "--kb", b);
    await cli("sync", "--kb", c);
    console.log(`first push of ${CARDS} cards (1 commit): ${firstPush.ms.toFixed(0)} ms`);
    console.log(
      `first pull of ${CARDS} cards into a clone (+ index): ${firstPull.ms.toFixed(0)} ms`,
    );

    const single: number[] = [];
    const rounds: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const clone of clones) generateBase(clone, 5);
      const start = performance.now();
      const results = await Promise.all(clones.map((clone) => cli("sync", "--kb", clone)));
      rounds.push(performance.now() - start);
      single.push(...results.map((r) => r.ms));
    }
    for (const clone of clones) await cli("sync", "--kb", clone);
    console.log(
      `3 clones at ${CARDS} cards, each adds 5 cards, all sync at once: round ` +
        `${median(rounds).toFixed(0)} ms (median of ${ROUNDS}), one sync ` +
        `${median(single).toFixed(0)} ms median, ${Math.max(...single).toFixed(0)} ms max`,
    );
    const idle = await cli("sync", "--kb", c);
    console.log(`sync with nothing new at ${CARDS} cards: ${idle.ms.toFixed(0)} ms`);

    generateBase(a, NEW_CARDS);
    await cli("sync", "--kb", a);
    const pull = await cli("sync", "--kb", b, "--json");
    const came = JSON.parse(pull.out).in.counts.card;
    const brief = await cli("read-brief", "--kb", b);
    console.log(
      `sync that brought ${came} new cards: ${pull.ms.toFixed(0)} ms; read-brief right after: ` +
        `${brief.ms.toFixed(0)} ms (${new TextEncoder().encode(brief.out).length} bytes)`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await run();
