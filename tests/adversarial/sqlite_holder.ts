/**
 * Child process for the stuck-index test: opens a base's index.sqlite, starts a write
 * transaction (as a refresh does), prints "locked", then holds it until killed (the test stops
 * it with SIGSTOP to play a hung reader). Usage: sqlite_holder.ts <index.sqlite>
 */
import { DatabaseSync } from "node:sqlite";

const db = new DatabaseSync(Deno.args[0]);
db.exec("BEGIN IMMEDIATE");
console.log("locked");
await new Promise(() => setInterval(() => {}, 1000)); // hold until killed
