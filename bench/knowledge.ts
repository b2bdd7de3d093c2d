/**
 * Knowledge benchmark: whole-process wall time (Deno start-up included) of `read-brief`,
 * `write-card` and `coverage` at 100, 1,000 and 10,000 cards, the size of read-brief's output,
 * and the card rate of 8 concurrent CLI writers. Bases are generated in-process through the
 * library's validation (fast), not through 10k CLI calls. Targets at 10k cards: read-brief
 * <= 300 ms, write-card <= 150 ms.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Card, validateCardInput } from "../src/knowledge/mod.ts";
import { newId } from "../src/util/ids.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const SIZES = [100, 1_000, 10_000];
const REPEATS = 5;

const TAGS = ["lr", "batch_size", "attention", "swiglu", "warmup", "init", "muon", "rope", "data"];
const DEVICES = ["AMD EPYC 9004", "llvmpipe (LLVM 17)", "Apple M2"];

/** Write `count` realistic cards into `dir/cards` directly (no fsync; this is set-up). */
export function generateBase(dir: string, count: number): void {
  Deno.mkdirSync(join(dir, "cards"), { recursive: true });
  const start = Date.now() - count * 60_000;
  for (let i = 0; i < count; i++) {
    const crash = i % 23 === 0;
    const valid = validateCardInput({
      agent: `agent-${i % 8}`,
      session: `session-${Math.floor(i / 200)}`,
      hypothesis: `experiment ${i}: change ${TAGS[i % TAGS.length]} by a factor of ${
        1 + (i % 5) / 10
      }`,
      lesson: i % 3 === 0
        ? `lesson from experiment ${i}: it ${i % 2 ? "helped" : "hurt"}`
        : undefined,
      tags: [TAGS[i % TAGS.length], TAGS[(i * 7) % TAGS.length]],
      platform: {
        backend: i % 3 === 1 ? "webgpu" : "cpu",
        device: DEVICES[i % 3],
        vendor: "vendor",
        cores: 16,
        memory_gb: 64,
      },
      harness_hash: "harness1",
      recipe_hash: `recipe-${i % Math.max(1, Math.floor(count / 3))}`,
      budget_s: 300,
      seed: i,
      config: { depth: 4 + (i % 4), width: 256, lr: 0.04 * (1 + (i % 5) / 10) },
      results: { val_bpb: crash ? null : 1.1 - i / (count * 10) + (i % 7) / 500, num_steps: 900 },
      status: crash ? "crash" : i % 4 === 0 ? "keep" : i % 9 === 0 ? "inconclusive" : "discard",
    });
    const card: Card = {
      schema: 1,
      id: newId("card"),
      timestamp: new Date(start + i * 60_000).toISOString(),
      ...valid,
    };
    Deno.writeTextFileSync(join(dir, "cards", `${card.id}.json`), JSON.stringify(card, null, 2));
  }
}

async function cli(args: string[]): Promise<{ ms: number; stdout: Uint8Array; code: number }> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { AUTORESEARCH_AGENT: "bench" },
  }).output();
  const ms = performance.now() - started;
  if (output.code !== 0) {
    throw new Error(`${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return { ms, stdout: output.stdout, code: output.code };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const WRITE_ARGS = [
  "--hypothesis",
  "bench card",
  "--result",
  "0.99",
  "--status",
  "discard",
  "--harness-hash",
  "harness1",
  "--recipe-hash",
  "bench",
  "--budget",
  "300",
  "--tags",
  "lr",
];

/** Print the knowledge figures. */
export async function run(): Promise<void> {
  const startup = [];
  for (let i = 0; i < REPEATS; i++) startup.push((await cli(["--version"])).ms);
  console.log(`deno start-up + CLI (--version): ${median(startup).toFixed(0)} ms median`);
  console.log(
    `whole-process wall time, median of ${REPEATS} (cold = first read, builds the index;\n` +
      "after write = read-brief right after a write-card, the agent loop)",
  );
  console.log(
    "cards   | read-brief cold | read-brief | after write | write-card | coverage | brief bytes",
  );
  for (const size of SIZES) {
    const dir = await Deno.makeTempDir({ prefix: "kb-bench-" });
    try {
      generateBase(dir, size);
      const cold = await cli(["read-brief", "--kb", dir]);
      const brief: number[] = [];
      let bytes = 0;
      for (let i = 0; i < REPEATS; i++) {
        const result = await cli(["read-brief", "--kb", dir]);
        brief.push(result.ms);
        bytes = result.stdout.length;
      }
      const write: number[] = [];
      const afterWrite: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        write.push((await cli(["write-card", "--kb", dir, ...WRITE_ARGS])).ms);
        afterWrite.push((await cli(["read-brief", "--kb", dir])).ms);
      }
      const cover: number[] = [];
      for (let i = 0; i < REPEATS; i++) cover.push((await cli(["coverage", "--kb", dir])).ms);
      const ms = (values: number[], width: number) =>
        `${median(values).toFixed(0).padStart(width)} ms`;
      console.log(
        `${String(size).padEnd(7)} | ${ms([cold.ms], 12)} | ${ms(brief, 7)} | ` +
          `${ms(afterWrite, 8)} | ${ms(write, 7)} | ${ms(cover, 5)} | ${bytes}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }

  // 8 concurrent CLI writers, each writing cards back to back.
  const dir = await Deno.makeTempDir({ prefix: "kb-bench-" });
  try {
    const perWriter = 5;
    const started = performance.now();
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < perWriter; i++) await cli(["write-card", "--kb", dir, ...WRITE_ARGS]);
    }));
    const seconds = (performance.now() - started) / 1000;
    const written = [...Deno.readDirSync(join(dir, "cards"))].length;
    console.log(
      `8 concurrent CLI writers: ${written} cards in ${seconds.toFixed(2)} s = ` +
        `${(written / seconds).toFixed(1)} cards/s`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await run();
