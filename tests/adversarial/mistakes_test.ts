/**
 * User mistakes: each is refused with one `error: <field>: <rule>` line and exit 2, and nothing
 * is written; a reader pointed at a base that does not exist says so (and creates nothing);
 * credentials in a URL are never printed; two session tags never share a report file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertRefused, cli, listTree, scratch, writeCards } from "./helpers.ts";

const CARD_FLAGS = ["--harness-hash", "h", "--recipe-hash", "r", "--budget", "5"];

Deno.test("write-card --complete refuses options it would silently drop", async () => {
  const { root, kb } = await scratch();
  const [card] = await writeCards(kb, [{ hypothesis: "baseline", status: "pending" }]);
  const cases: [string[], RegExp][] = [
    [["--result", "0.5"], /^error: --result: does not apply to --complete/],
    [["--tags", "lr"], /^error: --tags: does not apply to --complete/],
    [["--hypothesis", "other"], /^error: --hypothesis: does not apply to --complete/],
    [["--budget", "-5"], /^error: --budget: does not apply to --complete/],
    [["--input", "/nonexistent"], /^error: --input: does not apply to --complete/],
  ];
  for (const [args, pattern] of cases) {
    const result = await cli([
      "write-card",
      "--complete",
      card,
      "--status",
      "keep",
      "--kb",
      kb,
      ...args,
    ]);
    assertRefused(result, 2, pattern);
    assert.equal(result.stdout, "");
  }
  assert.deepEqual(await listTree(join(kb, "completions")), []);
  // What applies still works.
  const ok = await cli([
    "write-card",
    "--complete",
    card,
    "--status",
    "keep",
    "--lesson",
    "fine",
    "--kb",
    kb,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await listTree(join(kb, "completions"))).length, 1);
  assert.ok(root);
});

Deno.test("bad values: hex numbers, empty --kb, endless file options, non-UTF-8 text", async () => {
  const { root, kb } = await scratch();
  const write = (args: string[]) =>
    cli(["write-card", "--kb", kb, "--status", "keep", ...CARD_FLAGS, ...args]);
  assertRefused(
    await write(["--hypothesis", "h", "--result", "0x10"]),
    2,
    /^error: --result: must be a finite number/,
  );
  assertRefused(
    await write(["--hypothesis", "h", "--result", "Infinity"]),
    2,
    /^error: --result: /,
  );
  const started = Date.now();
  assertRefused(
    await write(["--hypothesis-file", "/dev/zero", "--result", "1"]),
    2,
    /^error: --hypothesis-file: .*larger than/,
  );
  assert.ok(Date.now() - started < 30_000);
  assertRefused(await cli(["list-cards", "--kb", ""]), 2, /^error: --kb: must not be empty/);
  assertRefused(
    await cli(["write-card", "--kb", "", "--hypothesis", "h", "--status", "crash", ...CARD_FLAGS]),
    2,
    /^error: --kb: must not be empty/,
  );
  assert.deepEqual(await listTree(root), [], "nothing written anywhere");

  const latin1 = join(root, "latin1.txt");
  await Deno.writeFile(latin1, new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  const prepared = await cli(["prepare", "--text", latin1, "--cache", join(root, "cache")]);
  assertRefused(prepared, 2, /^error: --text: .*not UTF-8/);
});

Deno.test("readers on a base that does not exist exit 2 naming it; creators create it", async () => {
  const { root } = await scratch();
  const missing = join(root, "knowldge"); // a typo
  const readers = [
    ["read-brief"],
    ["list-cards"],
    ["coverage"],
    ["read-meta"],
    ["show-card", "card_01J9Z3Z3Z3Z3Z3Z3Z3Z3Z3Z3Z3"],
    ["director", "status"],
    ["director", "claim", "--agent", "a"],
    ["director", "plan"],
  ];
  for (const args of readers) {
    const result = await cli([...args, "--kb", missing]);
    assertRefused(result, 2, new RegExp(`^error: --kb: no knowledge base at ".*knowldge"`));
  }
  assert.deepEqual(await listTree(root), [], "no base created by a reader");
  // A file given as the base is refused by every command, creators included.
  await Deno.writeTextFile(join(root, "file"), "x");
  const intoFile = await cli([
    "write-card",
    "--kb",
    join(root, "file"),
    "--hypothesis",
    "h",
    "--status",
    "crash",
    ...CARD_FLAGS,
  ]);
  assertRefused(intoFile, 2, /^error: --kb: .*is not a directory/);
  // Creators make the base.
  const created = await cli([
    "write-card",
    "--kb",
    missing,
    "--hypothesis",
    "h",
    "--status",
    "crash",
    ...CARD_FLAGS,
  ]);
  assert.equal(created.code, 0, created.stderr);
  assert.equal((await listTree(join(missing, "cards"))).length, 1);
});

Deno.test("prepare --base-url never prints the credentials in the URL", async () => {
  const { root } = await scratch();
  const cache = join(root, "cache");
  // A server that answers 404 (a failure without retries) and a malformed URL: neither run
  // echoes the secret.
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () => new Response("no", { status: 404 }),
  );
  const port = server.addr.port;
  const runs = [];
  try {
    runs.push(
      await cli([
        "prepare",
        "--num-shards",
        "1",
        "--base-url",
        `http://alice:s3cr3t-token@127.0.0.1:${port}/shards?token=s3cr3t-token`,
        "--cache",
        cache,
      ]),
    );
  } finally {
    await server.shutdown();
  }
  runs.push(
    await cli(["prepare", "--base-url", "ftp://alice:s3cr3t-token@example", "--cache", cache]),
  );
  assert.match(runs[0].stderr, /\*\*\*@127\.0\.0\.1/);
  for (const run of runs) {
    assert.notEqual(run.code, 0);
    assert.doesNotMatch(run.stdout + run.stderr, /s3cr3t/);
  }
  assert.equal(runs[1].code, 2);
  for (const path of await listTree(cache)) {
    if (!path.endsWith(".json")) continue;
    assert.doesNotMatch(await Deno.readTextFile(join(cache, path)), /s3cr3t/, path);
  }
});

Deno.test("session tags a/b/c and a_b_c write different report files", async () => {
  const { kb } = await scratch();
  await writeCards(kb, [
    { hypothesis: "in a/b/c", session: "a/b/c" },
    { hypothesis: "in a_b_c", session: "a_b_c", seed: 1 },
  ]);
  const one = await cli(["synthesize", "--session", "a/b/c", "--kb", kb, "--json"]);
  const two = await cli(["synthesize", "--session", "a_b_c", "--kb", kb, "--json"]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  const paths = [JSON.parse(one.stdout).path, JSON.parse(two.stdout).path];
  assert.notEqual(paths[0], paths[1]);
  assert.match(await Deno.readTextFile(paths[0]), /in a\/b\/c/);
  assert.match(await Deno.readTextFile(paths[1]), /in a_b_c/);
  assert.equal((await listTree(join(kb, "views", "sessions"))).length, 2);
});
