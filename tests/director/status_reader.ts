/**
 * Test reader: reads the queue status in a loop until a stop-file appears and prints what it
 * saw: how many reads, the fewest items any read saw, and whether a read ever went backwards
 * (fewer claimed items than the read before) or disagreed with itself.
 * Usage: deno run -A status_reader.ts KB STOP_FILE
 */
import { countQueue, readQueue } from "../../src/director/mod.ts";

const [kb, stopFile] = Deno.args;
let reads = 0;
let minTotal = Number.POSITIVE_INFINITY;
let maxTotal = 0;
let lastClaimed = 0;
let backwards = 0;
let inconsistent = 0;
let problems = 0;
const seenClaimed = new Set<number>();
while (true) {
  const state = await readQueue(kb);
  const counts = countQueue(state, new Date(), 15);
  reads++;
  problems += state.problems.length;
  minTotal = Math.min(minTotal, counts.total);
  maxTotal = Math.max(maxTotal, counts.total);
  if (counts.in_progress < lastClaimed) backwards++;
  if (counts.pending + counts.in_progress + counts.completed + counts.dropped !== counts.total) {
    inconsistent++;
  }
  lastClaimed = counts.in_progress;
  seenClaimed.add(counts.in_progress);
  try {
    await Deno.stat(stopFile);
    break;
  } catch { /* keep reading */ }
}
console.log(JSON.stringify({
  reads,
  minTotal,
  maxTotal,
  backwards,
  inconsistent,
  problems,
  distinctClaimedCounts: seenClaimed.size,
}));
