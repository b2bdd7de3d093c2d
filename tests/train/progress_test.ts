/**
 * Training progress output, in real child processes: with stderr not a terminal (a log, an
 * agent's pipe) one plain line per step, exactly `formatProgress`; on a terminal (a pty from
 * `script`) a progress bar redrawn in place with step, loss, tokens/s, MFU and time left,
 * coloured unless NO_COLOR is set.
 */
import assert from "node:assert/strict";
import { formatProgress } from "../../src/train/summary.ts";

const DRIVER = new URL("./progress_driver.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

Deno.test("progress without a terminal: one plain line per step, no escape codes", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DRIVER],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
  assert.equal(decoder.decode(output.stdout), "done\n");
  const lines = decoder.decode(output.stderr).trimEnd().split("\n");
  assert.equal(lines.length, 7);
  assert.equal(
    lines[0],
    formatProgress({
      step: 0,
      loss: 4,
      tokensPerSecond: 12_000,
      mfuPercent: null,
      progress: 0,
      remainingSeconds: 10,
      warmup: true,
    }),
  );
  assert.match(
    lines[6],
    /^step 00006 \(90\.0%\) \| loss 2\.500000 \| 12006 tok\/s \| mfu 36\.0% \| 1s left$/,
  );
  assert.ok(!lines.some((line) => line.includes("\r") || line.includes("\x1b")));
});

function scriptPresent(): boolean {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
}

async function onTerminal(env: Record<string, string>): Promise<string> {
  // `script` runs the driver on a pseudo-terminal and copies what it drew to our stdout.
  const command = `${Deno.execPath()} run -A ${DRIVER}`;
  const output = await new Deno.Command("/usr/bin/script", {
    args: ["-qfec", command, "/dev/null"],
    stdout: "piped",
    stderr: "piped",
    env: { TERM: "xterm", ...env },
  }).output();
  const text = decoder.decode(output.stdout);
  assert.equal(output.code, 0, text + decoder.decode(output.stderr));
  return text;
}

if (!scriptPresent()) {
  console.warn("progress_test: the terminal case is skipped: no /usr/bin/script (bsdutils)");
}

Deno.test({
  name: "progress on a terminal: a bar redrawn in place, coloured unless NO_COLOR",
  ignore: !scriptPresent(),
  async fn() {
    const plain = await onTerminal({ NO_COLOR: "1" });
    assert.match(plain, /done/);
    assert.match(
      plain,
      /#{27}-{3} 90% \| step 6 \| loss 2\.5000 \| 12006 tok\/s \| mfu 36\.0% \| ETA 1s of budget/,
    );
    assert.match(plain, /step 0 .*warm-up/);
    assert.ok(!plain.includes("\x1b[32m"), "colour despite NO_COLOR");
    assert.ok(!/^step \d{5} \(/m.test(plain), "plain log lines on a terminal");
    assert.ok(plain.includes("\r") || plain.includes("\x1b["), "bar not redrawn in place");
    const coloured = await onTerminal({ NO_COLOR: "" });
    assert.ok(coloured.includes("\x1b[32m"), "no colour on a terminal without NO_COLOR");
    assert.match(coloured, /90% \| step 6/);
  },
});
