/**
 * `autoresearch report` without a browser: the page is self-contained (nothing to fetch, card
 * text escaped, one mark per card), bad flags are one line and exit 2 with nothing written, a
 * card file corrupted after it was indexed is reported, and `--serve` serves the page and
 * regenerates it when the base changes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { collectHtmlReport, renderHtmlReport } from "../../src/knowledge/report_html.ts";
import { MAIN, runCli } from "../cli_helpers.ts";
import { sampleInput } from "../knowledge/helpers.ts";
import { generateDemoBase, HOSTILE_TEXTS } from "./demo_base.ts";

Deno.test("report page: self-contained, card text escaped, one mark per card", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-" });
  try {
    const base = await generateDemoBase(dir, { cards: 120, seed: 3, queue: false });
    const kb = openKnowledgeBase(dir);
    const report = await renderHtmlReport(await collectHtmlReport(kb));
    kb.close();
    const html = report.html;
    assert.equal(report.cards, base.ids.length);
    assert.equal(report.marks, base.ids.length);
    assert.equal(report.classes, base.devices.length);
    // Nothing to load: no external URL in any src/href, no link/img/iframe elements.
    assert.doesNotMatch(html, /\s(src|href)\s*=\s*"(?!#)/i);
    assert.doesNotMatch(html, /<(link|img|iframe|object|embed|base)\b/i);
    assert.equal(html.match(/<script\b/g)?.length, 2);
    assert.match(
      html,
      /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;/,
    );
    // Hostile text never appears raw, only escaped (the JSON block escapes every '<').
    for (const text of HOSTILE_TEXTS) {
      for (
        const piece of ["<script>window", "<img src=x", "<svg onload", "<iframe", "<style>body"]
      ) {
        if (text.includes(piece)) assert.ok(!html.includes(piece), `raw ${piece} in the page`);
      }
    }
    assert.ok(!/[\u202a-\u202e\u2066-\u2069\u200b]/.test(html), "raw bidi or zero-width character");
    const data = html.slice(html.indexOf('id="report-data">') + 17, html.indexOf("</script>"));
    const parsed = JSON.parse(data);
    assert.equal(parsed.cards.length, base.ids.length);
    const hrefs = [...html.matchAll(/<a href="#(card_[0-9A-Z]{26})"/g)].map((m) => m[1]);
    for (const id of base.ids) assert.ok(hrefs.includes(id), `no mark for ${id}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report CLI: bad flags are one line and exit 2, nothing written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-cli-" });
  try {
    const kb = join(dir, "kb");
    await generateDemoBase(kb, { cards: 5, hostile: false, queue: false });
    Deno.mkdirSync(join(dir, "adir"));
    const cases: [string[], RegExp][] = [
      [["--kb", join(dir, "missing")], /^error: --kb: no knowledge base at .*missing/],
      [["--kb", ""], /^error: --kb: must not be empty$/],
      [["--kb", kb, "--port", "80"], /^error: --port: only with --serve$/],
      [["--kb", kb, "--serve", "--port", "http"], /^error: --port: must be an integer/],
      [["--kb", kb, "--serve", "--port", "70000"], /^error: --port: must be an integer/],
      [["--kb", kb, "--serve", "--out", "x.html"], /^error: --out: not with --serve$/],
      [["--kb", kb, "--out", join(dir, "adir")], /^error: --out: .* is a directory/],
      [
        ["--kb", kb, "--out", join(kb, "cards", "x.html")],
        /^error: --out: .* is inside the records of the base .*\(cards\)/,
      ],
    ];
    for (const [args, expected] of cases) {
      const result = await runCli(["report", ...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr.trim(), expected);
      assert.equal(result.stderr.trim().split("\n").length, 1);
    }
    assert.deepEqual([...Deno.readDirSync(join(dir, "adir"))], []);
    assert.ok(![...Deno.readDirSync(join(kb, "cards"))].some((e) => e.name === "x.html"));
    assert.throws(() => Deno.statSync(join(kb, "views", "report.html")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report CLI: an empty base, and a card corrupted after indexing is reported", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-empty-" });
  try {
    const empty = await runCli(["report", "--kb", dir, "--json"]);
    assert.equal(empty.code, 0, empty.stderr);
    const written = JSON.parse(empty.stdout);
    assert.equal(written.path, join(dir, "views", "report.html"));
    assert.equal(written.cards, 0);
    assert.match(Deno.readTextFileSync(written.path), /No cards yet/);

    const kb = openKnowledgeBase(dir);
    const card = await kb.writeCard(sampleInput());
    await kb.listCards(); // indexed
    kb.close();
    Deno.writeTextFileSync(join(dir, "cards", `${card.id}.json`), "{ not json");
    const result = await runCli(["report", "--kb", dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`warning: skipped .*${card.id}\\.json: invalid JSON`));
    // The index re-reads a record edited in place: the card is reported and left out.
    assert.match(result.stdout, /^report of 0 cards in 0 classes written to /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "report --serve: serves the page on localhost and regenerates it when the base changes",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "report-serve-" });
    const kb = openKnowledgeBase(dir);
    const first = await kb.writeCard(sampleInput());
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "report", "--kb", dir, "--serve", "--port", "0"],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let seen = "";
      while (!/http:\/\/127\.0\.0\.1:\d+\//.test(seen)) {
        const { value, done } = await reader.read();
        assert.ok(!done, `server exited: ${seen}`);
        seen += value;
      }
      reader.releaseLock();
      const url = seen.match(/http:\/\/127\.0\.0\.1:\d+\//)![0];
      const page1 = await (await fetch(url)).text();
      assert.ok(page1.includes(first.id));
      const second = await kb.writeCard(sampleInput({ hypothesis: "a second idea" }));
      const page2 = await (await fetch(url)).text();
      assert.ok(page2.includes(second.id), "page not regenerated after a new card");
      const missing = await fetch(`${url}cards/${first.id}.json`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    } finally {
      kb.close();
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
