/**
 * The pre-tokenizer: the upstream GPT-4-style split pattern (with `\p{N}{1,2}`), translated to a
 * JavaScript regex that splits text exactly as the Rust regex engine upstream does.
 *
 * Translation notes, each checked by tests/train/bpe_split_test.ts:
 * - Possessive `?+` / `++`: plain greedy quantifiers match the same here. In
 *   `[^\r\n\p{L}\p{N}]?+\p{L}+` the optional class never matches a letter, so giving it back
 *   cannot help `\p{L}+`; in `[^\s\p{L}\p{N}]++[\r\n]*` the tail can match empty, so greedy
 *   never backtracks into the class.
 * - `(?i:[sdmt]|ll|ve|re)`: spelled out with both cases, plus U+017F (long s), which the Rust
 *   engine's simple case folding also matches for `s`.
 * - `\s` / `\S`: JavaScript's `\s` differs from Unicode White_Space (it adds U+FEFF and lacks
 *   U+0085), so the class is written out.
 */

/** The upstream split pattern, verbatim (Rust/Python syntax), for reference and the saved file. */
export const SPLIT_PATTERN: string = String
  .raw`'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`;

// Unicode White_Space, as the Rust regex engine's `\s` (Unicode mode) defines it.
const WS = String.raw`\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000`;
const S = `[${WS}]`;
const NOT_S = `[^${WS}]`;

const JS_SPLIT_SOURCE = [
  String.raw`'(?:[sSdDmMtT\u017F]|[lL][lL]|[vV][eE]|[rR][eE])`,
  String.raw`[^\r\n\p{L}\p{N}]?\p{L}+`,
  String.raw`\p{N}{1,2}`,
  String.raw` ?[^${WS}\p{L}\p{N}]+[\r\n]*`,
  String.raw`${S}*[\r\n]`,
  String.raw`${S}+(?!${NOT_S})`,
  String.raw`${S}+`,
].join("|");

/** A fresh global regex implementing `SPLIT_PATTERN` (global regexes carry state: one per use). */
export function splitRegex(): RegExp {
  return new RegExp(JS_SPLIT_SOURCE, "gu");
}

/** Split `text` into pre-tokenizer chunks; their concatenation is always `text`. */
export function splitText(text: string): string[] {
  return text.match(splitRegex()) ?? [];
}
