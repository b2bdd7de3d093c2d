/**
 * Child process for the stuck-lock tests: takes the lock at the path given, prints "locked",
 * then holds it until killed (the test stops it with SIGSTOP to play a hung holder).
 * Usage: lock_holder.ts <lock file>
 */
import { withLock } from "../../src/util/lock.ts";

await withLock(Deno.args[0], async () => {
  console.log("locked");
  await new Promise(() => setInterval(() => {}, 1000)); // hold until killed
});
