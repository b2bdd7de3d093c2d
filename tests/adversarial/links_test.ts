/**
 * Hostile bases with planted symbolic links: every write through `views/`, `views/sessions`,
 * `cards/`, `queue/events`, lock files or `index.sqlite` is refused (one error line naming the
 * link, exit 1) and nothing is written where the link points; `plot --out` and `train --results`
 * never overwrite a record. Real CLI processes, real files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { addItem, assertRefused, cli, listTree, scratch, writeCards } from "./helpers.ts";

/** A base with one card, plus an `outside` directory a planted link points at. */
async function baseWithOutside(): Promise<
  { root: string; kb: string; outside: string; card: string }
> {
  const { root, kb } = await scratch();
  const outside = join(root, "outside");
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(outside, "victim.txt"), "untouched");
  const [card] = await writeCards(kb, [{ hypothesis: "baseline", status: "pending" }]);
  return { root, kb, outside, card };
}

Deno.test("links: views/ and views/sessions pointing outside the base are never written", async () => {
  const { kb, outside } = await baseWithOutside();
  await Deno.symlink(outside, join(kb, "views"));
  const meta = await cli(["update-meta", "--kb", kb]);
  assertRefused(meta, 1, /views: is a symbolic link inside the base/);
  const plot = await cli(["plot", "--kb", kb]);
  assertRefused(plot, 1, /views: is a symbolic link/);
  assert.deepEqual(await listTree(outside), ["victim.txt"]);

  await Deno.remove(join(kb, "views"));
  await Deno.mkdir(join(kb, "views"));
  await Deno.symlink(outside, join(kb, "views", "sessions"));
  const report = await cli(["synthesize", "--session", "s1", "--kb", kb]);
  assertRefused(report, 1, /sessions: is a symbolic link/);
  assert.deepEqual(await listTree(outside), ["victim.txt"]);
});

Deno.test("links: cards/ pointing outside refuses the card write, nothing lands outside", async () => {
  const { root, kb } = await scratch();
  const outside = join(root, "outside");
  await Deno.mkdir(outside);
  await Deno.mkdir(kb);
  await Deno.symlink(outside, join(kb, "cards"));
  const result = await cli([
    "write-card",
    "--kb",
    kb,
    "--hypothesis",
    "h",
    "--result",
    "1.0",
    "--status",
    "keep",
    "--harness-hash",
    "h",
    "--recipe-hash",
    "r",
    "--budget",
    "5",
  ]);
  assertRefused(result, 1, /cards: is a symbolic link inside the base/);
  assert.deepEqual(await listTree(outside), []);
});

Deno.test("links: queue/events and lock files that are links are refused", async () => {
  const { kb, outside } = await baseWithOutside();
  const added = await addItem(kb, "raise the matrix learning rate", "learning_rate");
  assert.equal(added.code, 0, added.stderr);
  // queue/events is a link: a claim must not create its record outside.
  await Deno.remove(join(kb, "queue", "events"), { recursive: true });
  await Deno.symlink(outside, join(kb, "queue", "events"));
  const claim = await cli(["director", "claim", "--agent", "a", "--kb", kb]);
  assertRefused(claim, 1, /events: is a symbolic link inside the base/);
  assert.deepEqual(await listTree(outside), ["victim.txt"]);
  await Deno.remove(join(kb, "queue", "events"));

  // The queue lock is a link to a file outside: never opened for writing.
  await Deno.remove(join(kb, "queue", ".lock")).catch(() => {});
  await Deno.symlink(join(outside, "victim.txt"), join(kb, "queue", ".lock"));
  const claim2 = await cli(["director", "claim", "--agent", "a", "--kb", kb]);
  assertRefused(claim2, 1, /\.lock: is a symbolic link/);
  // The base lock too (judging a card takes it).
  await Deno.remove(join(kb, ".lock")).catch(() => {});
  await Deno.symlink(join(outside, "victim.txt"), join(kb, ".lock"));
  const cards = [...Deno.readDirSync(join(kb, "cards"))].map((e) => e.name.replace(".json", ""));
  const judge = await cli(["write-card", "--complete", cards[0], "--status", "crash", "--kb", kb]);
  assertRefused(judge, 1, /\.lock: is a symbolic link/);
  assert.equal(await Deno.readTextFile(join(outside, "victim.txt")), "untouched");
  assert.deepEqual(await listTree(join(kb, "completions")), []);
});

Deno.test("links: an index.sqlite linked to another database is never written into", async () => {
  const { root, kb } = await scratch();
  await writeCards(kb, [{ hypothesis: "baseline" }, { hypothesis: "second", seed: 1 }]);
  const other = join(root, "other.sqlite");
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(other);
  db.exec("CREATE TABLE precious (x INTEGER); INSERT INTO precious VALUES (42);");
  db.close();
  const before = await Deno.readFile(other);
  await Deno.remove(join(kb, "index.sqlite")).catch(() => {});
  for (const suffix of ["-wal", "-shm"]) {
    await Deno.remove(join(kb, `index.sqlite${suffix}`)).catch(() => {});
  }
  await Deno.symlink(other, join(kb, "index.sqlite"));
  const brief = await cli(["read-brief", "--kb", kb]);
  assert.equal(brief.code, 0, brief.stderr);
  assert.match(brief.stdout, /2 cards/);
  assert.match(brief.stderr, /warning: skipped .*index\.sqlite: is a symbolic link/);
  assert.deepEqual(await Deno.readFile(other), before);
  assert.deepEqual(
    (await listTree(root)).filter((p) => p.startsWith("other")),
    ["other.sqlite"],
  );
  assert.ok(Deno.lstatSync(join(kb, "index.sqlite")).isSymlink, "the link itself is left alone");
});

Deno.test("links: a views link is ignored by git in a new base (not committed)", async () => {
  const { kb, outside } = await baseWithOutside();
  await Deno.symlink(outside, join(kb, "views"));
  const git = (...args: string[]) =>
    new Deno.Command("git", { args, cwd: kb, stdout: "piped", stderr: "piped" }).output();
  await git("init", "-q");
  const status = new TextDecoder().decode((await git("status", "--porcelain", "-uall")).stdout);
  assert.doesNotMatch(status, /views/, status);
  assert.match(status, /cards\//);
});

Deno.test("plot --out and train --results refuse record paths and directories", async () => {
  const { root, kb, card } = await baseWithOutside();
  const cardPath = join(kb, "cards", `${card}.json`);
  const cardBefore = await Deno.readTextFile(cardPath);
  const overCard = await cli(["plot", "--kb", kb, "--out", cardPath]);
  assertRefused(overCard, 2, /--out: .*inside the records of the base/);
  const intoDir = await cli(["plot", "--kb", kb, "--out", root]);
  assertRefused(intoDir, 2, /--out: .*is a directory/);
  const overQueue = await cli(["plot", "--kb", kb, "--out", join(kb, "queue", "x.svg")]);
  assertRefused(overQueue, 2, /--out: .*inside the records/);
  assert.equal(await Deno.readTextFile(cardPath), cardBefore);

  const cache = join(root, "cache");
  const resultsOverCard = await cli([
    "train",
    "--kb",
    kb,
    "--cache",
    cache,
    "--budget",
    "1",
    "--results",
    cardPath,
  ]);
  assertRefused(resultsOverCard, 2, /--results: .*inside the records of the base/);
  const resultsDir = await cli(["train", "--kb", kb, "--cache", cache, "--results", root]);
  assertRefused(resultsDir, 2, /--results: .*is a directory/);
  assert.equal(await Deno.readTextFile(cardPath), cardBefore);
  assert.deepEqual(await listTree(join(kb, "cards")), [`${card}.json`]);

  // A plot outside the base, at a file path, is the user's choice and works.
  const ok = await cli(["plot", "--kb", kb, "--out", join(root, "progress.svg")]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(await Deno.readTextFile(join(root, "progress.svg")), /<svg/);
});

Deno.test("links: record directories planted as links are not read, and are reported", async () => {
  const { root, kb } = await scratch();
  const [card] = await writeCards(kb, [{ hypothesis: "elsewhere" }]);
  // The real cards move outside; the base's cards/ becomes a link to them.
  const outsideCards = join(root, "outside-cards");
  await Deno.rename(join(kb, "cards"), outsideCards);
  await Deno.symlink(outsideCards, join(kb, "cards"));
  const listed = await cli(["list-cards", "--kb", kb]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout, "");
  assert.match(
    listed.stderr,
    /warning: skipped .*kb\/cards: is a symbolic link; its records are not read/,
  );
  assert.doesNotMatch(listed.stdout + listed.stderr, new RegExp(card));

  const added = await addItem(kb, "an idea", "other");
  assert.equal(added.code, 0, added.stderr);
  const outsideItems = join(root, "outside-items");
  await Deno.rename(join(kb, "queue", "items"), outsideItems);
  await Deno.symlink(outsideItems, join(kb, "queue", "items"));
  const status = await cli(["director", "status", "--kb", kb, "--json"]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).items.length, 0);
  assert.match(status.stderr, /warning: .*queue\/items: is a symbolic link; not read/);
});
