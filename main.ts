/**
 * `autoresearch`: the command-line entry. Builds the command tree from src/cli/ and runs it;
 * nothing else lives here.
 */
import { Command, type CommanderError } from "@commander-js/extra-typings";
import { register as registerKnowledge } from "./src/cli/knowledge.ts";
import { register as registerDirector } from "./src/cli/director.ts";
import { register as registerTrain } from "./src/cli/train.ts";
import { register as registerPlatform } from "./src/cli/platform.ts";
import { register as registerExperiment } from "./src/cli/experiment.ts";
import { register as registerWorkspace } from "./src/cli/workspace.ts";
import { register as registerRecord } from "./src/cli/record.ts";
import { register as registerSync } from "./src/cli/sync.ts";
import { register as registerJudge } from "./src/cli/judge.ts";
import { register as registerReport } from "./src/cli/report.ts";
import { fail, installTerminalGuard } from "./src/cli/common.ts";
import { terminalText } from "./src/util/text.ts";
import { probeMain, SGEMM_PROBE_ARG } from "./src/engine/cpu/gemm/probe.ts";
import { VERSION } from "./src/version.ts";

/** Build the full `autoresearch` command tree. */
export function buildProgram(): Command {
  const program = new Command()
    .name("autoresearch")
    .description("Autonomous LLM research: a WebGPU GPT trainer and a shared knowledge base.")
    .version(VERSION)
    .showHelpAfterError("(add --help for usage)")
    // Commander echoes arguments in its errors: the same escaping rule as every other printer.
    .configureOutput({
      writeOut: (text) => Deno.stdout.writeSync(new TextEncoder().encode(terminalText(text))),
      writeErr: (text) => Deno.stderr.writeSync(new TextEncoder().encode(terminalText(text))),
    })
    .exitOverride((error: CommanderError) => {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") {
        Deno.exit(0);
      }
      if (error.code === "commander.help") Deno.exit(0);
      Deno.exit(2);
    });
  registerKnowledge(program);
  registerJudge(program);
  registerDirector(program);
  registerTrain(program);
  registerPlatform(program);
  registerExperiment(program);
  registerWorkspace(program);
  registerRecord(program);
  registerSync(program);
  registerReport(program);
  return program;
}

if (import.meta.main && Deno.args[0] === SGEMM_PROBE_ARG) {
  // The compiled binary times one sgemm candidate in a fresh process (see gemm/select.ts).
  await probeMain(Deno.args.slice(1));
  Deno.exit(0);
} else if (import.meta.main) {
  installTerminalGuard();
  try {
    await buildProgram().parseAsync(Deno.args, { from: "user" });
  } catch (error) {
    fail(error);
  }
}
