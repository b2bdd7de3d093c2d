/**
 * Fixtures for the record/import tests: upstream's summary block, a scratch git repository with
 * a small Python "trainer" that prints it (or fails in the ways real runs fail), a seeded
 * results.tsv of a realistic overnight effort, and a base in the commons fork's format.
 */
import { join } from "node:path";
import { seededRandom } from "../../src/util/random.ts";

/** The block upstream's train.py prints at the end of a run (upstream's reference H100 run). */
export const SUMMARY_BLOCK = `---
val_bpb:          0.997900
training_seconds: 300.1
total_seconds:    325.9
peak_vram_mb:     45060.2
mfu_percent:      39.80
total_tokens_M:   499.6
num_steps:        953
num_params_M:     50.3
depth:            8
`;

/** The numbers of SUMMARY_BLOCK. */
export const UPSTREAM_SUMMARY = {
  val_bpb: 0.9979,
  training_seconds: 300.1,
  total_seconds: 325.9,
  peak_vram_mb: 45060.2,
  mfu_percent: 39.8,
  total_tokens_M: 499.6,
  num_steps: 953,
  num_params_M: 50.3,
  depth: 8,
};

/**
 * A tiny stand-in for upstream's train.py: prints progress with `\r`, then the summary block;
 * `MODE` picks a failure (fail: FAIL and exit 1 as upstream does on a NaN loss; traceback: an
 * uncaught error; noblock: killed before the end; noisy: extra lines around the block).
 * `VAL_BPB` sets the result. The agent edits `DEPTH`.
 */
export const TRAINER = `import os, sys
DEPTH = 8
MODE = os.environ.get("MODE", "ok")
VAL_BPB = float(os.environ.get("VAL_BPB", "0.9979"))
for step in range(3):
    print(f"\\rstep {step:05d} | loss: {9.0 - step:.4f}", end="", flush=True)
print()
if MODE == "fail":
    print("step 00003 | loss: nan")
    print("FAIL")
    sys.exit(1)
if MODE == "traceback":
    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
if MODE == "noblock":
    sys.exit(0)
if MODE == "noisy":
    print("UserWarning: flash attention not available, using sdpa")
print("---")
print(f"val_bpb:          {VAL_BPB:.6f}")
print("training_seconds: 300.1")
print("total_seconds:    325.9")
print("peak_vram_mb:     45060.2")
print("mfu_percent:      39.80")
print("total_tokens_M:   499.6")
print("num_steps:        953")
print(f"num_params_M:     {DEPTH * 6.3:.1f}")
print(f"depth:            {DEPTH}")
if MODE == "noisy":
    print("wandb: run finished")
    print("")
`;

/** A stand-in for upstream's prepare.py: only the constants our hashes read. */
export const HARNESS = "MAX_SEQ_LEN = 2048\nTIME_BUDGET = 300\nEVAL_TOKENS = 40 * 524288\n";

/** True when python3 runs here (the trainer tests need it). */
export const HAS_PYTHON: boolean = (() => {
  try {
    return new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Run git in `dir`; throws with its stderr when it fails. */
export function git(dir: string, ...args: string[]): string {
  const out = new Deno.Command("git", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: {
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  }).outputSync();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text.trim();
}

/** A scratch upstream-style repository: train.py + prepare.py committed as the baseline. */
export async function scratchRepo(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "upstream-repo-" });
  git(dir, "init", "-q", "-b", "autoresearch/nov27");
  await Deno.writeTextFile(join(dir, "train.py"), TRAINER);
  await Deno.writeTextFile(join(dir, "prepare.py"), HARNESS);
  await Deno.writeTextFile(join(dir, ".gitignore"), "run.log\nresults.tsv\nknowledge/\n");
  git(dir, "add", ".");
  git(dir, "commit", "-q", "-m", "baseline");
  return dir;
}

/** Run the trainer as upstream's loop does: `python3 train.py > run.log 2>&1`. */
export async function runTrainer(dir: string, env: Record<string, string> = {}): Promise<void> {
  const child = new Deno.Command("sh", {
    args: ["-c", "python3 train.py > run.log 2>&1"],
    cwd: dir,
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await child.status;
}

/** One row of a generated results.tsv, with what the test expects of its card. */
export interface GeneratedRow {
  commit: string;
  valBpb: number;
  memoryGb: number;
  status: "keep" | "discard" | "crash";
  description: string;
}

const IDEAS = [
  "increase matrix LR to 0.05",
  "depth 10 with width 640",
  "warmdown ratio 0.6",
  "switch MLP to SwiGLU",
  "halve total batch to 2^18",
  "window pattern SSL",
  "value embeddings on every layer",
  "weight decay 0.1",
  "softcap 20",
  "rope base 50000",
  "embedding LR 0.8",
  "muon momentum 0.9 flat",
];

/**
 * A realistic overnight effort: a baseline, then `experiments` tries of which about one in six
 * is kept (each keep improves on the best), one in twelve crashes (val_bpb 0.000000, memory
 * 0.0), the rest are discarded (worse than the best). Seeded: the same rows every time.
 */
export function generateEffort(experiments: number, seed: number): GeneratedRow[] {
  const random = seededRandom(seed);
  const hex = () =>
    Array.from({ length: 7 }, () => "0123456789abcdef"[Math.floor(random() * 16)]).join("");
  let best = 0.9979;
  const rows: GeneratedRow[] = [{
    commit: hex(),
    valBpb: best,
    memoryGb: 44.0,
    status: "keep",
    description: "baseline",
  }];
  for (let i = 0; i < experiments; i++) {
    const roll = random();
    const idea = `${IDEAS[Math.floor(random() * IDEAS.length)]} (try ${i + 1})`;
    if (roll < 0.08) {
      rows.push({ commit: hex(), valBpb: 0, memoryGb: 0, status: "crash", description: idea });
    } else if (roll < 0.26) {
      best = Number((best - 0.0005 - random() * 0.002).toFixed(6));
      rows.push({
        commit: hex(),
        valBpb: best,
        memoryGb: Number((44 + random() * 4).toFixed(1)),
        status: "keep",
        description: idea,
      });
    } else {
      rows.push({
        commit: hex(),
        valBpb: Number((best + 0.0002 + random() * 0.01).toFixed(6)),
        memoryGb: Number((44 + random() * 4).toFixed(1)),
        status: "discard",
        description: idea,
      });
    }
  }
  return rows;
}

/** The text of a results.tsv with these rows (upstream's header and formatting). */
export function tsvText(rows: GeneratedRow[]): string {
  const lines = rows.map((r) =>
    [r.commit, r.valBpb.toFixed(6), r.memoryGb.toFixed(1), r.status, r.description].join("\t")
  );
  return `commit\tval_bpb\tmemory_gb\tstatus\tdescription\n${lines.join("\n")}\n`;
}
