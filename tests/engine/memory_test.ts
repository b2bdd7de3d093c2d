/**
 * No growth: 100 training-like steps (tiny attention block + MLP, forward, backward, AdamW and
 * Muon) in a separate process with an exposed GC leave the backend's bytes in use, its live
 * buffer count and the V8 heap flat, and everything is freed at the end. The loss must also fall.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "./helpers.ts";

interface Sample {
  step: number;
  inUseBytes: number;
  reservedBytes: number;
  liveBuffers: number;
  heapUsed: number;
  external: number;
}

for (const bc of BACKENDS) {
  Deno.test({
    name: `memory ${bc.name}: 100 training steps keep device and heap memory flat`,
    ignore: bc.skip !== undefined,
    fn: async () => {
      const probe = new URL("./memory_probe.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--v8-flags=--expose-gc", probe, bc.name],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `probe failed: ${stderr}`);
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      const r = JSON.parse(lines[lines.length - 1]) as {
        first: number;
        last: number;
        samples: Sample[];
        end: { inUseBytes: number; liveBuffers: number };
      };
      assert.ok(r.last < r.first * 0.5, `loss fell: ${r.first} -> ${r.last}`);
      // Step 20 is the baseline: optimizer state and pools exist by then.
      const base = r.samples.find((s) => s.step === 20)!;
      for (const s of r.samples.filter((s) => s.step >= 20)) {
        assert.equal(s.inUseBytes, base.inUseBytes, `bytes in use at step ${s.step}`);
        assert.equal(s.liveBuffers, base.liveBuffers, `live buffers at step ${s.step}`);
        assert.equal(s.reservedBytes, base.reservedBytes, `reserved bytes at step ${s.step}`);
      }
      const last = r.samples[r.samples.length - 1];
      // A leak of one tape per step (closures, tensors, typed arrays) is tens of KB per step.
      const growth = last.heapUsed - base.heapUsed;
      assert.ok(growth < 512 * 1024, `heap grew ${growth} bytes from step 20 to 100`);
      const extGrowth = last.external - base.external;
      assert.ok(extGrowth < 512 * 1024, `external memory grew ${extGrowth} bytes`);
      assert.equal(r.end.inUseBytes, 0, "all bytes freed after dispose");
      assert.equal(r.end.liveBuffers, 0, "all buffers freed after dispose");
    },
  });
}
