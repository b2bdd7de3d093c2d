/** CLI commands that run experiments: `train` (one run of the recipe) and `start`. */
import type { Command } from "@commander-js/extra-typings";

/** Add this group's commands to `program`. */
export function register(_program: Command): void {}
