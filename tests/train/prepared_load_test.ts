/**
 * loadPrepared, the trainer's entry to the harness data: it finds the current dataset, and a
 * missing or damaged piece is a DataError naming the file, never an empty dataset. Also the
 * cache location rules (`AUTORESEARCH_CACHE`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPrepared, prepare } from "../../src/train/prepare.ts";
import { cachePaths, defaultCacheRoot } from "../../src/train/paths.ts";
import { DataError } from "../../src/util/errors.ts";

Deno.test("loadPrepared: nothing prepared, truncated tokens, corrupt pointer -> DataError", async () => {
  const cacheRoot = await Deno.makeTempDir({ prefix: "autoresearch-load-" });
  try {
    await assert.rejects(
      loadPrepared({ cacheRoot }),
      (error) => error instanceof DataError && /nothing prepared yet/.test(error.message),
    );
    const meta = await prepare({ cacheRoot, source: "embedded", vocabSize: 300, log: () => {} });
    const data = await loadPrepared({ cacheRoot });
    assert.equal(data.meta.name, "moby-dick-v300");
    assert.equal(data.tokenBytes.length, 300);
    assert.equal(data.train.tokens[0], data.tokenizer.bosId);
    assert.equal(data.train.starts.length - 1, meta.train.documents);
    assert.equal(data.val.starts.length - 1, meta.val.documents);

    // Truncate train.bin: caught by the token count in meta.json.
    const bytes = await Deno.readFile(meta.train.path);
    await Deno.writeFile(meta.train.path, bytes.subarray(0, bytes.length - 200));
    await assert.rejects(
      loadPrepared({ cacheRoot }),
      (error) => error instanceof DataError && error.path === meta.train.path,
    );
    // prepare notices the damage and rebuilds instead of reusing.
    const rebuilt = await prepare({ cacheRoot, source: "embedded", vocabSize: 300, log: () => {} });
    assert.notEqual(rebuilt.reused, true);
    await loadPrepared({ cacheRoot });

    const { current } = cachePaths(cacheRoot);
    await Deno.writeTextFile(current, '{"name": "../../etc"}');
    await assert.rejects(
      loadPrepared({ cacheRoot }),
      (error) => error instanceof DataError && error.path === current,
    );
    // A named dataset still loads.
    assert.equal((await loadPrepared({ cacheRoot, name: "moby-dick-v300" })).meta.vocab_size, 300);
  } finally {
    await Deno.remove(cacheRoot, { recursive: true });
  }
});

Deno.test("cache root: AUTORESEARCH_CACHE, else ~/.cache/autoresearch", () => {
  const saved = Deno.env.get("AUTORESEARCH_CACHE");
  try {
    Deno.env.set("AUTORESEARCH_CACHE", "/tmp/somewhere");
    assert.equal(defaultCacheRoot(), "/tmp/somewhere");
    assert.equal(cachePaths().data, join("/tmp/somewhere", "data"));
    assert.equal(cachePaths().tokenizer, join("/tmp/somewhere", "tokenizer"));
    Deno.env.delete("AUTORESEARCH_CACHE");
    if (!Deno.env.get("XDG_CACHE_HOME") && Deno.env.get("HOME")) {
      assert.equal(defaultCacheRoot(), join(Deno.env.get("HOME")!, ".cache", "autoresearch"));
    }
  } finally {
    if (saved === undefined) Deno.env.delete("AUTORESEARCH_CACHE");
    else Deno.env.set("AUTORESEARCH_CACHE", saved);
  }
});
