/**
 * Documents and token files: paragraph splitting, the deterministic train/val split, token
 * files across the writer's buffer boundary, damaged token files reported, and parquet shards
 * read back by column.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  readParquetTexts,
  readTokenFile,
  splitParagraphs,
  splitTrainVal,
  TokenFileWriter,
} from "../../src/train/data.ts";
import { DataError } from "../../src/util/errors.ts";
import { makeShard } from "./harness_helpers.ts";

Deno.test("data: paragraphs split on blank lines, whitespace-only pieces dropped", () => {
  const text = "\n\nOne\nline two.\n\n \t\nTwo.\r\n\r\nThree\n\n\n\n";
  assert.deepEqual(splitParagraphs(text), ["One\nline two.", "Two.", "Three"]);
});

Deno.test("data: every tenth document goes to val, evenly spread, deterministic", () => {
  const docs = Array.from({ length: 100 }, (_, i) => `d${i}`);
  const { train, val } = splitTrainVal(docs);
  assert.equal(val.length, 10);
  assert.equal(train.length, 90);
  assert.deepEqual(val, Array.from({ length: 10 }, (_, k) => `d${10 * k + 9}`));
  assert.deepEqual(splitTrainVal(docs), { train, val });
  assert.deepEqual(splitTrainVal(["a", "b", "c"]), { train: ["a", "b"], val: ["c"] });
  assert.throws(() => splitTrainVal(["only"]), /at least 2/);
});

Deno.test("data: token files round-trip across the write buffer; damage is reported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const BOS = 65000;
    const path = join(dir, "train.bin");
    const writer = await TokenFileWriter.create(path);
    const expected: number[] = [];
    // 600 documents of 1,001..1,600 tokens: 1.5 MB, crossing the 1 MiB buffer mid-document.
    for (let d = 0; d < 600; d++) {
      const doc = [BOS, ...Array.from({ length: 1000 + d }, (_, i) => (d * 31 + i) % 60000)];
      expected.push(...doc);
      await writer.write(doc);
    }
    await writer.close();
    assert.equal(writer.tokens, expected.length);
    const docs = await readTokenFile(path, BOS);
    assert.deepEqual(Array.from(docs.tokens), expected);
    assert.equal(docs.starts.length, 601);
    assert.equal(docs.starts[600], expected.length);
    assert.ok(expected.length * 2 > 1 << 20);

    await Deno.writeFile(join(dir, "odd.bin"), Uint8Array.of(1, 2, 3));
    await assert.rejects(readTokenFile(join(dir, "odd.bin"), BOS), DataError);
    await Deno.writeFile(join(dir, "nobos.bin"), Uint8Array.of(1, 0, 2, 0));
    await assert.rejects(readTokenFile(join(dir, "nobos.bin"), BOS), /does not start with BOS/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("data: parquet shards are read by their text column; garbage is a DataError", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const texts = ["first", "second — ünïcode 🐳", "third\n\nwith paragraphs"];
    await Deno.writeFile(join(dir, "a.parquet"), makeShard(texts));
    assert.deepEqual(await readParquetTexts(join(dir, "a.parquet")), texts);
    await Deno.writeTextFile(join(dir, "b.parquet"), "PAR1 not really PAR1");
    await assert.rejects(
      readParquetTexts(join(dir, "b.parquet")),
      (error) => error instanceof DataError && error.path === join(dir, "b.parquet"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
