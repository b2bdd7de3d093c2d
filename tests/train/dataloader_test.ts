/**
 * Best-fit packing: every row is full (T + 1 tokens, no padding), every document starts with
 * BOS where it starts, no token is lost except the tails of cropped documents, targets are the
 * inputs shifted by one, and the same seed gives the same batches.
 */
import assert from "node:assert/strict";
import { BestFitLoader } from "../../src/train/dataloader.ts";
import { documentStarts, type TokenDocs } from "../../src/train/data.ts";
import { seededRandom } from "../../src/util/random.ts";

const BOS = 1000;

/** Documents of the given lengths (BOS included); token values encode (document, position). */
function makeDocs(lengths: number[]): TokenDocs {
  const total = lengths.reduce((a, b) => a + b, 0);
  const tokens = new Uint16Array(total);
  let at = 0;
  lengths.forEach((length, doc) => {
    tokens[at++] = BOS;
    for (let i = 1; i < length; i++) tokens[at++] = (doc * 7 + i) % 997;
  });
  return { tokens, starts: documentStarts(tokens, BOS) };
}

/** Reassemble the rows of a batch ([B, T + 1]) from inputs and targets. */
function rowsOf(inputs: Int32Array, targets: Int32Array, B: number, T: number): Int32Array[] {
  const rows: Int32Array[] = [];
  for (let b = 0; b < B; b++) {
    const row = new Int32Array(T + 1);
    row.set(inputs.subarray(b * T, (b + 1) * T));
    row[T] = targets[(b + 1) * T - 1];
    // targets are the inputs shifted by one
    assert.deepEqual(
      targets.subarray(b * T, (b + 1) * T - 1),
      inputs.subarray(b * T + 1, (b + 1) * T),
    );
    rows.push(row);
  }
  return rows;
}

Deno.test("loader: best fit, by hand", () => {
  // Row capacity 9; the buffer holds all 4 documents and refills from the next epoch.
  const docs = makeDocs([5, 6, 4, 3]);
  const loader = new BestFitLoader(docs, { batchSize: 2, seqLen: 8 });
  const batch = loader.next().value;
  const rows = rowsOf(batch.inputs, batch.targets, 2, 8);
  const doc = (d: number) => Array.from(docs.tokens.subarray(docs.starts[d], docs.starts[d + 1]));
  // Row 1: the largest that fits 9 is doc 1 (6); the largest that fits the last 3 is doc 3.
  assert.deepEqual(Array.from(rows[0]), [...doc(1), ...doc(3)]);
  // Row 2: buffer {0, 2, 0', 1'}: doc 1' (6) again; then {0, 2, 0', 2'} and nothing fits 3,
  // so the shortest (doc 2, first of the two 4s) is cropped to 3 tokens.
  assert.deepEqual(Array.from(rows[1]), [...doc(1), ...doc(2).slice(0, 3)]);
  assert.deepEqual(loader.stats, {
    documents: 4,
    cropped: 1,
    droppedTokens: 1,
    placedTokens: 18,
    drawn: 7,
  });
  assert.equal(batch.epoch, 2);
});

Deno.test("loader: when nothing fits, the shortest document is cropped to fill the row", () => {
  const docs = makeDocs([20, 12, 30]);
  const loader = new BestFitLoader(docs, { batchSize: 1, seqLen: 9 });
  const batch = loader.next().value;
  const row = rowsOf(batch.inputs, batch.targets, 1, 9)[0];
  assert.deepEqual(Array.from(row), Array.from(docs.tokens.subarray(20, 30))); // doc 1 cropped
  assert.equal(loader.stats.cropped, 1);
  assert.equal(loader.stats.droppedTokens, 2);
});

/** Documents whose non-BOS tokens are all distinct, so every token names its document. */
function distinctDocs(lengths: number[]): { docs: TokenDocs; owner: Map<number, number> } {
  const tokens = new Uint16Array(lengths.reduce((a, b) => a + b, 0));
  const owner = new Map<number, number>();
  let at = 0, value = 0;
  lengths.forEach((length, doc) => {
    tokens[at++] = BIG_BOS;
    for (let i = 1; i < length; i++) {
      owner.set(value, doc);
      tokens[at++] = value++;
    }
  });
  return { docs: { tokens, starts: documentStarts(tokens, BIG_BOS) }, owner };
}
const BIG_BOS = 65535;

Deno.test("loader: packing invariants over many random documents and epochs", () => {
  const random = seededRandom(7);
  // All shorter than a row: longer ones wait in the buffer until they are the shortest (upstream).
  const lengths = Array.from({ length: 300 }, () => 2 + Math.floor(random() * 60));
  const { docs, owner } = distinctDocs(lengths);
  const B = 4, T = 64;
  const loader = new BestFitLoader(docs, {
    batchSize: B,
    seqLen: T,
    shuffle: true,
    seed: 3,
    bufferSize: 100,
  });
  const placements = new Array<number>(lengths.length).fill(0);
  let rows = 0, dropped = 0, anonymousCrops = 0;
  while (loader.stats.documents < 3 * lengths.length) {
    const batch = loader.next().value;
    for (const row of rowsOf(batch.inputs, batch.targets, B, T)) {
      rows++;
      assert.equal(row[0], BIG_BOS, "every row starts at a document start");
      // Cut the row into segments at BOS; each must be its document from the start, whole
      // except possibly the last segment (the cropped one), and no padding anywhere.
      const cuts = [...row.keys()].filter((i) => row[i] === BIG_BOS);
      cuts.forEach((start, k) => {
        const end = k + 1 < cuts.length ? cuts[k + 1] : row.length;
        if (end - start === 1 && end === row.length) {
          anonymousCrops++; // a document cropped to its BOS alone: nothing names it
          return;
        }
        const doc = owner.get(row[start + 1])!;
        assert.notEqual(doc, undefined, "a segment starts with its document's first token");
        const expected = docs.tokens.subarray(docs.starts[doc], docs.starts[doc + 1]);
        assert.deepEqual(
          row.subarray(start, end),
          Int32Array.from(expected.subarray(0, end - start)),
        );
        if (end - start < expected.length) {
          assert.equal(end, row.length, "only the row's last document may be cropped");
          dropped += expected.length - (end - start);
        }
        placements[doc]++;
      });
    }
  }
  assert.equal(loader.stats.placedTokens, rows * (T + 1));
  const named = placements.reduce((a, b) => a + b, 0);
  assert.equal(named + anonymousCrops, loader.stats.documents);
  assert.ok(anonymousCrops < 0.02 * named);
  const maxLength = Math.max(...lengths);
  assert.ok(loader.stats.droppedTokens >= dropped);
  assert.ok(loader.stats.droppedTokens - dropped <= anonymousCrops * maxLength);
  // Nothing is lost: every document drawn was placed or still waits in the buffer, and each
  // was drawn once per epoch (E full epochs, E + 1 for those in the epoch under way).
  const pending = loader.pending();
  assert.equal(named + anonymousCrops + pending.length, loader.stats.drawn);
  for (const doc of pending) placements[doc]++;
  const epochs = Math.floor(loader.stats.drawn / lengths.length);
  const missing = placements.reduce((sum, n) => sum + Math.max(0, epochs - n), 0);
  assert.ok(placements.every((n) => n <= epochs + 1));
  // Only a document cropped to its BOS alone goes unnamed (the shortest ones, repeatedly).
  assert.ok(missing <= anonymousCrops, `${missing} unaccounted, ${anonymousCrops} unnamed`);
});

Deno.test("loader: with a buffer of one, the stream is the documents in order, tails cropped", () => {
  const { docs } = distinctDocs([5, 30, 7, 2, 9, 40, 3]);
  const loader = new BestFitLoader(docs, { batchSize: 1, seqLen: 15, bufferSize: 1 });
  const expected: number[] = [];
  let row: number[] = [];
  for (let d = 0; expected.length < 5 * 16; d = (d + 1) % 7) {
    const doc = Array.from(docs.tokens.subarray(docs.starts[d], docs.starts[d + 1]));
    const take = doc.slice(0, 16 - row.length);
    row.push(...take);
    if (row.length === 16) {
      expected.push(...row);
      row = [];
    }
  }
  const got: number[] = [];
  for (let i = 0; i < 5; i++) {
    const batch = loader.next().value;
    got.push(...rowsOf(batch.inputs, batch.targets, 1, 15)[0]);
  }
  assert.deepEqual(got, expected);
});

Deno.test("loader: deterministic for a seed, different across seeds", () => {
  const random = seededRandom(5);
  const docs = makeDocs(Array.from({ length: 200 }, () => 1 + Math.floor(random() * 50)));
  const take = (seed: number) => {
    const loader = new BestFitLoader(docs, { batchSize: 3, seqLen: 16, shuffle: true, seed });
    return Array.from({ length: 5 }, () => Array.from(loader.next().value.inputs)).flat();
  };
  assert.deepEqual(take(1), take(1));
  assert.notDeepEqual(take(1), take(2));
});

Deno.test("loader: rejects a bad shape or an empty split", () => {
  const docs = makeDocs([3, 4]);
  assert.throws(() => new BestFitLoader(docs, { batchSize: 0, seqLen: 8 }), RangeError);
  assert.throws(() => new BestFitLoader(docs, { batchSize: 1, seqLen: 1.5 }), RangeError);
  const empty = { tokens: new Uint16Array(0), starts: new Uint32Array([0]) };
  assert.throws(() => new BestFitLoader(empty, { batchSize: 1, seqLen: 8 }), RangeError);
});
