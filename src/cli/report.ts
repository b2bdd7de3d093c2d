/**
 * `autoresearch report`: the knowledge base as one self-contained HTML page (charts, findings,
 * lineage, coverage, queue, agents; see src/knowledge/report_html.ts). `--open` opens it in the
 * default browser; `--serve` serves it on localhost and regenerates it when the base changes.
 */
import type { Command } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { queueSection } from "../director/brief.ts";
import { checkOutputPath, openKnowledgeBase } from "../knowledge/mod.ts";
import { collectHtmlReport, renderHtmlReport, writeHtmlReport } from "../knowledge/report_html.ts";
import { UsageError } from "../util/errors.ts";
import { oneLine } from "../util/text.ts";
import { action, checkBase, jsonOption, kbOption, printJson } from "./common.ts";

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port > 65535) {
    throw new UsageError(
      "--port",
      `must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`,
    );
  }
  return port;
}

/** Open `path` with the platform's opener; says so when there is none. */
async function openInBrowser(path: string): Promise<void> {
  const opener = Deno.build.os === "darwin"
    ? ["open", path]
    : Deno.build.os === "windows"
    ? ["cmd", "/c", "start", "", path]
    : ["xdg-open", path];
  try {
    const child = new Deno.Command(opener[0], {
      args: opener.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
    const status = await Promise.race([
      child.status,
      new Promise<null>((done) => setTimeout(() => done(null), 3000)),
    ]);
    if (status && !status.success) throw new Error(`${opener[0]} exited ${status.code}`);
  } catch (error) {
    console.error(
      `warning: could not open a browser (${oneLine((error as Error).message)}); open ${
        oneLine(path)
      } yourself`,
    );
  }
}

async function serve(kbDir: string, port: number): Promise<void> {
  const kb = openKnowledgeBase(kbDir);
  let cached: { stamp: string; html: string } | null = null;
  const page = async (): Promise<string> => {
    // The index stamp changes whenever a record is added or removed: regenerate only then.
    const stamp = `${await kb.stamp()}|${JSON.stringify(await queueSection(kbDir))}`;
    if (cached?.stamp !== stamp) {
      const input = await collectHtmlReport(kb, await queueSection(kbDir));
      cached = { stamp, html: (await renderHtmlReport(input)).html };
    }
    return cached.html;
  };
  await page();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ hostname, port }) => {
      console.log(`serving the report of ${oneLine(kbDir)} at http://${hostname}:${port}/`);
      console.log("it is regenerated when the base changes; reload the page. Ctrl-C stops.");
    },
  }, async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" || (path !== "/" && path !== "/index.html")) {
      return new Response("not found\n", { status: 404 });
    }
    try {
      return new Response(await page(), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        },
      });
    } catch (error) {
      return new Response(`error: ${oneLine((error as Error).message)}\n`, { status: 500 });
    }
  });
  await server.finished;
}

/** Register `report`. */
export function register(program: Command): void {
  program
    .command("report")
    .description(
      "the knowledge base as one self-contained HTML page: val_bpb over time, findings, " +
        "lineage, coverage, queue, agents",
    )
    .option("--out <file>", "output path (default <kb>/views/report.html)")
    .option("--open", "open the page in the default browser")
    .option("--serve", "serve the page on localhost instead, regenerated when the base changes")
    .option("--port <n>", "port for --serve (default 8000; 0 picks a free one)")
    .addOption(kbOption())
    .addOption(jsonOption())
    .action(action(async (opts) => {
      checkBase(opts.kb, true);
      if (opts.port !== undefined && !opts.serve) {
        throw new UsageError("--port", "only with --serve");
      }
      if (opts.serve) {
        if (opts.out !== undefined) throw new UsageError("--out", "not with --serve");
        if (opts.open) throw new UsageError("--open", "not with --serve");
        await serve(opts.kb, opts.port === undefined ? 8000 : parsePort(opts.port));
        return;
      }
      if (opts.out !== undefined) checkOutputPath(opts.kb, "--out", opts.out);
      const kb = openKnowledgeBase(opts.kb);
      const result = await writeHtmlReport(kb, {
        out: opts.out,
        queue: await queueSection(opts.kb),
      });
      for (const skip of result.skipped) {
        console.error(`warning: skipped ${oneLine(skip.path)}: ${oneLine(skip.reason)}`);
      }
      if (opts.json) {
        printJson({
          path: result.path,
          bytes: result.bytes,
          cards: result.cards,
          classes: result.classes,
          skipped: result.skipped.length,
        });
      } else {
        console.log(
          `report of ${result.cards} cards in ${result.classes} classes written to ${
            oneLine(result.path)
          } (${(result.bytes / 1024).toFixed(0)} KiB)`,
        );
      }
      if (opts.open) await openInBrowser(resolve(result.path));
    }));
}
