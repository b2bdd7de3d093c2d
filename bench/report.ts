/**
 * Report benchmark: time to generate the HTML report of a generated base (several classes,
 * lineage, queue) at 1,000 and 10,000 cards: the whole `autoresearch report` process (Deno
 * start-up and index refresh included; the first run also builds the index), and in-process the
 * reading of the cards and the rendering of the page, with the page's size.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openKnowledgeBase } from "../src/knowledge/mod.ts";
import { collectHtmlReport, renderHtmlReport } from "../src/knowledge/report_html.ts";
import { generateDemoBase } from "../tests/report/demo_base.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const SIZES = (Deno.env.get("BENCH_REPORT_SIZES") ?? "1000,10000").split(",").map(Number);
const REPEATS = 3;

async function cliReport(kb: string, out: string): Promise<number> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "report", "--kb", kb, "--out", out],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (output.code !== 0) throw new Error(new TextDecoder().decode(output.stderr));
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Print the report generation times. */
export async function run(): Promise<void> {
  console.log("cards   first CLI run   warm CLI run   read cards   render page   page size");
  for (const size of SIZES) {
    const dir = await Deno.makeTempDir({ prefix: "bench-report-" });
    try {
      const kb = join(dir, "kb");
      await generateDemoBase(kb, { cards: size, seed: 11 });
      const out = join(dir, "report.html");
      const first = await cliReport(kb, out);
      const warm: number[] = [];
      for (let i = 0; i < REPEATS; i++) warm.push(await cliReport(kb, out));
      const base = openKnowledgeBase(kb);
      const reads: number[] = [];
      const renders: number[] = [];
      let bytes = 0;
      for (let i = 0; i < REPEATS; i++) {
        const t0 = performance.now();
        const input = await collectHtmlReport(base);
        const t1 = performance.now();
        const report = await renderHtmlReport(input);
        reads.push(t1 - t0);
        renders.push(performance.now() - t1);
        bytes = new TextEncoder().encode(report.html).length;
      }
      base.close();
      console.log(
        `${String(size).padStart(6)}  ${first.toFixed(0).padStart(11)} ms  ${
          median(warm).toFixed(0).padStart(10)
        } ms  ${median(reads).toFixed(0).padStart(8)} ms  ${
          median(renders).toFixed(0).padStart(9)
        } ms  ${(bytes / 1024 / 1024).toFixed(1).padStart(6)} MiB`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
}

if (import.meta.main) await run();
