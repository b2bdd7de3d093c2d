/**
 * Sharing a knowledge base through git, with the real `git` binary: commit the new record files,
 * fetch, rebase onto the remote (`git pull --rebase`), push, and retry a rejected push with
 * backoff and jitter. Git is the only server: any remote works (a bare repository on a shared
 * disk, GitHub), and a base with no remote is committed locally.
 *
 * Only new files are ever shared: a record is append-only and named uniquely across machines,
 * so the rebase never conflicts. A record changed or deleted locally is reported, never
 * committed; one changed or deleted upstream is reported too. Derived files (index, views,
 * locks, temp files) are never staged, even in a base whose `.gitignore` is missing.
 */
import { dirname, join, relative, resolve } from "node:path";
import { UsageError } from "../util/errors.ts";
import { withLock } from "../util/lock.ts";
import { ensureBase } from "./base.ts";
import { QUEUE_EVENT_KINDS } from "./records.ts";

/** Exit code of `sync` when the remote cannot be reached (the records are committed locally). */
export const EXIT_OFFLINE = 3;

/** One file a sync committed, received or sent, classified by what it records. */
export interface RecordChange {
  /**
   * card, completion, retraction, item, claim, heartbeat, release, complete, drop, lost;
   * config (a `.gitignore`); other
   */
  kind: string;
  /** The record's id as its file name gives it (the card id for cards). */
  id: string;
  /** Path relative to the base. */
  path: string;
}

/** A file that arrived but cannot be used as a record (reported, skipped by every reader). */
export interface BadRecord {
  /** Path relative to the base. */
  path: string;
  /** Why. */
  reason: string;
}

/** What one `syncBase` did. */
export interface SyncReport {
  /** The remote's name (`origin`), or null when the repository has none. */
  remote: string | null;
  /** The branch shared, e.g. `main`. */
  branch: string;
  /** True when the remote could not be reached: everything stays committed locally. */
  offline: boolean;
  /** Why the remote could not be reached (first line of git's message). */
  offlineReason: string | null;
  /** New record files committed by this sync. */
  committed: RecordChange[];
  /** Record files that came in from the remote. */
  incoming: RecordChange[];
  /** Record files pushed to the remote by this sync. */
  outgoing: RecordChange[];
  /** Record files committed here and not yet on the remote (offline, or no remote). */
  unpushed: RecordChange[];
  /** Records changed or deleted (locally: not committed; upstream: applied, reported). */
  rewritten: { path: string; where: "local" | "remote"; change: "modified" | "deleted" }[];
  /** Incoming files that are not plain files (symlinks, submodules): reported, never read. */
  refused: BadRecord[];
  /** Push attempts (0 when nothing was pushed). */
  pushAttempts: number;
  /** Commit at HEAD after the sync. */
  head: string;
}

/** Options of `syncBase`. */
export interface SyncOptions {
  /** The knowledge base directory (the repository's top level or a directory inside it). */
  kb: string;
  /** Who syncs, for the commit message. */
  agent: string;
  /** Which machine, for the commit message. */
  host: string;
  /** Push attempts before giving up on a busy remote (default 8). */
  attempts?: number;
  /** First backoff delay in ms; doubles per attempt, with jitter (default 100). */
  backoffMs?: number;
  /**
   * Run `body` while nothing else in this base may read-modify-write records (the rebase briefly
   * removes and re-creates local files). The caller adds its own locks (the queue's pick lock).
   */
  exclusive?: <T>(body: () => Promise<T>) => Promise<T>;
  /** Seconds before one git command against the remote is abandoned as offline (default 120). */
  remoteTimeoutS?: number;
}

/** A git failure that is not a network problem (conflict, broken repository). Exit code 1. */
export class GitError extends Error {
  /** Always 1. */
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = "GitError";
  }
}

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** Run `git args` in `cwd` (never prompts for credentials); `timeoutS` kills a hung call. */
async function git(cwd: string, args: string[], timeoutS?: number): Promise<GitResult> {
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };
  if (!Deno.env.get("GIT_SSH_COMMAND")) {
    env.GIT_SSH_COMMAND = "ssh -o BatchMode=yes -o ConnectTimeout=20";
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("git", {
      args,
      cwd,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError("git", "the git program is not installed (sync needs it)");
    }
    throw error;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeoutS !== undefined) {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, timeoutS * 1000);
  }
  try {
    const output = await child.output();
    return {
      code: output.signal ? 124 : output.code,
      stdout: decoder.decode(output.stdout),
      stderr: output.signal ? `timed out after ${timeoutS} s` : decoder.decode(output.stderr),
    };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** `git args` that must succeed: its stdout, or a GitError with git's message. */
async function gitOk(cwd: string, args: string[]): Promise<string> {
  const result = await git(cwd, args);
  if (result.code !== 0) {
    throw new GitError(`git ${args[0]} failed: ${firstLine(result.stderr || result.stdout)}`);
  }
  return result.stdout;
}

function firstLine(text: string): string {
  return text.split("\n").map((line) => line.trim()).find((line) => line !== "") ?? "(no output)";
}

/** Where the base sits in its repository. */
interface Repo {
  /** The base directory. */
  kb: string;
  /** The git directory (`.git`), for the local sync lock. */
  gitDir: string;
}

/** The repository around `kb`, or a UsageError that says how to make one. */
async function openRepo(kb: string): Promise<Repo> {
  try {
    if (!Deno.statSync(kb).isDirectory) throw new UsageError("kb", `${kb} is not a directory`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    // A base inside a larger repository (a workspace) may arrive with the first pull.
    const parent = dirname(resolve(kb));
    const inside = await git(parent, ["rev-parse", "--absolute-git-dir"]).catch(() => null);
    if (inside === null || inside.code !== 0) {
      throw new UsageError(
        "kb",
        `${kb} does not exist (to join a shared base, clone it there: git clone URL ${kb})`,
      );
    }
    await Deno.mkdir(kb);
  }
  const result = await git(kb, ["rev-parse", "--absolute-git-dir"]);
  if (result.code !== 0) {
    throw new UsageError(
      "kb",
      `${kb} is not a git repository: to join a shared base, clone it (git clone URL ${kb}); ` +
        `to share this one, run autoresearch sync --init --kb ${kb} [--remote URL]`,
    );
  }
  return { kb, gitDir: result.stdout.trim() };
}

/** Path patterns of derived files, which are never shared whatever `.gitignore` says. */
function isDerived(path: string): boolean {
  const parts = path.split("/");
  const name = parts[parts.length - 1];
  return parts[0] === "views" || /^index\.sqlite/.test(parts[0]) || name === ".lock" ||
    name.startsWith(".tmp-") || name.endsWith(".tmp");
}

const QUEUE_EVENT = /^([a-z]+_[0-9A-Z]{26})\.\d{4,}\.([a-z]+)\.(?:[A-Za-z0-9_-]+\.)?([^.]+)\.json$/;

/** What a path in the base records, and its id. */
export function classifyPath(path: string): RecordChange {
  const parts = path.split("/");
  const name = parts[parts.length - 1];
  const stem = name.endsWith(".json") ? name.slice(0, -5) : name;
  const linked = stem.split(".");
  if (parts.length === 2 && parts[0] === "cards") return { kind: "card", id: stem, path };
  if (parts.length === 2 && parts[0] === "completions") {
    return { kind: "completion", id: linked[0], path };
  }
  if (parts.length === 2 && parts[0] === "retractions") {
    return { kind: "retraction", id: linked[0], path };
  }
  if (parts.length === 3 && parts[0] === "queue" && parts[1] === "items") {
    return { kind: "item", id: stem, path };
  }
  if (parts.length === 3 && parts[0] === "queue" && parts[1] === "events") {
    const match = QUEUE_EVENT.exec(name);
    if (match) return { kind: match[2], id: match[1], path };
  }
  if (name === ".gitignore") return { kind: "config", id: path, path };
  return { kind: "other", id: name, path };
}

interface RawChange {
  status: string;
  mode: string;
  path: string;
}

/** `git diff --raw` between two commits (or the index), paths relative to the base. */
async function rawDiff(repo: Repo, args: string[]): Promise<RawChange[]> {
  const out = await gitOk(repo.kb, [
    "diff",
    "--raw",
    "-z",
    "--no-renames",
    "--no-abbrev",
    "--relative",
    ...args,
    "--",
    ".",
  ]);
  const fields = out.split("\0");
  const changes: RawChange[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const meta = fields[i].replace(/^:/, "").split(" ");
    if (meta.length < 5) continue;
    changes.push({ mode: meta[1], status: meta[4][0], path: fields[i + 1] });
  }
  return changes;
}

const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

async function revParse(repo: Repo, ref: string): Promise<string | null> {
  const result = await git(repo.kb, ["rev-parse", "--verify", "-q", `${ref}^{commit}`]);
  return result.code === 0 ? result.stdout.trim() : null;
}

/** Files added between `from` (null: the empty tree) and `to`, classified. */
async function addedBetween(repo: Repo, from: string | null, to: string): Promise<RawChange[]> {
  return await rawDiff(repo, [from ?? EMPTY_TREE, to]);
}

async function identityArgs(repo: Repo, agent: string): Promise<string[]> {
  const name = await git(repo.kb, ["config", "user.name"]);
  const email = await git(repo.kb, ["config", "user.email"]);
  const args: string[] = [];
  if (name.code !== 0 || name.stdout.trim() === "") args.push("-c", `user.name=${agent}`);
  if (email.code !== 0 || email.stdout.trim() === "") {
    args.push("-c", "user.email=autoresearch@localhost");
  }
  return args;
}

/** The remote and branch to share: the upstream of the current branch, else `origin`. */
async function upstreamOf(
  repo: Repo,
  timeoutS: number,
): Promise<{ remote: string | null; branch: string; local: string }> {
  const branch = (await git(repo.kb, ["symbolic-ref", "--short", "-q", "HEAD"])).stdout.trim();
  if (branch === "") {
    throw new UsageError("kb", "the base's repository has no branch checked out (detached HEAD)");
  }
  const remoteOf = await git(repo.kb, ["config", `branch.${branch}.remote`]);
  const mergeOf = await git(repo.kb, ["config", `branch.${branch}.merge`]);
  if (remoteOf.code === 0 && remoteOf.stdout.trim() !== "" && remoteOf.stdout.trim() !== ".") {
    const merged = mergeOf.stdout.trim().replace(/^refs\/heads\//, "");
    return { remote: remoteOf.stdout.trim(), branch: merged || branch, local: branch };
  }
  const remotes = (await gitOk(repo.kb, ["remote"])).split("\n").filter((r) => r !== "");
  if (remotes.length === 0) return { remote: null, branch, local: branch };
  const remote = remotes.includes("origin") ? "origin" : remotes[0];
  // Not pushed yet: share the branch the remote already has (a clone of an empty repository
  // names its branch after the local default, which may differ between machines).
  const heads = await git(repo.kb, ["ls-remote", "--symref", remote, "HEAD"], timeoutS);
  const symref = /^ref: refs\/heads\/(\S+)\s+HEAD$/m.exec(heads.stdout);
  const hasCommits = /^[0-9a-f]{40}\s+HEAD$/m.test(heads.stdout);
  return { remote, branch: symref && hasCommits ? symref[1] : branch, local: branch };
}

function isRejection(stderr: string): boolean {
  return /\[rejected\]|non-fast-forward|fetch first|failed to update ref|cannot lock ref|remote rejected.*(?:lock|ref)|stale info/i
    .test(stderr);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function toChanges(raw: RawChange[]): RecordChange[] {
  return raw.filter((change) => change.status === "A" && !isDerived(change.path))
    .map((change) => classifyPath(change.path));
}

/**
 * Commit the base's new record files, bring in the remote's (fetch + rebase), push, and retry a
 * rejected push with exponential backoff and jitter. Holds a lock in the git directory, so two
 * syncs of one clone run one after the other. Offline (remote unreachable): everything is
 * committed locally and the report says `offline`. Throws a UsageError when `kb` is not in a git
 * repository, a GitError when git fails otherwise (a rebase is aborted, never left half done).
 */
export async function syncBase(options: SyncOptions): Promise<SyncReport> {
  const repo = await openRepo(options.kb);
  // A sync waits for the clone's previous one, which may spend minutes on a slow network.
  const wait = 4 * (options.remoteTimeoutS ?? 120);
  return await withLock(
    join(repo.gitDir, "autoresearch-sync.lock"),
    () => syncLocked(repo, options),
    { timeoutS: wait },
  );
}

async function syncLocked(repo: Repo, options: SyncOptions): Promise<SyncReport> {
  // The rebase briefly removes and re-creates local records: judging and retracting (the base's
  // lock) and whatever the caller guards wait for it.
  const exclusive = <T>(body: () => Promise<T>) =>
    withLock(
      join(repo.kb, ".lock"),
      () => options.exclusive ? options.exclusive(body) : body(),
      { base: repo.kb },
    );
  const timeoutS = options.remoteTimeoutS ?? 120;
  const report: SyncReport = {
    remote: null,
    branch: "",
    offline: false,
    offlineReason: null,
    committed: [],
    incoming: [],
    outgoing: [],
    unpushed: [],
    rewritten: [],
    refused: [],
    pushAttempts: 0,
    head: "",
  };
  await ensureBase(repo.kb);
  const identity = await identityArgs(repo, options.agent);

  // 1. Commit every new record file (untracked, not ignored, not derived); report local rewrites.
  const untracked = (await gitOk(repo.kb, ["ls-files", "-z", "--others", "--exclude-standard"]))
    .split("\0").filter((path) => path !== "" && !isDerived(path));
  for (const change of await rawDiff(repo, [])) {
    if (change.status === "M" || change.status === "D" || change.status === "T") {
      report.rewritten.push({
        path: change.path,
        where: "local",
        change: change.status === "D" ? "deleted" : "modified",
      });
    }
  }
  if (untracked.length > 0) {
    // One `git add` however many files: the paths go through a file (NUL-separated).
    const list = join(repo.gitDir, "autoresearch-sync-add");
    await Deno.writeTextFile(list, untracked.join("\0"));
    try {
      await gitOk(repo.kb, [
        "--literal-pathspecs",
        "add",
        `--pathspec-from-file=${list}`,
        "--pathspec-file-nul",
      ]);
    } finally {
      await Deno.remove(list).catch(() => {});
    }
    report.committed = untracked.map(classifyPath);
    await gitOk(repo.kb, [
      ...identity,
      "commit",
      "-q",
      "--no-verify",
      "-m",
      commitMessage(options, report.committed),
    ]);
  }

  const { remote, branch, local } = await upstreamOf(repo, timeoutS);
  report.remote = remote;
  report.branch = branch;
  const tracking = remote === null ? null : `refs/remotes/${remote}/${branch}`;
  const unpushedSince = async () =>
    toChanges(
      await addedBetween(repo, tracking ? await revParse(repo, tracking) : null, "HEAD"),
    );
  if (remote === null) {
    report.unpushed = await unpushedSince();
    report.head = (await revParse(repo, "HEAD")) ?? "";
    return report;
  }

  // 2. Fetch and rebase; 3. push; a rejected push fetches, rebases and tries again.
  const attempts = options.attempts ?? 8;
  const backoff = options.backoffMs ?? 100;
  const seenIncoming = new Set<string>();
  for (let attempt = 1;; attempt++) {
    const fetched = await git(repo.kb, ["fetch", "-q", remote, branch], timeoutS);
    if (fetched.code !== 0 && !/couldn't find remote ref/i.test(fetched.stderr)) {
      report.offline = true;
      report.offlineReason = firstLine(fetched.stderr);
      break;
    }
    const upstream = fetched.code === 0 ? await revParse(repo, "FETCH_HEAD") : null;
    if (upstream !== null) {
      await gitOk(repo.kb, ["update-ref", tracking!, upstream]);
      // No common commit: two clones of an empty remote each began the base. Their commits only
      // add files, so the rebase below replays ours onto the remote's all the same.
      const base = (await git(repo.kb, ["merge-base", "HEAD", upstream])).stdout.trim();
      for (const change of await rawDiff(repo, [base || EMPTY_TREE, upstream])) {
        if (change.status === "A" && !isDerived(change.path)) {
          if (seenIncoming.has(change.path)) continue;
          seenIncoming.add(change.path);
          if (change.mode !== "100644" && change.mode !== "100755") {
            report.refused.push({
              path: change.path,
              reason: change.mode === "120000" ? "a symbolic link, not a record" : "not a file",
            });
          } else report.incoming.push(classifyPath(change.path));
        } else if (change.status !== "A") {
          report.rewritten.push({
            path: change.path,
            where: "remote",
            change: change.status === "D" ? "deleted" : "modified",
          });
        }
      }
      await exclusive(() => rebaseOnto(repo, upstream, identity));
    }
    const head = await revParse(repo, "HEAD");
    if (head === null || head === upstream) break; // nothing of ours to push
    report.pushAttempts = attempt;
    const before = upstream;
    const pushed = await git(
      repo.kb,
      ["push", "-q", "--porcelain", remote, `HEAD:refs/heads/${branch}`],
      timeoutS,
    );
    if (pushed.code === 0) {
      await gitOk(repo.kb, ["update-ref", tracking!, head]);
      report.outgoing = toChanges(await addedBetween(repo, before, head));
      const configured = await git(repo.kb, ["config", `branch.${local}.remote`]);
      if (configured.code !== 0) {
        await git(repo.kb, ["branch", "-q", `--set-upstream-to=${remote}/${branch}`]);
      }
      break;
    }
    const message = `${pushed.stderr}\n${pushed.stdout}`;
    if (!isRejection(message)) {
      report.offline = true;
      report.offlineReason = firstLine(pushed.stderr || pushed.stdout);
      break;
    }
    if (attempt >= attempts) {
      throw new GitError(
        `push to ${remote}/${branch} was rejected ${attempt} times (the remote is busy); ` +
          `everything is committed locally: sync again`,
      );
    }
    // Another machine pushed first: back off (exponential, with jitter), then rebase and retry.
    await sleep(Math.min(backoff * 2 ** (attempt - 1), 5_000) * (0.5 + Math.random()));
  }
  report.unpushed = await unpushedSince();
  report.head = (await revParse(repo, "HEAD")) ?? "";
  return report;
}

/** Rebase the local commits onto `upstream`; on any failure abort and say which files clash. */
async function rebaseOnto(repo: Repo, upstream: string, identity: string[]): Promise<void> {
  const result = await git(repo.kb, [...identity, "rebase", "-q", "--autostash", upstream]);
  if (result.code === 0) return;
  const clashes = (await git(repo.kb, ["diff", "--name-only", "--diff-filter=U"])).stdout.trim()
    .split("\n").filter((path) => path !== "");
  await git(repo.kb, ["rebase", "--abort"]);
  throw new GitError(
    `rebase onto the remote failed${
      clashes.length ? ` (conflicting: ${clashes.slice(0, 5).join(", ")})` : ""
    }: ${firstLine(result.stderr || result.stdout)}; the rebase was aborted, nothing was lost`,
  );
}

function commitMessage(options: SyncOptions, changes: RecordChange[]): string {
  return `sync: ${describeCounts(changes)} from ${options.agent}@${options.host}`;
}

/** `3 cards, 1 claim, 2 completions` for a list of changes (sorted by kind). */
export function describeCounts(changes: readonly RecordChange[]): string {
  const counts = countByKind(changes);
  if (counts.size === 0) return "nothing";
  return [...counts].map(([kind, count]) => `${count} ${plural(kind, count)}`).join(", ");
}

/** Number of changes of each kind, kinds in a fixed order (cards first). */
export function countByKind(changes: readonly RecordChange[]): Map<string, number> {
  const order = [
    "card",
    "completion",
    "retraction",
    "item",
    ...QUEUE_EVENT_KINDS,
    "config",
  ];
  const counts = new Map<string, number>();
  for (const change of changes) counts.set(change.kind, (counts.get(change.kind) ?? 0) + 1);
  const rank = (kind: string) => order.includes(kind) ? order.indexOf(kind) : order.length;
  return new Map([...counts].sort((a, b) => rank(a[0]) - rank(b[0]) || (a[0] < b[0] ? -1 : 1)));
}

function plural(kind: string, count: number): string {
  if (kind === "other" || kind === "config") return count === 1 ? `${kind} file` : `${kind} files`;
  if (count === 1) return kind;
  return kind.endsWith("s") ? `${kind}es` : `${kind}s`;
}

/**
 * Make `kb` a git repository to share (`sync --init`): `git init`, the `.gitignore`, a first
 * commit of what is there, and `remote` as `origin` when given. Refuses a directory that is
 * already inside a repository.
 */
export async function initBase(kb: string, remote?: string): Promise<string> {
  await Deno.mkdir(kb, { recursive: true });
  const inside = await git(kb, ["rev-parse", "--show-toplevel"]);
  if (inside.code === 0) {
    throw new UsageError(
      "--init",
      `${kb} is already inside the git repository ${inside.stdout.trim()}`,
    );
  }
  await gitOk(kb, ["init", "-q"]);
  await ensureBase(kb);
  const repo = await openRepo(kb);
  await gitOk(kb, ["add", "-A", "--", "."]);
  await gitOk(kb, [
    ...await identityArgs(repo, "autoresearch"),
    "commit",
    "-q",
    "--allow-empty",
    "-m",
    "knowledge base: start",
  ]);
  if (remote !== undefined) await gitOk(kb, ["remote", "add", "origin", remote]);
  return relative(Deno.cwd(), kb) || ".";
}

/**
 * Paths (relative to the base) of the files added under `dir`, in the order their commits come
 * in the linear history of HEAD (oldest first). The claim rule reads the order of claim files.
 */
export async function addedInHistoryOrder(kb: string, dir: string): Promise<string[]> {
  const result = await git(kb, [
    "log",
    "--reverse",
    "--first-parent",
    "--diff-filter=A",
    "--no-renames",
    "--name-only",
    "--relative",
    "--format=",
    "-z",
    "HEAD",
    "--",
    dir,
  ]);
  if (result.code !== 0) return [];
  return result.stdout.split(/[\0\n]/).filter((path) => path !== "");
}
