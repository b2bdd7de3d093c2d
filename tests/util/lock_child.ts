/**
 * Child process for the lock test: increments a counter file `rounds` times, each time as a
 * read-modify-write under `withLock`, yielding in the middle to invite a race.
 * Usage: lock_child.ts <counter file> <rounds>
 */
import { withLock } from "../../src/util/lock.ts";

const [path, rounds] = Deno.args;
for (let i = 0; i < Number(rounds); i++) {
  await withLock(`${path}.lock`, async () => {
    const value = Number(await Deno.readTextFile(path).catch(() => "0"));
    await new Promise((resolve) => setTimeout(resolve, 1));
    await Deno.writeTextFile(path, String(value + 1));
  });
}
