/**
 * Harness benchmarks: how long the fixed harness takes on the embedded corpus (Moby-Dick,
 * 1.19 M characters) — BPE training, encoding, a whole `prepare` — and how fast the best-fit
 * loader feeds the reference CPU batch (16 x 1024 = 16,384 tokens). Run alone with
 * `deno task bench harness`.
 */
import { embeddedDocuments } from "../src/train/corpus.ts";
import { BestFitLoader } from "../src/train/dataloader.ts";
import { loadPrepared, prepare } from "../src/train/prepare.ts";
import { Tokenizer, trainTokenizer } from "../src/train/tokenizer.ts";

function seconds(from: number): number {
  return (performance.now() - from) / 1000;
}

/** Print the harness figures. */
export async function run(): Promise<void> {
  const documents = embeddedDocuments();
  const chars = documents.reduce((sum, d) => sum + d.length, 0);
  for (const vocabSize of [4096, 8192]) {
    const start = performance.now();
    const tokenizer = await trainTokenizer(documents, { vocabSize });
    const train = seconds(start);
    // A fresh tokenizer (cold chunk cache) to time encoding honestly.
    const cold = new Tokenizer(tokenizer.merges);
    const encodeStart = performance.now();
    let tokens = 0;
    for (const document of documents) tokens += cold.encodeDocument(document).length;
    const encode = seconds(encodeStart);
    console.log(
      `bpe vocab ${vocabSize}: train ${train.toFixed(2)} s on ${
        (chars / 1e6).toFixed(2)
      } M chars; ` +
        `encode ${(tokens / encode / 1e6).toFixed(2)} M tokens/s cold ` +
        `(${tokens} tokens, ${(chars / tokens).toFixed(2)} chars/token)`,
    );
  }

  const cacheRoot = await Deno.makeTempDir({ prefix: "autoresearch-bench-" });
  try {
    const start = performance.now();
    await prepare({ cacheRoot, source: "embedded", log: () => {} });
    console.log(`prepare --embedded (vocab 4096, cold cache): ${seconds(start).toFixed(2)} s`);
    const loadStart = performance.now();
    const data = await loadPrepared({ cacheRoot });
    console.log(`loadPrepared: ${(seconds(loadStart) * 1000).toFixed(0)} ms`);
    const loader = new BestFitLoader(data.train, { batchSize: 16, seqLen: 1024, shuffle: true });
    const batches = 50;
    const loaderStart = performance.now();
    for (let i = 0; i < batches; i++) loader.next();
    const rate = (batches * 16 * 1024) / seconds(loaderStart);
    const waste = loader.stats.droppedTokens /
      (loader.stats.placedTokens + loader.stats.droppedTokens);
    console.log(
      `loader B=16 T=1024: ${(rate / 1e6).toFixed(1)} M tokens/s; ` +
        `cropped tails ${(100 * waste).toFixed(1)}% of used tokens`,
    );
  } finally {
    await Deno.remove(cacheRoot, { recursive: true });
  }
}

if (import.meta.main) await run();
