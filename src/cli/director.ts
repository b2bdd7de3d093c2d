/** CLI commands of the director layer. */
import type { Command } from "@commander-js/extra-typings";

/** Add this group's commands to `program`. */
export function register(_program: Command): void {}
