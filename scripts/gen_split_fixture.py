"""Writes tests/fixtures/bpe_split_cases.json: how the upstream split pattern (verbatim, with its
possessive quantifiers and inline case-insensitive group) splits tricky strings, computed by the
Python `regex` module, so tests/train/bpe_split_test.ts can check our JavaScript translation.

Run: python3 scripts/gen_split_fixture.py   (needs `pip install regex`)
"""
import json
import pathlib

import regex

PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""

CASES = [
    "Hello world",
    "I'm don't HE'LL they've WE'RE you'd She'S",
    "'s 's's ''s x'sy",
    "12345 abc 1.5e10 3,141,592",
    "  hi\n\n  there  ",
    "foo!!!\n\nbar",
    "a...\r\n\r\nb",
    "end.  \n",
    "tabs\t\tand\t spaces   x",
    "trailing spaces   ",
    "   leading",
    "\n\n\n",
    " \n \n",
    "emoji 😀😀 ok👍🏽!",
    "日本語のテキスト123です",
    "Ünïcödé naïve café résumé",
    "x\u00a0\u00a0y\u3000z",
    "Ⅻ roman ½ half ٣ arabic-indic",
    "$100.00 (USD) #hashtag @user",
    "a\u2028b\u2029c",
    "--flag=value;\r\nnext",
    "'quoted' \"double\" «guillemets»",
    "CHAPTER 1. Loomings.\n\nCall me Ishmael.",
    "ſ 'ſx 'ſ",
]


def main():
    pattern = regex.compile(PATTERN)
    cases = [{"text": text, "chunks": pattern.findall(text)} for text in CASES]
    out = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/bpe_split_cases.json"
    out.write_text(json.dumps({"pattern": PATTERN, "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
