/**
 * Child process for the concurrency tests: writes cards into a base through the library,
 * refreshing the shared index as it goes (so refreshes race too).
 * Usage: writer_proc.ts <kb dir> <count> [big]   (count 0 = forever)
 */
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { sampleInput } from "./helpers.ts";

const [dir, countArg, mode] = Deno.args;
const count = Number(countArg);
const kb = openKnowledgeBase(dir);
const bigDiff = mode === "big" ? "+ a line of recipe diff\n".repeat(8000) : undefined;
for (let i = 0; count === 0 || i < count; i++) {
  await kb.writeCard(sampleInput({
    agent: `writer-${Deno.pid}`,
    hypothesis: `card ${i} from ${Deno.pid}`,
    seed: i,
    recipe_diff: bigDiff,
  }));
  if (mode !== "big" && i % 10 === 9) await kb.listCards();
}
kb.close();
