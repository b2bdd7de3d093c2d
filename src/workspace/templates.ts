/**
 * What `autoresearch init` writes, per trainer: the recipe, the agents' instructions and the
 * experiment repository's `.gitignore`. The instructions are the repository's own program.md and
 * director.md, embedded at build time (one source for the clone, the installed tool and the
 * compiled binary). Other trainers (an upstream train.py workspace) register their own template
 * under their own name; `init --trainer NAME` picks one.
 */
import programMd from "../../program.md" with { type: "text" };
import directorMd from "../../director.md" with { type: "text" };
import programUpstreamMd from "../../templates/program-upstream.md" with { type: "text" };
import { DEFAULT_RECIPE_SOURCE } from "../train/recipe_loader.ts";
import { UsageError } from "../util/errors.ts";

/** One kind of research workspace. */
export interface WorkspaceTemplate {
  /** the name `init --trainer` takes */
  trainer: string;
  /** one line for `init --help` */
  description: string;
  /** the file an agent edits (relative to the workspace) */
  recipeFile: string;
  /** files written when missing (relative path -> content); includes the recipe file */
  files: Record<string, string>;
  /**
   * files an external trainer brings (its recipe among them): never written; init refuses a
   * directory that lacks one
   */
  requiredFiles?: string[];
  /** how a run is started and recorded, for init's closing hint (default `autoresearch train`) */
  runHint?: string;
  /** lines of the experiment repository's `.gitignore` (derived and local files) */
  gitignore: string[];
  /** the knowledge base directory, relative to the workspace */
  knowledgeDir: string;
}

/** Derived or local files of any workspace: never committed to the experiment branch. */
export const WORKSPACE_GITIGNORE: readonly string[] = [
  "# the knowledge base is its own git repository: experiment resets never touch it",
  "knowledge/",
  "# derived and local files of runs",
  "run.log",
  "run.json",
  "results.tsv",
  "checkpoints/",
  "index.sqlite*",
  "views/",
  "*.tmp",
  ".tmp-*",
  ".lock",
];

/** The workspace of this project's own trainer (`autoresearch train`). */
export const DEFAULT_TEMPLATE: WorkspaceTemplate = {
  trainer: "default",
  description: "this tool's trainer: recipe.ts (model, optimizer, hyperparameters)",
  recipeFile: "recipe.ts",
  files: {
    "recipe.ts": DEFAULT_RECIPE_SOURCE,
    "program.md": programMd,
    "director.md": directorMd,
  },
  gitignore: [...WORKSPACE_GITIGNORE],
  knowledgeDir: "knowledge",
};

/**
 * A workspace around upstream's PyTorch trainer (a clone of upstream: train.py, prepare.py): its
 * loop with this tool around it (record, judge, sync); see docs/upstream.md.
 */
export const UPSTREAM_TEMPLATE: WorkspaceTemplate = {
  trainer: "upstream",
  description: "upstream's train.py (PyTorch; run in a clone of upstream's repository)",
  recipeFile: "train.py",
  files: { "program.md": programUpstreamMd },
  requiredFiles: ["train.py", "prepare.py"],
  runHint: "uv run train.py > run.log 2>&1, autoresearch record run.log",
  gitignore: [...WORKSPACE_GITIGNORE],
  knowledgeDir: "knowledge",
};

const templates = new Map<string, WorkspaceTemplate>([
  [DEFAULT_TEMPLATE.trainer, DEFAULT_TEMPLATE],
  [UPSTREAM_TEMPLATE.trainer, UPSTREAM_TEMPLATE],
]);

/** Add a workspace template (e.g. for an external trainer); its name must be new. */
export function registerWorkspaceTemplate(template: WorkspaceTemplate): void {
  if (templates.has(template.trainer)) {
    throw new Error(`a workspace template named ${template.trainer} is already registered`);
  }
  if (
    !(template.recipeFile in template.files) &&
    !(template.requiredFiles ?? []).includes(template.recipeFile)
  ) {
    throw new Error(`template ${template.trainer}: files lack its recipe ${template.recipeFile}`);
  }
  templates.set(template.trainer, template);
}

/** Every registered template, by name. */
export function workspaceTemplates(): WorkspaceTemplate[] {
  return [...templates.values()];
}

/** The template for `trainer`, or a UsageError naming the ones that exist. */
export function workspaceTemplate(trainer: string): WorkspaceTemplate {
  const template = templates.get(trainer);
  if (!template) {
    throw new UsageError("--trainer", `must be one of ${[...templates.keys()].join(", ")}`);
  }
  return template;
}
