/**
 * The two escaping rules for text that came from a knowledge base (other people's agents, through
 * git: hostile input). `oneLine` / `terminalText` for anything printed to a terminal, file names
 * included: control bytes (escape sequences that retitle or clear the terminal), bidi overrides
 * (text that reads differently than it is) and zero-width characters are shown as visible
 * escapes. `markdownText` / `htmlText` for generated documents: markup from card text stays text
 * (`<script>`, `<!--` are inert). Every printer and document writer uses these.
 */

// C0 and C1 controls, DEL, line/paragraph separators.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// Bidi embeddings/overrides/isolates and marks (they reorder what the reader sees).
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
// Zero-width and invisible formatting characters (they hide differences between names).
const INVISIBLE = /[\u00ad\u034f\u180e\u200b-\u200d\u2060-\u2064\ufeff]/;

const UNSAFE = new RegExp(`${CONTROL.source}|${BIDI.source}|${INVISIBLE.source}`, "g");
const UNSAFE_KEEP_LINES = new RegExp(
  `[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]|${BIDI.source}|${INVISIBLE.source}`,
  "g",
);

function visible(ch: string): string {
  if (ch === "\n") return "\\n";
  if (ch === "\r") return "\\r";
  if (ch === "\t") return "\\t";
  const code = ch.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u{${code.toString(16).padStart(4, "0")}}`;
}

/**
 * `text` safe for one terminal line: every control character (newlines, escape sequences), bidi
 * override and zero-width character replaced by a visible escape (`\n`, `\x1b`, `\u{202e}`).
 */
export function oneLine(text: string): string {
  return String(text).replace(UNSAFE, visible);
}

/** Like `oneLine`, but keeps line breaks and tabs: for multi-line text printed as a block. */
export function terminalText(text: string): string {
  return String(text).replace(/\r\n/g, "\n").replace(UNSAFE_KEEP_LINES, visible);
}

/** True when `oneLine` would change `text` (it carries control, bidi or invisible characters). */
export function hasUnsafeCharacters(text: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return found;
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** `text` as HTML character data or an attribute value: `& < > " '` escaped, controls visible. */
export function htmlText(text: string): string {
  return terminalText(text).replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

/**
 * Card text inside a generated Markdown document, on one line: markup (`<script>`, `<!--`,
 * raw HTML) is escaped so it renders as text, control/bidi/zero-width characters are visible,
 * and line breaks cannot start a heading or a list.
 */
export function markdownText(text: string): string {
  return oneLine(text).replace(/[&<>]/g, (ch) => HTML_ESCAPES[ch]);
}

/** `text` cut to at most `max` characters, marking the cut with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
