/**
 * `autoresearch judge CARD_ID`: what the numbers say a run is (keep, discard, inconclusive,
 * replicate or crash), with the estimate, the comparison and the noise floor behind it. A thin
 * wrapper over src/knowledge/judge.ts; `write-card --complete ID --from-judge` stores the verdict.
 */
import type { Command } from "@commander-js/extra-typings";
import { judgeCard, renderJudgement } from "../knowledge/judge.ts";
import { checkCardId, openKnowledgeBase } from "../knowledge/store.ts";
import { oneLine } from "../util/text.ts";
import { action, checkBase, jsonOption, kbOption, printJson } from "./common.ts";

/** Add the `judge` command to `program`. */
export function register(program: Command): void {
  program
    .command("judge")
    .description(
      "keep / discard / inconclusive / replicate for a run, from its class, parent and noise floor",
    )
    .argument("<card-id>", "the run to judge")
    .addOption(kbOption())
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
The verdict compares the mean of all runs of the card's recipe with its parent's (else the
baseline's) by Welch's t, corrected for the number of ideas tested in the class (Holm).
Store it with: autoresearch write-card --complete CARD_ID --from-judge`,
    )
    .action(action(async (id, opts) => {
      checkCardId(id, "card-id");
      const kb = openKnowledgeBase(checkBase(opts.kb, true));
      const result = await judgeCard(kb, id);
      if (opts.json) printJson(result);
      else console.log(renderJudgement(result).split("\n").map((line) => oneLine(line)).join("\n"));
    }));
}
