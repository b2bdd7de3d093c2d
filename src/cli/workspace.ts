/**
 * CLI commands of the workspace layer: `init [DIR]` creates a research workspace (recipe,
 * program.md, director.md, a knowledge base in its own git repository, .gitignore, a baseline
 * commit). Thin wrapper over src/workspace.
 */
import type { Command } from "@commander-js/extra-typings";
import { initWorkspace, workspaceTemplate, workspaceTemplates } from "../workspace/mod.ts";
import { oneLine } from "../util/text.ts";
import { action, jsonOption, printJson } from "./common.ts";

/** Add this group's commands to `program`. */
export function register(program: Command): void {
  program
    .command("init")
    .description(
      "create a research workspace in DIR (default: here): recipe.ts, program.md, director.md, " +
        "knowledge/ (its own git repository), .gitignore, and a git repository with the " +
        "baseline commit. Idempotent: existing files, an edited recipe above all, are kept.",
    )
    .argument("[dir]", "workspace directory (created when missing)", ".")
    .option(
      "--trainer <name>",
      `which trainer the workspace is for (${
        workspaceTemplates().map((t) => t.trainer).join(", ")
      })`,
      "default",
    )
    .option(
      "--remote <url>",
      "the shared knowledge base (any git remote): cloned into knowledge/, or set as its origin",
    )
    .addOption(jsonOption())
    .action(action(async (dir, opts) => {
      const report = await initWorkspace({ dir, trainer: opts.trainer, remote: opts.remote });
      if (opts.json) {
        printJson(report);
        return;
      }
      console.log(`workspace ${oneLine(report.dir)} (trainer ${report.trainer})`);
      for (const file of report.files) {
        const note = file.state === "kept"
          ? " (differs from this version's template: left as is)"
          : "";
        console.log(`  ${file.state.padEnd(9)} ${file.path}${note}`);
      }
      if (report.gitignoreAdded.length > 0) {
        console.log(`  ${report.gitignoreCreated ? "created" : "updated"}   .gitignore`);
      }
      console.log(
        `  ${report.knowledgeRepositoryCreated ? "created" : "unchanged"} knowledge/ ` +
          "(the knowledge base, its own git repository)",
      );
      if (report.commit) console.log(`commit ${report.commit.slice(0, 12)}`);
      console.log(
        `next: cd ${oneLine(dir)} and follow program.md (edit ${report.recipe}, ` +
          `${workspaceTemplate(report.trainer).runHint ?? "autoresearch train"}, judge the card)`,
      );
    }));
}
