/**
 * The hostile-input primitives on their own: the terminal and document escaping rules, the
 * guarded writer (links, escapes, records never replaced), size-limited file options, and the
 * bounded lock wait against a real stopped holder process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkWritePath,
  guardedCreateExclusive,
  guardedWrite,
  readTextLimited,
  UnsafePathError,
} from "../../src/util/guarded.ts";
import { readLockHolder, withLock } from "../../src/util/lock.ts";
import { htmlText, markdownText, oneLine, terminalText } from "../../src/util/text.ts";
import { DataError, UsageError } from "../../src/util/errors.ts";
import { HOSTILE_TEXT, listTree } from "./helpers.ts";

Deno.test("oneLine: control bytes, bidi overrides and zero-width characters become visible", () => {
  const shown = oneLine(HOSTILE_TEXT);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(shown, /[\u0000-\u001f\u007f-\u009f]/);
  assert.doesNotMatch(shown, /[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060\ufeff]/);
  assert.match(shown, /\\x1b\]0;pwned\\x07/);
  assert.match(shown, /\\u\{202e\}/);
  assert.match(shown, /\\u\{200b\}/);
  assert.match(shown, /\\n/);
  assert.equal(oneLine("plain text, ünïcödé ✓"), "plain text, ünïcödé ✓");
});

Deno.test("terminalText keeps line breaks and tabs but nothing else invisible", () => {
  assert.equal(terminalText("a\n\tb\x1b[2J\u202ec"), "a\n\tb\\x1b[2J\\u{202e}c");
});

Deno.test("markdownText and htmlText make markup inert", () => {
  const md = markdownText("<script>alert(1)</script> <!-- hide --> & ok\n# heading");
  assert.doesNotMatch(md, /<script|<!--|\n/);
  assert.match(md, /&lt;script&gt;/);
  assert.match(md, /&lt;!--/);
  assert.equal(htmlText(`"<a href='x'>"`), "&quot;&lt;a href=&#39;x&#39;&gt;&quot;");
});

Deno.test("guarded writes refuse links anywhere below the base and paths outside it", async () => {
  const root = await Deno.makeTempDir();
  const base = join(root, "kb");
  const outside = join(root, "outside");
  await Deno.mkdir(base);
  await Deno.mkdir(outside);
  await Deno.symlink(outside, join(base, "views"));
  await assert.rejects(
    () => guardedWrite(base, join(base, "views", "meta.md"), "x"),
    UnsafePathError,
  );
  await assert.rejects(
    () => guardedWrite(base, join(base, "..", "outside", "f"), "x"),
    UnsafePathError,
  );
  await Deno.writeTextFile(join(outside, "target"), "keep");
  await Deno.mkdir(join(base, "cards"));
  await Deno.symlink(join(outside, "target"), join(base, "cards", "link.json"));
  await assert.rejects(
    () => guardedWrite(base, join(base, "cards", "link.json"), "over"),
    UnsafePathError,
  );
  await assert.rejects(
    () => guardedCreateExclusive(base, join(base, "cards", "link.json"), "x"),
    UnsafePathError,
  );
  assert.equal(await Deno.readTextFile(join(outside, "target")), "keep");
  assert.deepEqual(await listTree(outside), ["target"]);
  // A base that is itself a link is the user's choice and allowed.
  const linkedBase = join(root, "kb-link");
  await Deno.symlink(base, linkedBase);
  await guardedWrite(linkedBase, join(linkedBase, "notes", "a.md"), "ok");
  assert.equal(await Deno.readTextFile(join(base, "notes", "a.md")), "ok");
  assert.throws(() => checkWritePath(base, join(base, "notes", "a.md"), "directory"));
});

Deno.test("guardedCreateExclusive never replaces a record", async () => {
  const base = await Deno.makeTempDir();
  const path = join(base, "cards", "r.json");
  assert.equal(await guardedCreateExclusive(base, path, "first"), true);
  assert.equal(await guardedCreateExclusive(base, path, "second"), false);
  assert.equal(await Deno.readTextFile(path), "first");
});

Deno.test("readTextLimited stops at the limit (/dev/zero) and refuses non-UTF-8", async () => {
  await assert.rejects(() => readTextLimited("--hypothesis-file", "/dev/zero", 1024), UsageError);
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(join(dir, "latin1.txt"), new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
  await assert.rejects(() => readTextLimited("--text", join(dir, "latin1.txt")), /UTF-8/);
  await assert.rejects(() => readTextLimited("--text", dir), /directory/);
  await Deno.writeTextFile(join(dir, "ok.txt"), "héllo");
  assert.equal(await readTextLimited("--text", join(dir, "ok.txt")), "héllo");
});

Deno.test("a stopped lock holder makes the wait end with an error naming it", async () => {
  const dir = await Deno.makeTempDir();
  const lock = join(dir, ".lock");
  const holder = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./lock_holder.ts", import.meta.url).pathname, lock],
    stdout: "piped",
    env: { AUTORESEARCH_AGENT: "sleepy" },
  }).spawn();
  const reader = holder.stdout.getReader();
  await reader.read(); // "locked"
  Deno.kill(holder.pid, "SIGSTOP");
  try {
    const messages: string[] = [];
    const started = Date.now();
    await assert.rejects(
      () => withLock(lock, () => {}, { timeoutS: 2.5, onWait: (m) => messages.push(m) }),
      (error: unknown) => {
        assert.ok(error instanceof DataError);
        assert.match(error.message, new RegExp(`pid ${holder.pid} .*agent sleepy`));
        return true;
      },
    );
    assert.ok(Date.now() - started < 20_000);
    assert.equal(messages.length, 1);
    assert.match(messages[0], /waiting for lock .*held by pid/);
    assert.equal(readLockHolder(lock)?.pid, holder.pid);
  } finally {
    Deno.kill(holder.pid, "SIGKILL");
    await holder.status;
    reader.releaseLock();
    await holder.stdout.cancel();
  }
  // Once the holder is gone the lock is free at once.
  assert.equal(await withLock(lock, () => 7, { timeoutS: 5 }), 7);
});

Deno.test("a lock file that is a symbolic link is refused", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "victim"), "keep");
  await Deno.symlink(join(dir, "victim"), join(dir, ".lock"));
  await assert.rejects(() => withLock(join(dir, ".lock"), () => {}), UnsafePathError);
  assert.equal(await Deno.readTextFile(join(dir, "victim")), "keep");
});
