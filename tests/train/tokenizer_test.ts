/**
 * The BPE tokenizer: the fast trainer learns exactly the merges a naive trainer learns, text
 * round-trips, token byte lengths are raw byte lengths (also for tokens that hold part of a
 * UTF-8 character), specials behave, and the saved file loads back or is reported as corrupt.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { addChunkCounts, pairKey, trainMerges } from "../../src/train/bpe.ts";
import { Tokenizer, trainTokenizer } from "../../src/train/tokenizer.ts";
import { embeddedDocuments } from "../../src/train/corpus.ts";
import { DataError, UsageError } from "../../src/util/errors.ts";

const encoder = new TextEncoder();

/** The textbook trainer: recount every pair after every merge. Slow, obviously right. */
function naiveMerges(counts: Map<string, number>, numMerges: number): number[] {
  const words = [...counts].map(([chunk, n]) => ({ ids: Array.from(encoder.encode(chunk)), n }));
  const merges: number[] = [];
  for (let m = 0; m < numMerges; m++) {
    const pairs = new Map<number, number>();
    for (const { ids, n } of words) {
      for (let i = 0; i + 1 < ids.length; i++) {
        const key = pairKey(ids[i], ids[i + 1]);
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let bestKey = -1, bestCount = 0;
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && key < bestKey)) {
        bestKey = key;
        bestCount = count;
      }
    }
    if (bestCount === 0) break;
    const a = Math.floor(bestKey / (1 << 20)), b = bestKey % (1 << 20);
    merges.push(a, b);
    for (const word of words) {
      const out: number[] = [];
      for (let i = 0; i < word.ids.length; i++) {
        if (i + 1 < word.ids.length && word.ids[i] === a && word.ids[i + 1] === b) {
          out.push(256 + m);
          i++;
        } else out.push(word.ids[i]);
      }
      word.ids = out;
    }
  }
  return merges;
}

const SAMPLE = embeddedDocuments().slice(0, 60).join("\n\n") +
  "\naaaa aaaaa ab ab abab 1234 1234 日本語 日本 naïve naïve café 😀😀 😀";

Deno.test("bpe: the fast trainer learns the same merges as the naive one", () => {
  const counts = new Map<string, number>();
  addChunkCounts(counts, SAMPLE);
  const fast = trainMerges(counts, 300);
  const naive = naiveMerges(counts, 300);
  assert.equal(fast.length, 600);
  assert.deepEqual(fast, naive);
});

Deno.test("bpe: training stops when no pair is left", () => {
  const counts = new Map([["ab", 3], ["c", 5]]);
  assert.deepEqual(trainMerges(counts, 10), [97, 98]);
});

Deno.test("tokenizer: round-trips text, byte lengths add up to the UTF-8 length", async () => {
  const tokenizer = await trainTokenizer([SAMPLE], { vocabSize: 600 });
  assert.equal(tokenizer.vocabSize, 600);
  const tokenBytes = tokenizer.tokenBytes();
  const texts = [
    SAMPLE,
    "Call me Ishmael. Zebra-quagga 42 x\u00a0y ſ'S\r\n\r\n  end",
    "emoji 🙂🙃 mixed 中文 and Ελληνικά and עברית",
    "",
  ];
  for (const text of texts) {
    const ids = tokenizer.encodeOrdinary(text);
    assert.equal(tokenizer.decode(ids), text);
    assert.deepEqual(tokenizer.decodeBytes(ids), encoder.encode(text));
    const counted = ids.reduce((sum, id) => sum + tokenBytes[id], 0);
    assert.equal(counted, encoder.encode(text).length);
  }
});

Deno.test("tokenizer: a token holding part of a UTF-8 character counts its raw bytes", async () => {
  // " 語" is one chunk: bytes 20 E8 AA 9E. Repeated, its first pair merges into a token
  // holding a space and a lone UTF-8 lead byte.
  const tokenizer = await trainTokenizer([" 語 語 語 語 x"], { vocabSize: 261 });
  assert.deepEqual([...tokenizer.bytesOf(256)], [0x20, 0xe8]);
  const ids = tokenizer.encodeOrdinary(" 語");
  assert.deepEqual(ids, [256, 0xaa, 0x9e]);
  assert.equal(tokenizer.decode([256]), " \ufffd"); // decoded alone it is broken text...
  const tokenBytes = tokenizer.tokenBytes();
  assert.equal(tokenBytes[256], 2); // ...but it holds 2 bytes, not 1 + 3 (U+FFFD)
  assert.equal(tokenBytes[0xaa] + tokenBytes[0x9e], 2);
  assert.equal(ids.reduce((sum, id) => sum + tokenBytes[id], 0), 4);
  assert.equal(tokenizer.decode(ids), " 語");
});

Deno.test("tokenizer: specials follow the merges, BOS is <|reserved_0|>, 0 bytes each", async () => {
  const tokenizer = await trainTokenizer([SAMPLE], { vocabSize: 300 });
  assert.equal(tokenizer.bosId, 296);
  assert.deepEqual([...tokenizer.specialIds.values()], [296, 297, 298, 299]);
  assert.deepEqual([...tokenizer.tokenBytes().subarray(296)], [0, 0, 0, 0]);
  // Special names in text are ordinary text, never the special id.
  const ids = tokenizer.encodeOrdinary("<|reserved_0|>");
  assert.ok(ids.every((id) => id < 296));
  assert.deepEqual(tokenizer.encodeDocument("hi").slice(0, 1), [296]);
});

Deno.test("tokenizer: caps documents and total characters like upstream", async () => {
  const docs = ["ab".repeat(8000), "xy".repeat(20000)]; // 16k and 40k characters
  const capped = await trainTokenizer(docs, { vocabSize: 263, maxChars: 12_000 });
  // The first document is cut at 10k characters, the second gets the 2k left of the budget.
  const cut = [docs[0].slice(0, 10_000), docs[1].slice(0, 2_000)];
  const explicit = await trainTokenizer(cut, { vocabSize: 263, docCap: Infinity });
  const uncapped = await trainTokenizer(docs, { vocabSize: 263, docCap: Infinity });
  assert.deepEqual(capped.merges, explicit.merges);
  assert.deepEqual(capped.merges.slice(0, 2), [97, 98]); // capped, "ab" is the commonest pair
  assert.deepEqual(uncapped.merges.slice(0, 2), [120, 121]); // uncapped, "xy" is
  await assert.rejects(
    trainTokenizer(["ab"], { vocabSize: 270 }),
    (error) => error instanceof UsageError && /supports at most 261/.test(error.message),
  );
  await assert.rejects(trainTokenizer(["ab"], { vocabSize: 100 }), UsageError);
});

Deno.test("tokenizer: saves as JSON data and loads back; a corrupt file is reported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tokenizer = await trainTokenizer([SAMPLE], { vocabSize: 400 });
    const path = join(dir, "tokenizer.json");
    await tokenizer.save(path);
    const saved = JSON.parse(await Deno.readTextFile(path));
    assert.equal(saved.vocab_size, 400);
    assert.equal(saved.merges.length, 2 * 140);
    const loaded = await Tokenizer.load(path);
    assert.deepEqual(loaded.encodeOrdinary(SAMPLE), tokenizer.encodeOrdinary(SAMPLE));
    assert.deepEqual(loaded.tokenBytes(), tokenizer.tokenBytes());

    await Deno.writeTextFile(path, JSON.stringify({ ...saved, merges: [1, 2, 999, 3] }));
    await assert.rejects(
      Tokenizer.load(path),
      (error) => error instanceof DataError && error.message.startsWith(path),
    );
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(Tokenizer.load(path), DataError);
    await assert.rejects(Tokenizer.load(join(dir, "missing.json")), /run `autoresearch prepare`/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
