/**
 * The director of the all-night simulation: at a fixed rhythm, plans with the real planner and
 * keeps the queue topped up (`keepFull`), validating every change against the recipe as the CLI
 * does. Logs each round as a JSON line. Runs until the stop file exists.
 * Usage: deno run -A night_director.ts KB STOP_FILE LOG_FILE PERIOD_MS KEEP_FULL
 */
import { planExperiments } from "../../src/director/mod.ts";
import { recipeValidator } from "../../src/cli/recipe_check.ts";
import { BASELINE } from "./night_surface.ts";

const [kb, stopFile, logFile, periodText, keepText] = Deno.args;
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
const validateChange = recipeValidator();
while (!await exists(stopFile)) {
  const started = Date.now();
  const result = await planExperiments({
    kb,
    keepFull: Number(keepText),
    limit: 12,
    agent: "director",
    validateChange,
    recipeConfig: BASELINE,
  });
  await Deno.writeTextFile(
    logFile,
    JSON.stringify({
      at: started,
      ms: Date.now() - started,
      enqueued: result.suggestions.filter((s) => s.enqueued).length,
      suggested: result.suggestions.length,
      skipped: result.suggestions.filter((s) => s.skipped).map((s) => s.skipped),
      steps: result.stepsPerRun,
    }) + "\n",
    { append: true },
  );
  await new Promise((resolve) => setTimeout(resolve, Number(periodText)));
}
