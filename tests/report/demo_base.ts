/**
 * A generated knowledge base that looks like a real research effort, for the report's browser
 * test, its benchmark and the README screenshot: several comparability classes, agents that
 * build on the current best (lineage), replicates, crashes, pending cards judged later,
 * retractions, a queue with claimed items, and (optionally) hostile card text. Cards are real
 * files in the on-disk format, validated by the library, with ids and timestamps spread over
 * days; the same seed gives the same base.
 */
import { join } from "node:path";
import { encodeTime } from "ulid";
import { claimNext, createItem } from "../../src/director/queue.ts";
import { type Card, validateCardInput } from "../../src/knowledge/mod.ts";
import { seededRandom } from "../../src/util/random.ts";

/** Texts that must render inert: markup, script, comment, bidi and zero-width tricks. */
export const HOSTILE_TEXTS = [
  `<script>window.__pwned = "script tag"</script> try a bigger width`,
  `<img src=x onerror="window.__pwned='img onerror'"> lower lr`,
  `"><svg onload="window.__pwned='svg onload'"></svg> <!-- unclosed comment`,
  `</script><script>window.__pwned='closed the data block'</script>`,
  `evil\u202edetaerc_lanif.js: bidi override reads backwards`,
  `zero\u200bwidth\u2066isolate\u2069 and <a href="javascript:window.__pwned='link'">click</a>`,
  `<style>body{display:none}</style><iframe src="https://example.com/x"></iframe>`,
  `{{constructor.constructor('window.__pwned=1')()}} \${window.__pwned=2}`,
];

/** What was generated. */
export interface DemoBase {
  /** the base directory */
  dir: string;
  /** ids of every card written, oldest first */
  ids: string[];
  /** class keys' devices used */
  devices: string[];
  /** ids of cards carrying hostile text */
  hostileIds: string[];
  /** queue items written, and how many were claimed */
  queue: { items: number; claimed: number };
}

/** Options of `generateDemoBase`. */
export interface DemoBaseOptions {
  /** cards to write (default 300) */
  cards?: number;
  /** seed of everything random (default 1) */
  seed?: number;
  /** include hostile card text, agent, tag and device names (default true) */
  hostile?: boolean;
  /** write queue items and claims (default true) */
  queue?: boolean;
  /** time of the first card (default 2026-11-20T08:00Z) */
  start?: Date;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A card id whose ULID encodes `time` (ids sort by time, as real ones do). */
function idAt(prefix: string, time: number, random: () => number): string {
  let tail = "";
  for (let i = 0; i < 16; i++) tail += CROCKFORD[Math.floor(random() * 32)];
  return `${prefix}_${encodeTime(time, 10)}${tail}`;
}

interface ClassSpec {
  backend: "cpu" | "webgpu";
  device: string;
  vendor: string;
  budget: number;
  baseline: number;
  sigma: number;
}

const IDEAS: { key: string[]; tags: string[]; values: number[]; what: string }[] = [
  {
    key: ["model", "depth"],
    tags: ["architecture", "depth"],
    values: [4, 6, 8, 10],
    what: "depth",
  },
  {
    key: ["model", "width"],
    tags: ["architecture", "width"],
    values: [256, 384, 512],
    what: "width",
  },
  {
    key: ["optim", "matrixLr"],
    tags: ["lr", "muon"],
    values: [0.02, 0.03, 0.04, 0.05],
    what: "matrix learning rate",
  },
  {
    key: ["optim", "warmdownRatio"],
    tags: ["schedule", "warmdown"],
    values: [0.3, 0.5, 0.7],
    what: "warmdown ratio",
  },
  {
    key: ["totalBatchTokens"],
    tags: ["batch_size"],
    values: [16384, 32768, 65536],
    what: "total batch tokens",
  },
  { key: ["warmupSteps"], tags: ["schedule", "warmup"], values: [0, 2, 5], what: "warm-up steps" },
  {
    key: ["model", "headDim"],
    tags: ["attention", "heads"],
    values: [32, 64, 128],
    what: "head dim",
  },
  {
    key: ["model", "seqLen"],
    tags: ["data", "seq_len"],
    values: [256, 512, 1024],
    what: "context",
  },
  {
    key: ["optim", "weightDecay"],
    tags: ["regularization", "wd"],
    values: [0, 0.05, 0.1],
    what: "weight decay",
  },
  {
    key: ["optim", "embedLr"],
    tags: ["initialization", "embedding"],
    values: [0.3, 0.6],
    what: "embedding lr",
  },
];

const AGENTS = ["claude-a", "claude-b", "codex-1", "codex-2", "gemini-x", "night-shift"];

function gauss(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function setKey(config: Record<string, unknown>, key: string[], value: unknown): void {
  let at = config;
  for (const part of key.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
  at[key[key.length - 1]] = value;
}

function getKey(config: Record<string, unknown>, key: string[]): unknown {
  let at: unknown = config;
  for (const part of key) at = (at as Record<string, unknown> | undefined)?.[part];
  return at;
}

interface Run {
  id: string;
  recipe: string;
  truth: number;
  config: Record<string, unknown>;
}

/** Write a demo base into `dir` (created); see the module docs. */
export async function generateDemoBase(
  dir: string,
  options: DemoBaseOptions = {},
): Promise<DemoBase> {
  const count = options.cards ?? 300;
  const random = seededRandom(options.seed ?? 1);
  const hostile = options.hostile ?? true;
  const classes: ClassSpec[] = [
    {
      backend: "webgpu",
      device: "NVIDIA H100 80GB HBM3",
      vendor: "nvidia",
      budget: 300,
      baseline: 1.02,
      sigma: 0.003,
    },
    {
      backend: "cpu",
      device: "AMD EPYC 9454 48-Core Processor",
      vendor: "AuthenticAMD",
      budget: 300,
      baseline: 1.62,
      sigma: 0.006,
    },
    {
      backend: "webgpu",
      device: "Apple M2 Pro",
      vendor: "apple",
      budget: 120,
      baseline: 1.31,
      sigma: 0.005,
    },
  ];
  if (hostile) {
    classes.push({
      backend: "cpu",
      device: `<script>window.__pwned="device"</script>Xeon\u202e`,
      vendor: "<b>vendor</b>",
      budget: 60,
      baseline: 1.9,
      sigma: 0.01,
    });
  }
  for (const sub of ["cards", "completions", "retractions"]) {
    Deno.mkdirSync(join(dir, sub), { recursive: true });
  }
  const start = (options.start ?? new Date("2026-11-20T08:00:00Z")).getTime();
  const weights = classes.map((_, i) => i === 0 ? 0.4 : i === 1 ? 0.3 : i === 2 ? 0.2 : 0.1);
  const history = classes.map(() => ({
    runs: [] as Run[],
    best: null as Run | null,
    bestSeen: Infinity,
  }));
  const ids: string[] = [];
  const hostileIds: string[] = [];
  let time = start;
  for (let i = 0; i < count; i++) {
    time += Math.floor((4 + random() * 16) * 60_000);
    let pick = random();
    let c = 0;
    while (c < classes.length - 1 && pick >= weights[c]) pick -= weights[c++];
    const spec = classes[c];
    const past = history[c];
    const id = idAt("card", time, random);
    const agent = hostile && i % 53 === 17
      ? `<img src=x onerror="window.__pwned='agent'">`
      : AGENTS[Math.floor(random() * AGENTS.length)];
    const isHostile = hostile && i % 29 === 7;
    let run: Run;
    let hypothesis: string;
    let tags: string[];
    const priors: string[] = [];
    const parent = past.best ??
      (past.runs.length ? past.runs[Math.floor(random() * past.runs.length)] : null);
    if (parent === null) {
      run = {
        id,
        recipe: `r${c}-base`,
        truth: spec.baseline,
        config: {
          model: { depth: 8, width: 512, headDim: 64, seqLen: 512 },
          optim: { matrixLr: 0.04, warmdownRatio: 0.5, weightDecay: 0, embedLr: 0.6 },
          totalBatchTokens: 32768,
          deviceBatchRows: 16,
          warmupSteps: 2,
        },
      };
      hypothesis = "baseline: the default recipe";
      tags = ["baseline"];
    } else if (random() < 0.18) {
      run = { ...parent, id };
      hypothesis = `replicate ${parent.id} with another seed to measure noise`;
      tags = ["replicate"];
      priors.push(parent.id);
    } else {
      const idea = IDEAS[Math.floor(random() * IDEAS.length)];
      const current = getKey(parent.config, idea.key);
      const choices = idea.values.filter((v) => v !== current);
      const value = choices[Math.floor(random() * choices.length)];
      const config = structuredClone(parent.config);
      setKey(config, idea.key, value);
      run = {
        id,
        recipe: `r${c}-${i}`,
        // Diminishing returns: effects shrink as the recipe nears a floor (70% of the baseline).
        truth: parent.truth + (gauss(random) * 0.006 - 0.0015) * (spec.baseline / 1.3) *
            Math.max(0.05, (parent.truth - 0.7 * spec.baseline) / (0.3 * spec.baseline)),
        config,
      };
      hypothesis = `set ${idea.what} to ${value} (was ${
        JSON.stringify(current)
      }) on top of ${parent.id}`;
      tags = [...idea.tags];
      priors.push(parent.id);
      if (random() < 0.15 && past.runs.length > 3) {
        const other = past.runs[Math.floor(random() * past.runs.length)].id;
        if (!priors.includes(other)) priors.push(other);
      }
    }
    const observed = run.truth + gauss(random) * spec.sigma;
    const roll = random();
    let status: Card["status"];
    let valBpb: number | null = Math.round(observed * 1e6) / 1e6;
    if (parent !== null && roll < 0.05) {
      status = "crash";
      valBpb = null;
    } else if (roll < 0.09) status = "pending";
    else if (roll < 0.13) status = "inconclusive";
    else status = valBpb! < past.bestSeen ? "keep" : "discard";
    if (isHostile) {
      hypothesis = `${HOSTILE_TEXTS[hostileIds.length % HOSTILE_TEXTS.length]} (${hypothesis})`;
      tags.push(`<b>tag</b>${hostileIds.length % 3}`);
      run.config = structuredClone(run.config);
      setKey(run.config, [`<img src=x onerror=window.__pwned=1>`], "</script>");
      hostileIds.push(id);
    }
    const lesson = status === "keep" && past.bestSeen === Infinity
      ? "the first kept result of this class"
      : status === "keep"
      ? `helped: ${fixed(observed)} against best ${fixed(past.bestSeen)}`
      : status === "discard" && random() < 0.5
      ? `no gain at this budget (${fixed(observed)})`
      : isHostile
      ? HOSTILE_TEXTS[(hostileIds.length + 3) % HOSTILE_TEXTS.length]
      : undefined;
    const valid = validateCardInput({
      agent,
      session: `nov${20 + Math.floor((time - start) / 86_400_000)}`,
      hypothesis,
      lesson,
      tags,
      prior_cards: priors,
      platform: {
        backend: spec.backend,
        device: spec.device,
        vendor: spec.vendor,
        cores: spec.backend === "cpu" ? 96 : 16,
        memory_gb: 256,
      },
      harness_hash: `h${c}-7f3a9c1e2b`,
      recipe_hash: run.recipe,
      budget_s: spec.budget,
      seed: i,
      commit: (0x1000000 + i * 7919).toString(16),
      config: run.config,
      results: {
        val_bpb: valBpb,
        training_seconds: spec.budget,
        // A few runs on a loaded machine get far fewer steps (the synthesis flags them).
        num_steps: random() < 0.04 ? 610 : 900 + Math.floor(random() * 80),
        total_tokens: 29_000_000,
        num_params: 50_300_000,
        mfu_percent: 38 + random() * 5,
      },
      status,
    });
    const card: Card = { schema: 1, id, timestamp: new Date(time).toISOString(), ...valid };
    await Deno.writeTextFile(
      join(dir, "cards", `${id}.json`),
      `${JSON.stringify(card, null, 2)}\n`,
    );
    ids.push(id);
    past.runs.push(run);
    if (status === "keep") {
      past.best = run;
      past.bestSeen = valBpb!;
    }
    // Half the pending cards are judged later; a few cards are retracted.
    if (status === "pending" && random() < 0.5 && valBpb !== null) {
      const at = time + 30 * 60_000;
      const doneId = idAt("done", at, random);
      await Deno.writeTextFile(
        join(dir, "completions", `${id}.${doneId}.json`),
        JSON.stringify({
          schema: 1,
          id: doneId,
          card_id: id,
          timestamp: new Date(at).toISOString(),
          agent,
          status: "discard",
          lesson: "judged later: within noise of the best",
        }),
      );
    }
    if (random() < 0.02) {
      const at = time + 60 * 60_000;
      const retrId = idAt("retr", at, random);
      await Deno.writeTextFile(
        join(dir, "retractions", `${id}.${retrId}.json`),
        JSON.stringify({
          schema: 1,
          id: retrId,
          card_id: id,
          timestamp: new Date(at).toISOString(),
          agent: "reviewer",
          reason: isHostile ? HOSTILE_TEXTS[0] : "evaluated on the wrong split",
        }),
      );
    }
  }
  let items = 0;
  let claimed = 0;
  if (options.queue ?? true) {
    const ideas = [
      ["replicate the best H100 recipe twice more", "other", 1],
      ["try depth 10 at width 512 on the CPU class", "architecture", 2],
      ["warmdown 0.7 with matrix lr 0.05", "schedule", 2],
      ["halve the total batch on the M2", "batch_size", 3],
      [hostile ? HOSTILE_TEXTS[1] : "weight decay 0.05 on embeddings", "regularization", 4],
      ["seq len 1024 with the fixed eval slice", "data", 5],
    ] as const;
    for (const [hypothesis, category, priority] of ideas) {
      await createItem({ kb: dir }, { hypothesis, category, priority, createdBy: "director" });
      items++;
    }
    for (const agent of ["claude-a", hostile ? `<b onmouseover=alert(1)>codex-1</b>` : "codex-1"]) {
      if ((await claimNext({ kb: dir }, agent)).claimed) claimed++;
    }
  }
  return { dir, ids, devices: classes.map((c) => c.device), hostileIds, queue: { items, claimed } };
}

function fixed(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : "none";
}
