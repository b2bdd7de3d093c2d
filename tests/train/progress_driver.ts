/**
 * Child process for progress_test.ts: drives the real training progress display through a
 * warm-up step and six counted steps of a 10 s budget, the way the training loop does, then stops
 * it and prints `done` on stdout. Whether stderr is a terminal decides bar or lines.
 */
import { progressDisplay } from "../../src/train/progress.ts";

const display = progressDisplay({ budgetSeconds: 10 });
const steps = 7;
for (let step = 0; step < steps; step++) {
  const counted = Math.max(0, step) * 1.5;
  display.update({
    step,
    loss: 4 - step * 0.25,
    tokensPerSecond: 12_000 + step,
    mfuPercent: step === 0 ? null : 30 + step,
    progress: Math.min(counted / 10, 1),
    remainingSeconds: 10 - counted,
    warmup: step === 0,
  });
  await new Promise((done) => setTimeout(done, 120)); // past the bar's redraw throttle
}
display.stop();
display.stop(); // idempotent
console.log("done");
