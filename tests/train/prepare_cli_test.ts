/**
 * `autoresearch prepare` as a user runs it (a real child process): the embedded default
 * corpus, the automatic fallback to it when the download is unreachable, `--text` with a
 * directory and with one file, a clear one-line error when an explicit download fails, and bad
 * input (exit 2, one line naming the field, nothing written).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPrepared, prepare } from "../../src/train/prepare.ts";
import { embeddedDocuments } from "../../src/train/corpus.ts";
import { splitTrainVal } from "../../src/train/data.ts";
import { DownloadError } from "../../src/train/download.ts";
import { exists, runCli, startShardServer } from "./harness_helpers.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "autoresearch-prepare-" });
}

/** A loopback port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("cli prepare --embedded: Moby-Dick, offline, round-trips through loadPrepared", async () => {
  const cache = await tempDir();
  try {
    const result = await runCli(["prepare", "--embedded", "--cache", cache, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const meta = JSON.parse(result.stdout);
    assert.equal(meta.source.kind, "embedded");
    assert.match(meta.source.description, /Moby-Dick/);
    assert.match(result.stderr, /source: embedded default corpus: Moby-Dick/);
    assert.equal(meta.vocab_size, 4096);
    const data = await loadPrepared({ cacheRoot: cache });
    const { train, val } = splitTrainVal(embeddedDocuments());
    assert.equal(data.meta.train.documents, train.length);
    assert.equal(data.val.starts.length - 1, val.length);
    const third = data.val.tokens.subarray(data.val.starts[2] + 1, data.val.starts[3]);
    assert.equal(data.tokenizer.decode(third), val[2]);
    // Compression: BPE at vocab 4096 on English prose packs more than 3 bytes per token.
    assert.ok(meta.train.bytes / meta.train.tokens > 3, `${meta.train.bytes / meta.train.tokens}`);
    // A second run reuses it.
    const again = await runCli(["prepare", "--embedded", "--cache", cache]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /prepared: +moby-dick-v4096 \(reused\)/);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("cli prepare: no source asked, download unreachable -> embedded corpus, said so", async () => {
  const cache = await tempDir();
  try {
    const result = await runCli(["prepare", "--cache", cache, "--json", "--vocab-size", "512"], {
      AUTORESEARCH_DATA_URL: `http://127.0.0.1:${closedPort()}`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /download failed .*no connection.*using the embedded default/);
    const meta = JSON.parse(result.stdout);
    assert.equal(meta.source.kind, "embedded");
    assert.match(meta.source.fallback_reason, /shard_06542\.parquet: no connection/);
    assert.equal(meta.vocab_size, 512);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("cli prepare --text: a directory gives one document per file", async () => {
  const cache = await tempDir();
  const dir = await tempDir();
  try {
    const texts = Array.from(
      { length: 12 },
      (_, i) => `File ${i}.\n\nIt has two paragraphs about ${"whales ".repeat(i + 1)}.`,
    );
    for (const [i, text] of texts.entries()) {
      await Deno.mkdir(join(dir, i < 6 ? "a" : "b"), { recursive: true });
      await Deno.writeTextFile(
        join(dir, i < 6 ? "a" : "b", `f${String(i).padStart(2, "0")}.txt`),
        text,
      );
    }
    await Deno.writeTextFile(join(dir, ".hidden"), "never read");
    await Deno.writeFile(join(dir, "b", "binary.dat"), Uint8Array.of(0xff, 0xfe, 0x00, 0xc3));
    const result = await runCli([
      "prepare",
      "--text",
      dir,
      "--cache",
      cache,
      "--vocab-size",
      "280",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const meta = JSON.parse(result.stdout);
    assert.equal(meta.source.kind, "text");
    assert.match(meta.source.description, /12 documents; documents = files/);
    assert.equal(meta.train.documents + meta.val.documents, 12);
    assert.match(result.stderr, /skipped b\/binary\.dat: not UTF-8 text/);
    const data = await loadPrepared({ cacheRoot: cache });
    const first = data.train.tokens.subarray(data.train.starts[0] + 1, data.train.starts[1]);
    assert.equal(data.tokenizer.decode(first), texts[0]);
  } finally {
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli prepare --text: one file gives one document per paragraph", async () => {
  const cache = await tempDir();
  const dir = await tempDir();
  try {
    const paragraphs = Array.from(
      { length: 20 },
      (_, i) => `Paragraph ${i} says ${"hi ".repeat(i)}`.trim(),
    );
    const file = join(dir, "book.txt");
    await Deno.writeTextFile(file, paragraphs.join("\n\n  \n\n") + "\n");
    const result = await runCli([
      "prepare",
      "--text",
      file,
      "--cache",
      cache,
      "--vocab-size",
      "280",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /20 documents; documents = paragraphs/);
    assert.match(result.stdout, /train: +18 documents/);
    assert.match(result.stdout, /val: +2 documents/);
  } finally {
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli prepare: an explicit download that fails is a one-line error, no fallback", async () => {
  const server = startShardServer(); // serves nothing: every shard is a 404
  const cache = await tempDir();
  try {
    const result = await runCli(["prepare", "--base-url", server.url, "--cache", cache]);
    assert.equal(result.code, 1);
    const errorLines = result.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
    assert.deepEqual(errorLines, [
      `error: download ${server.url}/shard_06542.parquet: HTTP 404 Not Found`,
    ]);
    assert.doesNotMatch(result.stderr, /embedded/);
    // Unreachable and asked for explicitly: retried, then the same kind of error.
    await assert.rejects(
      prepare({
        cacheRoot: cache,
        baseUrl: `http://127.0.0.1:${closedPort()}`,
        retryDelayMs: 1,
        log: () => {},
      }),
      (error) =>
        error instanceof DownloadError && /no connection .*\(5 tries\)/.test(error.message),
    );
  } finally {
    await server.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("cli prepare: bad input exits 2 with one line naming the field, writes nothing", async () => {
  const root = await tempDir();
  try {
    const cases: [string[], RegExp][] = [
      [["--vocab-size", "10"], /^error: --vocab-size: must be an integer from 260 to 65536/],
      [["--vocab-size", "4096.5"], /^error: --vocab-size: must be an integer/],
      [["--num-shards", "0"], /^error: --num-shards: must be an integer from 1 to 6542/],
      [["--num-shards", "many"], /^error: --num-shards: must be a finite number/],
      [["--text", join(root, "missing")], /^error: --text: no such file or directory/],
      [["--text", root, "--embedded"], /^error: --embedded: cannot be combined with --text/],
      [["--embedded", "--num-shards", "2"], /^error: --embedded: cannot be combined/],
      [["--base-url", "ftp://mirror"], /^error: --base-url: must be an http\(s\) URL/],
    ];
    const results = await Promise.all(
      cases.map(([args], i) => runCli(["prepare", ...args, "--cache", join(root, `cache${i}`)])),
    );
    results.forEach((result, i) => {
      assert.equal(result.code, 2, `${cases[i][0].join(" ")}: ${result.stderr}`);
      assert.match(result.stderr.trim(), cases[i][1]);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.equal(result.stdout, "");
    });
    for (let i = 0; i < cases.length; i++) {
      assert.equal(await exists(join(root, `cache${i}`)), false);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cli prepare: two processes preparing one cache at once both succeed", async () => {
  const cache = await tempDir();
  try {
    const args = ["prepare", "--embedded", "--vocab-size", "300", "--cache", cache, "--json"];
    const [a, b] = await Promise.all([runCli(args), runCli(args)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const metas = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
    // The lock serialises them: one builds, the other finds it done.
    assert.deepEqual(metas.map((m) => m.reused === true).sort(), [false, true]);
    assert.equal(metas[0].tokenizer.sha256, metas[1].tokenizer.sha256);
    const data = await loadPrepared({ cacheRoot: cache });
    assert.equal(data.train.tokens.length, metas[0].train.tokens);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
