/**
 * The HTML report in a real browser: a generated base (several classes, hundreds of cards,
 * hostile card text) is rendered by the real CLI, opened in headless Chromium (Debian's
 * `chromium`, driven by puppeteer-core), and checked as a reader would meet it: no console
 * errors, no network requests, every section there, one plot mark per card, a click on a mark
 * shows that card's details, and no hostile text ever runs or renders as markup. Screenshots go
 * to the test's temp dir (kept when the test fails).
 *
 * Skips only where no Chromium is installed, and says so; under CI=true a missing Chromium
 * fails instead. `AUTORESEARCH_CHROMIUM` names another binary.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { runCli } from "../cli_helpers.ts";
import { CATEGORIES } from "../../src/knowledge/taxonomy.ts";
import { readCardFile } from "../../src/knowledge/records.ts";
import { COVERAGE_COLUMNS, visibleText } from "../../src/knowledge/report_html.ts";
import { generateDemoBase, HOSTILE_TEXTS } from "./demo_base.ts";

/** The browser API the page functions below use; they are serialised and run in Chromium. */
interface PageElement {
  readonly attributes: Iterable<{ name: string }>;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  closest(selector: string): PageElement | null;
  scrollIntoView(options: { block: string }): void;
  getBoundingClientRect(): { left: number; top: number; width: number; height: number };
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
}
interface PageDocument {
  readonly body: { innerText: string };
  getElementById(id: string): PageElement | null;
  elementFromPoint(x: number, y: number): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
}
/** Only ever dereferenced inside page functions (in the browser); undefined in Deno. */
const document = (globalThis as unknown as { document: PageDocument }).document;

const CHROMIUM = Deno.env.get("AUTORESEARCH_CHROMIUM") ?? "/usr/bin/chromium";
const CI = Deno.env.get("CI") === "true";

function chromiumPresent(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

const present = chromiumPresent();
if (!present && !CI) {
  console.warn(
    `report_browser_test: skipped: no Chromium at ${CHROMIUM} ` +
      "(apt-get install chromium, or set AUTORESEARCH_CHROMIUM)",
  );
}

const SECTIONS = [
  "summary",
  "progress",
  "findings",
  "questions",
  "lineage",
  "coverage",
  "queue",
  "agents",
  "cards",
  "details",
];

/** Click the first mark of `selector` that is on top at its own centre (not covered). */
async function clickVisibleMark(page: Page, selector: string, prefer: string[] = []) {
  const target = await page.evaluate(
    (selector: string, prefer: string[]) => {
      const marks = [...document.querySelectorAll(selector)];
      const ordered = [
        ...marks.filter((m) => prefer.includes(m.getAttribute("href")!.slice(1))),
        ...marks,
      ];
      for (const mark of ordered) {
        mark.scrollIntoView({ block: "center" });
        const box = mark.getBoundingClientRect();
        const x = box.left + box.width / 2;
        const y = box.top + box.height / 2;
        const hit = document.elementFromPoint(x, y);
        if (hit && hit.closest("a") === mark) return { href: mark.getAttribute("href")!, x, y };
      }
      return null;
    },
    selector,
    prefer,
  );
  assert.ok(target, `no uncovered mark for ${selector}`);
  await page.mouse.click(target.x, target.y);
  await page.waitForFunction(
    (id: string) => document.getElementById("details")?.getAttribute("data-card") === id,
    { timeout: 5000 },
    target.href.slice(1),
  );
  return target.href.slice(1);
}

Deno.test({
  name:
    "report in headless Chromium: sections, one mark per card, details on click, hostile text inert",
  ignore: !present && !CI,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.ok(present, `CI=true but no Chromium at ${CHROMIUM}: .ci/run installs it`);
    const dir = await Deno.makeTempDir({ prefix: "report-browser-" });
    let passed = false;
    let browser: Browser | null = null;
    try {
      const kb = join(dir, "kb");
      const base = await generateDemoBase(kb, { cards: 360, seed: 7 });
      const out = join(dir, "report.html");
      const cli = await runCli(["report", "--kb", kb, "--out", out, "--json"]);
      assert.equal(cli.code, 0, cli.stderr);
      const written = JSON.parse(cli.stdout);
      assert.equal(written.cards, base.ids.length);
      assert.equal(written.classes, base.devices.length);

      browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
      });
      const page = await browser.newPage();
      await page.setViewport({ width: 1500, height: 1000 });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error" || message.type() === "warn") {
          errors.push(`${message.type()}: ${message.text()}`);
        }
      });
      page.on("pageerror", (error) => errors.push(`pageerror: ${error}`));
      page.on("request", (request) => requests.push(request.url()));
      const url = new URL(`file://${out}`).href;
      await page.goto(url, { waitUntil: "load" });
      await page.screenshot({ path: join(dir, "report.png"), fullPage: false });

      // Every section is there, with its heading.
      for (const id of SECTIONS) {
        const found = await page.$(`#${id}`);
        assert.ok(found, `section #${id} missing`);
      }
      const headings = await page.$$eval("main section h2", (hs) => hs.map((h) => h.textContent));
      assert.equal(headings.length, SECTIONS.length - 2);

      // One chart per class; its marks are exactly the cards, each linked to its own id.
      const charts = await page.$$eval("#progress .chart svg", (svgs) => svgs.length);
      assert.equal(charts, base.devices.length);
      const hrefs = await page.$$eval(
        '#progress g[aria-description="runs"] a',
        (marks) => marks.map((m) => m.getAttribute("href")),
      );
      assert.equal(hrefs.length, base.ids.length);
      assert.deepEqual(new Set(hrefs), new Set(base.ids.map((id) => `#${id}`)));
      const cells = await page.$$eval(
        '#coverage g[aria-description="coverage"] rect',
        (r) => r.length,
      );
      assert.equal(cells, CATEGORIES.length * COVERAGE_COLUMNS.length);
      const nodes = await page.$$eval('#lineage g[aria-description="lineage"] a', (n) => n.length);
      assert.ok(nodes > base.ids.length / 2, `lineage shows ${nodes} nodes`);
      const edges = await page.$$eval(
        '#lineage g[aria-description="lineage edges"] path',
        (e) => e.length,
      );
      assert.ok(edges >= nodes - base.devices.length, `lineage shows ${edges} edges`);
      const queueRows = await page.$$eval("#queue tbody tr", (rows) => rows.length);
      assert.equal(queueRows, base.queue.items);

      // A real click on a plot mark shows that card's details, hostile text as text.
      const clicked = await clickVisibleMark(
        page,
        '#progress g[aria-description="runs"] a',
        base.hostileIds,
      );
      const card = readCardFile(join(kb, "cards", `${clicked}.json`), clicked);
      assert.ok(card.ok);
      const shown = await page.$eval("#details .hypothesis", (el) => el.textContent);
      assert.equal(shown, visibleText(card.value.hypothesis));
      await page.screenshot({ path: join(dir, "details.png") });
      // A lineage node and a table link lead to details too.
      const node = await clickVisibleMark(page, '#lineage g[aria-description="lineage"] a');
      assert.ok(base.ids.includes(node));
      const newest = base.ids[base.ids.length - 1];
      await page.click(`#cards a[href="#${newest}"]`);
      await page.waitForFunction(
        (id: string) => document.getElementById("details")?.getAttribute("data-card") === id,
        { timeout: 5000 },
        newest,
      );

      // A card id in the details (a prior card, built on by, in the text) leads to that card.
      const next = await page.$eval("#details a.card-link", (a) => a.getAttribute("href")!);
      await page.click(`#details a.card-link[href="${next}"]`);
      await page.waitForFunction(
        (id: string) => document.getElementById("details")?.getAttribute("data-card") === id,
        { timeout: 5000 },
        next.slice(1),
      );

      // Every hostile card's details: markup shown as text, bidi made visible, nothing ran.
      for (const id of base.hostileIds) {
        await page.evaluate((id: string) => location.hash = id, id);
        await page.waitForFunction(
          (id: string) => document.getElementById("details")?.getAttribute("data-card") === id,
          { timeout: 5000 },
          id,
        );
        const inDetails = await page.$eval("#details", (el) => ({
          elements: el.querySelectorAll("script, img, iframe, style, svg, b").length,
          text: el.textContent ?? "",
        }));
        assert.equal(inDetails.elements, 0, `markup from ${id} became elements`);
        assert.ok(/<\w|&|\{\{/.test(inDetails.text), `hostile text of ${id} not shown as text`);
      }
      await page.screenshot({ path: join(dir, "hostile.png") });
      const page_ = await page.evaluate(() => {
        const all = [...document.querySelectorAll("*")];
        return {
          pwned: (globalThis as { __pwned?: unknown }).__pwned ?? null,
          scripts: document.querySelectorAll("script").length,
          styles: document.querySelectorAll("style").length,
          foreign: document.querySelectorAll("img, iframe, object, embed, link, base, form").length,
          handlers: all.flatMap((el) =>
            [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name)
          ),
          javascriptLinks: all.filter((el) =>
            /^\s*javascript:/i.test(el.getAttribute("href") ?? "")
          ).length,
          text: document.body.innerText,
        };
      });
      assert.equal(page_.pwned, null, "a hostile script ran");
      assert.equal(page_.scripts, 2, "only the data block and the report's script");
      assert.equal(page_.styles, 1);
      assert.equal(page_.foreign, 0);
      assert.deepEqual(page_.handlers, []);
      assert.equal(page_.javascriptLinks, 0);
      assert.ok(!/[\u202a-\u202e\u2066-\u2069\u200b]/.test(page_.text), "raw bidi/zero-width text");
      assert.ok(page_.text.includes("\\u{202e}"), "bidi override not made visible");
      assert.ok(page_.text.includes(HOSTILE_TEXTS[0].slice(0, 20)), "hostile text not shown");

      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url], "the page loaded something besides itself");
      passed = true;
    } finally {
      await browser?.close();
      if (passed) await Deno.remove(dir, { recursive: true });
      else console.error(`report_browser_test: screenshots and base kept in ${dir}`);
    }
  },
});
