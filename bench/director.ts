/**
 * Director benchmarks: claims per second with 8 concurrent claimer processes (library loop, and
 * the CLI one process per claim), and whole-process wall time of `director status` and
 * `director plan` on a base with 1,000 queue items and 10,000 cards.
 * Run alone with `deno task bench director`.
 */
import { seededRandom } from "../src/util/random.ts";
import { join } from "node:path";
import { claimNext, completeItem } from "../src/director/mod.ts";
import { createItem } from "../src/director/queue.ts";
import { openKnowledgeBase } from "../src/knowledge/store.ts";
import { newId } from "../src/util/ids.ts";
import { CATEGORIES } from "../src/knowledge/taxonomy.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const MOD = new URL("../src/director/mod.ts", import.meta.url).href;

const WORKER = `
const { claimNext } = await import(${JSON.stringify(MOD)});
const [kb, agent, go] = Deno.args;
while (true) { try { await Deno.stat(go); break; } catch { await new Promise((r) => setTimeout(r, 2)); } }
const start = performance.timeOrigin + performance.now();
let n = 0;
while ((await claimNext({ kb }, agent, { allowMultiple: true })).claimed) n++;
console.log(JSON.stringify({ n, start, end: performance.timeOrigin + performance.now() }));
`;

async function claimsPerSecond(items: number, claimers: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bench-director-" });
  const kb = join(dir, "kb");
  for (let i = 0; i < items; i++) {
    await createItem({ kb }, { hypothesis: `experiment ${i}`, category: "other", priority: 3 });
  }
  const go = join(dir, "go");
  const children = Array.from({ length: claimers }, (_, i) =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", WORKER, kb, `agent${i}`, go],
      stdout: "piped",
      stderr: "inherit",
    }).spawn());
  await new Promise((resolve) => setTimeout(resolve, 1500)); // let every worker start up
  await Deno.writeTextFile(go, "");
  const results = await Promise.all(children.map(async (child) => {
    const output = await child.output();
    return JSON.parse(new TextDecoder().decode(output.stdout)) as {
      n: number;
      start: number;
      end: number;
    };
  }));
  const total = results.reduce((sum, r) => sum + r.n, 0);
  const seconds =
    (Math.max(...results.map((r) => r.end)) - Math.min(...results.map((r) => r.start))) /
    1000;
  console.log(
    `claims/s, ${claimers} concurrent claimer processes (library loop), ${items} items: ` +
      `${(total / seconds).toFixed(0)} (${total} claims in ${seconds.toFixed(2)} s)`,
  );
  await Deno.remove(dir, { recursive: true });
}

async function run1(args: string[]): Promise<number> {
  const start = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (output.code !== 0) {
    throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return performance.now() - start;
}

async function cliClaimsPerSecond(items: number, claimers: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bench-director-cli-" });
  const kb = join(dir, "kb");
  for (let i = 0; i < items; i++) {
    await createItem({ kb }, { hypothesis: `experiment ${i}`, category: "other", priority: 3 });
  }
  const perClaimer = Math.floor(items / claimers);
  const start = performance.now();
  await Promise.all(Array.from({ length: claimers }, async (_, i) => {
    for (let k = 0; k < perClaimer; k++) {
      await run1(["director", "claim", "--kb", kb, "--agent", `cli${i}`, "--json"]);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `claims/s, ${claimers} concurrent CLI loops (one process per claim): ` +
      `${(claimers * perClaimer / seconds).toFixed(1)} (${claimers * perClaimer} claims in ` +
      `${seconds.toFixed(2)} s)`,
  );
  await Deno.remove(dir, { recursive: true });
}

const KNOBS: [string, string, number[]][] = [
  ["optim", "matrixLr", [0.02, 0.03, 0.04, 0.06, 0.08]],
  ["optim", "weightDecay", [0.05, 0.1, 0.2, 0.3]],
  ["optim", "warmdownRatio", [0.3, 0.5, 0.7]],
  ["model", "depth", [3, 4, 5, 6]],
  ["model", "seqLen", [128, 256, 512]],
];

/** Write `count` valid cards straight to disk (one file each, as the store does, no fsync). */
export async function seedCards(kb: string, count: number): Promise<void> {
  const base = openKnowledgeBase(kb);
  const random = seededRandom(42);
  const template = await base.writeCard({
    agent: "bench",
    session: "bench",
    hypothesis: "baseline",
    tags: ["other"],
    platform: { backend: "cpu", device: "bench cpu", vendor: "bench", cores: 2, memory_gb: 8 },
    harness_hash: "harness1",
    recipe_hash: "recipe0",
    budget_s: 300,
    seed: 0,
    config: {
      model: { depth: 4, width: 256, headDim: 64, seqLen: 256, windowPattern: "L" },
      optim: { matrixLr: 0.04, weightDecay: 0.2, warmdownRatio: 0.5 },
      totalBatchTokens: 16384,
      deviceBatchRows: 16,
    },
    results: { val_bpb: 1.1 },
    status: "keep",
  });
  base.close();
  const statuses = ["keep", "discard", "discard", "discard", "inconclusive", "crash"];
  const ids = [template.id];
  const dir = join(kb, "cards");
  for (let i = 1; i < count; i++) {
    const [group, key, values] = KNOBS[Math.floor(random() * KNOBS.length)];
    const value = values[Math.floor(random() * values.length)];
    const status = statuses[Math.floor(random() * statuses.length)];
    const category = CATEGORIES[Math.floor(random() * (CATEGORIES.length - 1))];
    const config = structuredClone(template.config) as Record<string, Record<string, unknown>>;
    config[group][key] = value;
    const valBpb = status === "crash" ? null : Number((1.0 + random() * 0.1).toFixed(4));
    const card = {
      ...template,
      id: newId("card"),
      timestamp: new Date(Date.parse(template.timestamp) + i * 1000).toISOString(),
      hypothesis: `Set ${key} to ${value} (run ${i})`,
      lesson: random() < 0.05 ? `Unclear. Does ${key} interact with depth?` : undefined,
      tags: [category, key],
      prior_cards: [ids[Math.floor(random() * ids.length)]],
      recipe_hash: `recipe${Math.floor(random() * count / 3)}`,
      seed: i,
      config,
      results: { val_bpb: valBpb, delta: valBpb === null ? null : valBpb - 1.1 },
      status,
    };
    if (card.lesson === undefined) delete card.lesson;
    ids.push(card.id);
    Deno.writeTextFileSync(join(dir, `${card.id}.json`), `${JSON.stringify(card, null, 2)}\n`);
  }
}

async function statusAndPlan(items: number, cards: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bench-director-big-" });
  const kb = join(dir, "kb");
  await seedCards(kb, cards);
  const ids: string[] = [];
  for (let i = 0; i < items; i++) {
    ids.push(
      (await createItem({ kb }, {
        hypothesis: `queued experiment ${i}`,
        category: CATEGORIES[i % CATEGORIES.length],
        priority: 1 + (i % 5),
      })).id,
    );
  }
  // A realistic mix: a third claimed, a tenth completed.
  for (let i = 0; i < items / 3; i++) {
    await claimNext({ kb }, `agent${i % 8}`, { allowMultiple: true });
  }
  const card = JSON.parse(
    await Deno.readTextFile(join(kb, "cards", [...Deno.readDirSync(join(kb, "cards"))][0].name)),
  ).id;
  let completed = 0;
  for (const id of ids) {
    if (completed >= items / 10) break;
    try {
      await completeItem({ kb }, id, card);
      completed++;
    } catch { /* not claimed */ }
  }
  const first = await run1(["director", "plan", "--kb", kb, "--json"]); // builds the card index
  const figures: Record<string, number[]> = { status: [], plan: [] };
  for (let i = 0; i < 3; i++) {
    figures.status.push(await run1(["director", "status", "--kb", kb, "--json"]));
    figures.plan.push(await run1(["director", "plan", "--kb", kb, "--json"]));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const bare = await (async () => {
    const start = performance.now();
    await new Deno.Command(Deno.execPath(), { args: ["eval", "1"] }).output();
    return performance.now() - start;
  })();
  console.log(
    `${items} queue items, ${cards} cards (whole process, median of 3; bare deno start ` +
      `${bare.toFixed(0)} ms):`,
  );
  console.log(`  director status: ${median(figures.status).toFixed(0)} ms`);
  console.log(
    `  director plan:   ${median(figures.plan).toFixed(0)} ms ` +
      `(first run, building the card index: ${first.toFixed(0)} ms)`,
  );
  await Deno.remove(dir, { recursive: true });
}

/** Print the director's figures. */
export async function run(): Promise<void> {
  await claimsPerSecond(400, 8);
  await cliClaimsPerSecond(40, 8);
  await statusAndPlan(1_000, 10_000);
}

if (import.meta.main) await run();
