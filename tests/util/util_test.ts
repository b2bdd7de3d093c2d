/**
 * Tests for src/util: atomic writes, exclusive create, the inter-process lock (real processes),
 * ids, user-facing errors and terminal-safe text.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  atomicWrite,
  atomicWriteSync,
  createExclusive,
  DataError,
  exitCodeOf,
  isValidId,
  newId,
  oneLine,
  truncate,
  UsageError,
} from "../../src/util/mod.ts";

Deno.test("atomicWrite replaces content whole and leaves no temp file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "sub", "f.txt");
  await atomicWrite(path, "one");
  await atomicWrite(path, "two");
  atomicWriteSync(path, new TextEncoder().encode("three"));
  assert.equal(await Deno.readTextFile(path), "three");
  assert.deepEqual([...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name), ["f.txt"]);
});

Deno.test("createExclusive: exactly one of many racing creators wins", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "claim.json");
  const wins = await Promise.all(
    Array.from({ length: 20 }, (_, i) => createExclusive(path, `winner ${i}`)),
  );
  assert.equal(wins.filter(Boolean).length, 1);
  assert.equal(await Deno.readTextFile(path), `winner ${wins.indexOf(true)}`);
  assert.equal(await createExclusive(path, "late"), false);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["claim.json"]);
});

Deno.test("withLock serialises read-modify-write across real processes", async () => {
  const dir = await Deno.makeTempDir();
  const counter = join(dir, "counter");
  const child = fileURLToPath(new URL("./lock_child.ts", import.meta.url));
  const processes = Array.from(
    { length: 4 },
    () => new Deno.Command(Deno.execPath(), { args: ["run", "-A", child, counter, "25"] }).output(),
  );
  for (const result of await Promise.all(processes)) assert.equal(result.code, 0);
  assert.equal(await Deno.readTextFile(counter), "100");
});

Deno.test("ids: prefixed ULIDs, unique, time-sortable, validated", async () => {
  const first = newId("card");
  await new Promise((resolve) => setTimeout(resolve, 2));
  const second = newId("card");
  assert.ok(first < second);
  assert.ok(isValidId(first, "card"));
  assert.ok(!isValidId(first, "done"));
  for (
    const bad of [
      "../x",
      "card_",
      "card_01J9Z0000000000000000000A/",
      "CARD_01J9Z0000000000000000000AA",
    ]
  ) {
    assert.ok(!isValidId(bad), bad);
  }
});

Deno.test("errors carry field/rule or path/reason and their exit codes", () => {
  const usage = new UsageError("--result", "must be a number");
  assert.equal(usage.message, "--result: must be a number");
  assert.equal(exitCodeOf(usage), 2);
  const data = new DataError("/x.json", "empty file");
  assert.equal(data.message, "/x.json: empty file");
  assert.equal(exitCodeOf(data), 1);
  assert.equal(exitCodeOf(new Error("x")), 1);
});

Deno.test("oneLine escapes every control character; truncate marks the cut", () => {
  assert.equal(oneLine("a\nb\rc\td\x1b[31m\x00\u2028"), "a\\nb\\rc\\td\\x1b[31m\\x00\\u{2028}");
  assert.equal(oneLine("plain ünïcode"), "plain ünïcode");
  assert.equal(truncate("abcdef", 4), "abc…");
  assert.equal(truncate("abc", 4), "abc");
});
