/**
 * Test helpers for the harness: parquet shards written with hyparquet-writer, a loopback
 * HTTP server (Deno.serve on port 0) that serves them with scripted faults, and a runner for
 * the real `autoresearch` CLI in a child process.
 */
import { parquetWriteBuffer } from "hyparquet-writer";
import { type CliResult, runCli as runCliProcess } from "../cli_helpers.ts";

export type { CliResult };

/** A parquet file with one STRING column `text`, as the dataset's shards have. */
export function makeShard(texts: string[]): Uint8Array {
  return new Uint8Array(
    parquetWriteBuffer({ columnData: [{ name: "text", data: texts, type: "STRING" }] }),
  );
}

/** How the server answers one file. */
export interface Served {
  /** The file's bytes. */
  bytes: Uint8Array;
  /** Drop the connection halfway through this many first requests. */
  dropFirst?: number;
}

/** A loopback shard server; `files` can be changed while it runs. */
export interface ShardServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** File name -> how to serve it; names not here get a 404. */
  files: Map<string, Served>;
  /** File name -> requests seen. */
  requests: Map<string, number>;
  /** Stop the server. */
  close(): Promise<void>;
}

/** Start a shard server on 127.0.0.1, port 0. */
export function startShardServer(): ShardServer {
  const files = new Map<string, Served>();
  const requests = new Map<string, number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    onError: () => new Response("error", { status: 500 }),
  }, (request) => {
    const name = new URL(request.url).pathname.split("/").pop()!;
    const seen = (requests.get(name) ?? 0) + 1;
    requests.set(name, seen);
    const served = files.get(name);
    if (!served) return new Response("not found", { status: 404 });
    const headers = { "content-length": String(served.bytes.length) };
    if (seen <= (served.dropFirst ?? 0)) {
      // Send half the file, then break the connection.
      const half = served.bytes.subarray(0, served.bytes.length >> 1);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(half);
          setTimeout(() => controller.error(new Error("connection dropped by the test")), 5);
        },
      });
      return new Response(body, { headers });
    }
    return new Response(served.bytes.slice(), { headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    files,
    requests,
    close: () => server.shutdown(),
  };
}

/** Run `autoresearch <args>` as a real process with `env` added. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCliProcess(args, { env });
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
