/**
 * Regenerate docs/report.png, the screenshot of `autoresearch report` shown in the docs: a demo
 * base (tests/report/demo_base.ts, no hostile text) rendered by the real CLI, opened in headless
 * Chromium, the running-best card of the first class clicked so the details panel is open.
 *
 *   deno run -A scripts/report_screenshot.ts [--out docs/report.png] [--chromium /usr/bin/chromium]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import puppeteer from "puppeteer-core";
import { generateDemoBase } from "../tests/report/demo_base.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: new URL("../docs/report.png", import.meta.url).pathname },
    chromium: {
      type: "string",
      default: Deno.env.get("AUTORESEARCH_CHROMIUM") ?? "/usr/bin/chromium",
    },
  },
});

const main = new URL("../main.ts", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "report-screenshot-" });
try {
  const kb = join(dir, "kb");
  await generateDemoBase(kb, { cards: 260, seed: 5, hostile: false });
  const html = join(dir, "report.html");
  const cli = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "report", "--kb", kb, "--out", html],
    env: { NO_COLOR: "1" },
  }).output();
  if (cli.code !== 0) throw new Error(new TextDecoder().decode(cli.stderr));

  const browser = await puppeteer.launch({
    executablePath: values.chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--hide-scrollbars"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1440, height: 900, deviceScaleFactor: 1 });
    await page.goto(new URL(`file://${html}`).href, { waitUntil: "load" });
    // Open the details of the first class's best card (its link in the class summary).
    const best = await page.$eval("#progress p a.card-link", (a) => a.getAttribute("href"));
    await page.goto(new URL(`file://${html}${best}`).href, { waitUntil: "load" });
    await page.screenshot({ path: values.out, type: "png" });
  } finally {
    await browser.close();
  }
  const size = Deno.statSync(values.out).size;
  console.log(`wrote ${values.out} (${(size / 1024).toFixed(0)} KiB)`);
  if (size > 300 * 1024) console.error("warning: the screenshot is over 300 KiB");
} finally {
  await Deno.remove(dir, { recursive: true });
}
