/**
 * The split pattern: our JavaScript translation must cut text exactly as the upstream pattern
 * does (possessive quantifiers, inline case-insensitive contractions, Unicode classes). The
 * expected chunks come from the upstream pattern run verbatim by Python's `regex` module
 * (scripts/gen_split_fixture.py); a few whitespace cases are written by hand from the Unicode
 * White_Space definition the Rust engine uses.
 */
import assert from "node:assert/strict";
import { SPLIT_PATTERN, splitText } from "../../src/train/bpe_split.ts";
import fixture from "../fixtures/bpe_split_cases.json" with { type: "json" };

Deno.test("split: matches the upstream pattern on tricky strings", () => {
  assert.equal(fixture.pattern, SPLIT_PATTERN);
  assert.ok(fixture.cases.length >= 20);
  for (const { text, chunks } of fixture.cases) {
    assert.deepEqual(splitText(text), chunks, `splitting ${JSON.stringify(text)}`);
  }
});

Deno.test("split: numbers come in groups of at most two digits", () => {
  assert.deepEqual(splitText("2026"), ["20", "26"]);
  assert.deepEqual(splitText("x12345"), ["x", "12", "34", "5"]);
});

Deno.test("split: possessive punctuation run keeps its trailing newlines", () => {
  assert.deepEqual(splitText("hi!!\n\nyo"), ["hi", "!!\n\n", "yo"]);
  assert.deepEqual(splitText("a 'b"), ["a", " '", "b"]);
});

Deno.test("split: whitespace follows Unicode White_Space, not JavaScript's \\s", () => {
  // U+0085 is White_Space (JavaScript's \s misses it); U+FEFF is not (JavaScript's \s has it).
  assert.deepEqual(splitText("a\u0085\u0085b"), ["a", "\u0085", "\u0085b"]);
  assert.deepEqual(splitText("a \ufeffb"), ["a", " \ufeff", "b"]);
  assert.deepEqual(splitText("a   b"), ["a", "  ", " b"]);
});

Deno.test("split: chunks always concatenate back to the input", () => {
  const samples = ["", " ", "\r\n\r\n", "a\tb\u3000c", "🙂x1'S\n", "ſ'ſ", "\u0000\u0001 ok"];
  for (const text of samples) assert.equal(splitText(text).join(""), text);
});
