/**
 * `prepare` over the real download path: a loopback HTTP server serves parquet shards written
 * by the test. Covers a dropped connection (the retry succeeds), a 404 (a clear error, no
 * pointless retries), a corrupted cached file caught by its recorded sha256 and fetched again,
 * a server whose file changed (refused), a corrupt manifest (reported, left alone), and the
 * whole pipeline back out through loadPrepared.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { loadPrepared, prepare } from "../../src/train/prepare.ts";
import { DownloadError } from "../../src/train/download.ts";
import { DataError } from "../../src/util/errors.ts";
import { makeShard, type ShardServer, startShardServer } from "./harness_helpers.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Distinct little documents; shard k's documents mention k so splits can be told apart. */
function documents(shard: number, count: number): string[] {
  const words = ["whale", "sea", "ship", "harpoon", "captain", "deck", "storm", "island"];
  return Array.from({ length: count }, (_, i) => {
    const n = shard * 1000 + i;
    const sentence = Array.from({ length: 5 + (i % 7) }, (_, j) => words[(n + j * 3) % 8]);
    return `Doc ${n}: the ${sentence.join(" ")}. Ça coûte ${n % 97} € — naïve 🐋.`;
  });
}

async function withFixture(
  body: (server: ShardServer, cacheRoot: string, texts: Map<string, string[]>) => Promise<void>,
): Promise<void> {
  const server = startShardServer();
  const cacheRoot = await Deno.makeTempDir({ prefix: "autoresearch-cache-" });
  const texts = new Map<string, string[]>();
  for (
    const [name, shard] of [["shard_06542.parquet", 6542], ["shard_00000.parquet", 0], [
      "shard_00001.parquet",
      1,
    ]] as const
  ) {
    const docs = documents(shard, 40);
    texts.set(name, docs);
    server.files.set(name, { bytes: makeShard(docs) });
  }
  try {
    await body(server, cacheRoot, texts);
  } finally {
    await server.close();
    await Deno.remove(cacheRoot, { recursive: true });
  }
}

Deno.test("prepare: downloads shards, survives a dropped connection, records sha256", async () => {
  await withFixture(async (server, cacheRoot, texts) => {
    server.files.get("shard_00000.parquet")!.dropFirst = 1;
    const lines: string[] = [];
    const meta = await prepare({
      cacheRoot,
      baseUrl: server.url,
      numShards: 2,
      vocabSize: 300,
      retryDelayMs: 1,
      log: (line) => lines.push(line),
    });
    assert.equal(server.requests.get("shard_00000.parquet"), 2, "one drop, one retry");
    assert.ok(
      lines.some((l) => /try 1\/5 failed: .*shard_00000\.parquet.*transfer failed/.test(l)),
      lines.join("\n"),
    );
    assert.equal(meta.source.kind, "climbmix");
    assert.equal(meta.name, "climbmix-2-v300");
    const manifest = JSON.parse(await Deno.readTextFile(join(cacheRoot, "data", "manifest.json")));
    for (const name of ["shard_06542.parquet", "shard_00000.parquet", "shard_00001.parquet"]) {
      const served = server.files.get(name)!.bytes;
      assert.equal(manifest.files[name].sha256, sha256(served));
      assert.deepEqual(await Deno.readFile(join(cacheRoot, "data", name)), served);
      assert.equal(meta.shards![name], sha256(served));
    }
    assert.equal(
      await Deno.stat(join(cacheRoot, "data", "shard_00000.parquet.tmp")).catch(
        () => null,
      ),
      null,
    );

    // The whole pipeline back out: val is the pinned shard, train the two train shards.
    const data = await loadPrepared({ cacheRoot });
    assert.equal(data.meta.val.documents, 40);
    assert.equal(data.meta.train.documents, 80);
    const valDocs = [];
    for (let d = 0; d + 1 < data.val.starts.length; d++) {
      const ids = data.val.tokens.subarray(data.val.starts[d] + 1, data.val.starts[d + 1]);
      valDocs.push(data.tokenizer.decode(ids));
    }
    assert.deepEqual(valDocs, texts.get("shard_06542.parquet"));
    const firstTrain = data.train.tokens.subarray(data.train.starts[0] + 1, data.train.starts[1]);
    assert.equal(data.tokenizer.decode(firstTrain), texts.get("shard_00000.parquet")![0]);
  });
});

Deno.test("prepare: a corrupted cached shard is caught by its checksum and fetched again", async () => {
  await withFixture(async (server, cacheRoot) => {
    const options = { cacheRoot, baseUrl: server.url, numShards: 2, vocabSize: 300 };
    const first = await prepare({ ...options, log: () => {} });
    const path = join(cacheRoot, "data", "shard_00001.parquet");
    const bytes = await Deno.readFile(path);
    bytes[bytes.length >> 1] ^= 0xff; // one flipped byte in the middle
    await Deno.writeFile(path, bytes);
    const lines: string[] = [];
    const second = await prepare({ ...options, log: (line) => lines.push(line) });
    assert.ok(lines.some((l) => /shard_00001\.parquet: sha256 mismatch/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /shard_00001\.parquet: redownloaded/.test(l)));
    assert.equal(server.requests.get("shard_00001.parquet"), 2);
    assert.equal(server.requests.get("shard_00000.parquet"), 1, "verified shards are reused");
    assert.deepEqual(await Deno.readFile(path), server.files.get("shard_00001.parquet")!.bytes);
    assert.equal(second.reused, true); // same shard hashes: the tokenized data still holds
    assert.equal(second.tokenizer.sha256, first.tokenizer.sha256);
  });
});

Deno.test("prepare: a server whose file changed is refused, not silently accepted", async () => {
  await withFixture(async (server, cacheRoot) => {
    const options = { cacheRoot, baseUrl: server.url, numShards: 1, vocabSize: 300, log: () => {} };
    await prepare(options);
    const path = join(cacheRoot, "data", "shard_00000.parquet");
    await Deno.writeFile(path, new TextEncoder().encode("PAR1 garbage PAR1"));
    server.files.set("shard_00000.parquet", { bytes: makeShard(documents(9, 40)) });
    await assert.rejects(
      prepare(options),
      (error) =>
        error instanceof DataError && error.path === path && /differs from the recorded/.test(
          error.message,
        ),
    );
    assert.equal(await Deno.stat(path).catch(() => null), null, "the unverified file is gone");
  });
});

Deno.test("prepare: a 404 is a clear error after one request", async () => {
  await withFixture(async (server, cacheRoot) => {
    await assert.rejects(
      prepare({ cacheRoot, baseUrl: server.url, numShards: 3, vocabSize: 300, log: () => {} }),
      (error) =>
        error instanceof DownloadError &&
        /shard_00002\.parquet: HTTP 404/.test(error.message),
    );
    assert.equal(server.requests.get("shard_00002.parquet"), 1);
  });
});

Deno.test("prepare: a corrupt manifest is reported and left as it is", async () => {
  await withFixture(async (server, cacheRoot) => {
    const manifest = join(cacheRoot, "data", "manifest.json");
    await Deno.mkdir(join(cacheRoot, "data"), { recursive: true });
    await Deno.writeTextFile(manifest, '{"files": {"shard_00000.parquet": {"sha256": "xyz"}}}');
    await assert.rejects(
      prepare({ cacheRoot, baseUrl: server.url, numShards: 1, vocabSize: 300, log: () => {} }),
      (error) => error instanceof DataError && error.path === manifest,
    );
    assert.equal(
      await Deno.readTextFile(manifest),
      '{"files": {"shard_00000.parquet": {"sha256": "xyz"}}}',
    );
  });
});
