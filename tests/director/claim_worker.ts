/**
 * Test worker: says it is ready (GO_FILE.<agent>.ready), waits for the go-file, then claims
 * queue items (several claims at once: --allow-multiple) until none is pending and prints the
 * claimed ids as JSON. Run as one of several
 * concurrent processes by concurrency_test.ts.
 * Usage: deno run -A claim_worker.ts KB AGENT GO_FILE
 */
import { claimNext } from "../../src/director/mod.ts";

const [kb, agent, goFile] = Deno.args;
await Deno.writeTextFile(`${goFile}.${agent}.ready`, "");
while (true) {
  try {
    await Deno.stat(goFile);
    break;
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
const claimed: string[] = [];
while (true) {
  const result = await claimNext({ kb }, agent, { allowMultiple: true });
  if (!result.claimed) break;
  claimed.push(result.claimed.item.id);
}
console.log(JSON.stringify(claimed));
