/**
 * `autoresearch init [DIR]`: a research workspace an agent can work in with only the tool
 * installed. DIR gets the recipe, program.md, director.md, a `.gitignore` for derived files and a
 * knowledge base in its own git repository (ignored by the experiment repository, so no
 * `git reset` or checkout of an experiment can lose a record); DIR itself becomes a git
 * repository whose first commit is the unmodified baseline. Running it again changes nothing that
 * exists: an edited recipe (or any edited file) is kept, never overwritten; only missing pieces
 * are added.
 */
import { basename, dirname, join, resolve } from "node:path";
import { ensureBase } from "../knowledge/base.ts";
import { UsageError } from "../util/errors.ts";
import { commitPaths, git, gitOrThrow, hasCommits, isRepositoryRoot } from "./git.ts";
import { type WorkspaceTemplate, workspaceTemplate } from "./templates.ts";

/** Options of `initWorkspace`. */
export interface InitOptions {
  /** the workspace directory (created when missing) */
  dir: string;
  /** which template (default "default": this tool's trainer) */
  trainer?: string;
  /** the shared knowledge base's git remote: cloned when knowledge/ is missing, else its origin */
  remote?: string;
}

/** What happened to one file of the template. */
export interface InitFile {
  /** path relative to the workspace */
  path: string;
  /** created now; unchanged (already the template's); kept (exists and differs: never replaced) */
  state: "created" | "unchanged" | "kept";
}

/** What `initWorkspace` did. */
export interface InitReport {
  /** absolute workspace directory */
  dir: string;
  /** the template used */
  trainer: string;
  /** the file an agent edits */
  recipe: string;
  /** the template's files and what happened to each */
  files: InitFile[];
  /** lines added to the workspace's .gitignore (empty when it already had them all) */
  gitignoreAdded: string[];
  /** true when the workspace had no .gitignore before */
  gitignoreCreated: boolean;
  /** true when the workspace's git repository was created now */
  repositoryCreated: boolean;
  /** the knowledge base directory (absolute) */
  knowledge: string;
  /** true when the knowledge base's own repository was created now */
  knowledgeRepositoryCreated: boolean;
  /** the commit made now in the workspace (the baseline on a new one), or null */
  commit: string | null;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile) throw new UsageError(path, "exists and is not a regular file");
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** `dir` is missing or a real directory (not a file, not a link); `field` names it in errors. */
async function checkDirectory(dir: string, field = "DIR"): Promise<void> {
  try {
    const info = await Deno.lstat(dir);
    if (!info.isDirectory) {
      throw new UsageError(field, `${dir} exists and is not a directory (a link is refused too)`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Lines of `wanted` that `existing` lacks (comments only count when their rule is new). */
function missingLines(existing: string, wanted: readonly string[]): string[] {
  const have = new Set(existing.split(/\r?\n/).map((line) => line.trim()));
  const rules = wanted.filter((line) => !line.startsWith("#") && !have.has(line));
  if (rules.length === 0) return [];
  return wanted.filter((line) => line.startsWith("#") || rules.includes(line));
}

/**
 * The knowledge base in its own repository: cloned from `remote` when given and missing (a base
 * other machines already share), else created; an existing repository gets `remote` as its
 * origin when it has none. Returns true when the repository was created or cloned now.
 */
async function initKnowledge(dir: string, remote?: string): Promise<boolean> {
  let created = false;
  if (remote !== undefined && !await exists(dir)) {
    const cloned = await git(dirname(dir), "clone", "-q", "--", remote, basename(dir));
    if (!cloned.ok) {
      throw new UsageError("--remote", `cannot clone ${remote}: ${cloned.stderr.split("\n")[0]}`);
    }
    created = true;
  }
  await ensureBase(dir);
  if (!await isRepositoryRoot(dir)) {
    await gitOrThrow(dir, "init", "-q", "-b", "main");
    created = true;
  }
  if (remote !== undefined) {
    const origin = await git(dir, "remote", "get-url", "origin");
    if (!origin.ok) await gitOrThrow(dir, "remote", "add", "origin", remote);
    else if (origin.stdout !== remote) {
      throw new UsageError("--remote", `${dir} already shares with origin ${origin.stdout}`);
    }
  }
  if (!await hasCommits(dir)) {
    await commitPaths(dir, [".gitignore"], "knowledge base: created by autoresearch init");
  }
  return created;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Create (or complete) a research workspace; see the module docs. */
export async function initWorkspace(options: InitOptions): Promise<InitReport> {
  const template: WorkspaceTemplate = workspaceTemplate(options.trainer ?? "default");
  const dir = resolve(options.dir);
  await checkDirectory(dir);
  // Everything that could refuse is checked before the first write.
  for (const path of template.requiredFiles ?? []) {
    if ((await readIfExists(join(dir, path))) === null) {
      throw new UsageError(
        "DIR",
        `${dir} has no ${path}: init --trainer ${template.trainer} runs where the trainer is ` +
          `(${template.description})`,
      );
    }
  }
  const existing = new Map<string, string | null>();
  for (const path of Object.keys(template.files)) {
    existing.set(path, await readIfExists(join(dir, path)));
  }
  const ignorePath = join(dir, ".gitignore");
  const ignoreBefore = await readIfExists(ignorePath);
  const knowledge = join(dir, template.knowledgeDir);
  await checkDirectory(knowledge, template.knowledgeDir); // a link there would take the records
  // A base tracked by the experiment repository would lose records on every reset (a clone of
  // this project, for one): such a directory is not made a workspace.
  if (await exists(dir) && await isRepositoryRoot(dir)) {
    const tracked = await git(dir, "ls-files", "--", template.knowledgeDir);
    if (tracked.ok && tracked.stdout !== "") {
      throw new UsageError(
        "DIR",
        `${dir} tracks ${template.knowledgeDir}/ in its own history, where a git reset would ` +
          "lose records; make the workspace in another directory",
      );
    }
  }

  if (
    options.remote !== undefined && (options.remote.trim() === "" || options.remote.startsWith("-"))
  ) {
    throw new UsageError("--remote", "must be a git URL or path");
  }
  const dirCreated = !await exists(dir);
  await Deno.mkdir(dir, { recursive: true });
  // The base first: a remote that cannot be cloned leaves nothing behind.
  let knowledgeRepositoryCreated: boolean;
  try {
    knowledgeRepositoryCreated = await initKnowledge(knowledge, options.remote);
  } catch (error) {
    if (dirCreated) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  let repositoryCreated = false;
  if (!await isRepositoryRoot(dir)) {
    await gitOrThrow(dir, "init", "-q", "-b", "main");
    repositoryCreated = true;
  }
  const files: InitFile[] = [];
  for (const [path, content] of Object.entries(template.files)) {
    const before = existing.get(path);
    if (before === null || before === undefined) {
      await Deno.writeTextFile(join(dir, path), content, { createNew: true });
      files.push({ path, state: "created" });
    } else {
      files.push({ path, state: before === content ? "unchanged" : "kept" });
    }
  }
  const gitignoreAdded = missingLines(ignoreBefore ?? "", template.gitignore);
  if (gitignoreAdded.length > 0) {
    const prefix = ignoreBefore === null || ignoreBefore === "" || ignoreBefore.endsWith("\n")
      ? ""
      : "\n";
    await Deno.writeTextFile(ignorePath, `${prefix}${gitignoreAdded.join("\n")}\n`, {
      append: true,
    });
  }

  // Commit what init added: on a new repository this is the baseline.
  const added = files.filter((file) => file.state === "created").map((file) => file.path);
  if (gitignoreAdded.length > 0) added.push(".gitignore");
  let commit: string | null = null;
  if (added.length > 0) {
    const first = !await hasCommits(dir);
    commit = await commitPaths(
      dir,
      added,
      first
        ? `baseline: autoresearch init (${template.trainer} recipe, unmodified)`
        : `autoresearch init: add ${added.join(", ")}`,
    );
  }
  return {
    dir,
    trainer: template.trainer,
    recipe: template.recipeFile,
    files,
    gitignoreAdded,
    gitignoreCreated: ignoreBefore === null,
    repositoryCreated,
    knowledge,
    knowledgeRepositoryCreated,
    commit,
  };
}
