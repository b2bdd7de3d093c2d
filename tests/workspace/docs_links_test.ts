/**
 * The documentation cites only files that exist in the repository: every relative Markdown link
 * and every repository path (src/..., tests/..., docs/..., scripts/..., bench/..., kernels/...,
 * .github/...) named in README.md, program.md, director.md, knowledge/FORMAT.md and docs/*.md.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";

const ROOT = new URL("../..", import.meta.url).pathname;

function documents(): string[] {
  const docs = [...Deno.readDirSync(join(ROOT, "docs"))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => join("docs", entry.name));
  return ["README.md", "program.md", "director.md", join("knowledge", "FORMAT.md"), ...docs];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("the docs link and name only files that exist", () => {
  const missing: string[] = [];
  let checked = 0;
  for (const doc of documents()) {
    const text = Deno.readTextFileSync(join(ROOT, doc));
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      checked++;
      if (!exists(join(ROOT, dirname(doc), target))) missing.push(`${doc}: link ${target}`);
    }
    const paths = /(?<![\w/.~-])((?:src|tests|docs|scripts|bench|kernels|\.github)\/[\w./-]*\w)/g;
    for (const [, path] of text.matchAll(paths)) {
      checked++;
      if (!exists(join(ROOT, path))) missing.push(`${doc}: path ${path}`);
    }
  }
  assert.ok(checked > 50, `only ${checked} references found: the patterns are broken`);
  assert.deepEqual(missing, []);
});
