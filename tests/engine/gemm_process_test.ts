/**
 * sgemm in real child processes: `auto` without the ffi permission quietly picks WebAssembly
 * (no permission prompt), and a process that never calls `close()` still exits (the workers are
 * unref'd), with the right result.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createGemm } from "../../src/engine/cpu/gemm/mod.ts";

const modUrl = new URL("../../src/engine/cpu/gemm/mod.ts", import.meta.url).href;

/** Runs `source` as a module in a child Deno with `flags`; returns its exit code and stdout. */
async function runChild(source: string, flags: string[]): Promise<{ code: number; out: string }> {
  const dir = await Deno.makeTempDir({ prefix: "gemm_child_" });
  try {
    const file = join(dir, "child.ts");
    await Deno.writeTextFile(file, source);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...flags, file],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // A hang is the failure being tested for: kill after 60 s rather than wait forever.
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const res = await child.output();
    clearTimeout(timer);
    const out = new TextDecoder().decode(res.stdout);
    const err = new TextDecoder().decode(res.stderr);
    if (res.code !== 0) console.error(err);
    return { code: res.code, out };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CHILD = `
import { createGemm } from "${modUrl}";
const gemm = await createGemm();
const n = 300;
const a = new Float32Array(n * n).fill(0.5), b = new Float32Array(n * n).fill(2);
const c = new Float32Array(n * n);
gemm.sgemm({ a, b, c, m: n, n, k: n });
console.log(JSON.stringify({ kind: gemm.kind, threads: gemm.threads, c0: c[0], cLast: c[n * n - 1] }));
// no gemm.close(): the process must exit anyway
`;

Deno.test("gemm auto without --allow-ffi picks wasm, and the process exits without close()", async () => {
  const { code, out } = await runChild(CHILD, ["--allow-read"]);
  assert.equal(code, 0);
  const result = JSON.parse(out.trim());
  assert.match(result.kind, /^wasm/);
  assert.equal(result.threads, navigator.hardwareConcurrency);
  assert.equal(result.c0, 300);
  assert.equal(result.cLast, 300);
});

Deno.test("gemm auto picks the system BLAS when ffi is granted and one loads", async () => {
  let blasLoads = true;
  try {
    (await createGemm({ prefer: "blas" })).close();
  } catch {
    blasLoads = false;
  }
  const { code, out } = await runChild(CHILD, ["--allow-read", "--allow-ffi", "--allow-env"]);
  assert.equal(code, 0);
  assert.match(JSON.parse(out.trim()).kind, blasLoads ? /^blas:/ : /^wasm/);
});

Deno.test("gemm: bad options are rejected", async () => {
  await assert.rejects(() => createGemm({ threads: 0 }), RangeError);
  await assert.rejects(() => createGemm({ threads: 1.5 }), RangeError);
  // deno-lint-ignore no-explicit-any
  await assert.rejects(() => createGemm({ prefer: "fast" as any }), RangeError);
});
