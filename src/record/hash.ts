/**
 * The comparability hashes of an external trainer's run: the recipe is the trainer file
 * (`train.py`: its sha256 is the recipe hash), the harness is the fixed harness file
 * (`prepare.py`) together with the time budget. Two runs with the same prepare.py and budget
 * on the same device compare; two runs of the same train.py there are replicates.
 */

/** Lower-case hex sha256 of `data`. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Recipe hash of a trainer file's contents. */
export async function trainerRecipeHash(trainer: Uint8Array): Promise<string> {
  return await sha256Hex(trainer);
}

/** Harness hash of a harness file's contents and the budget: sha256 of both, named. */
export async function externalHarnessHash(harness: Uint8Array, budgetS: number): Promise<string> {
  return await sha256Hex(
    `external-harness\nsha256 ${await sha256Hex(harness)}\nbudget_s ${budgetS}\n`,
  );
}

/** Upstream's budget constant in a harness file (`TIME_BUDGET = 300`), or null. */
export function harnessBudget(harness: Uint8Array): number | null {
  const text = new TextDecoder().decode(harness);
  const match = text.match(/^TIME_BUDGET\s*(?::\s*\w+\s*)?=\s*(\d+(?:\.\d+)?)\s*(?:#.*)?$/m);
  if (!match) return null;
  const value = Number(match[1]);
  return value > 0 ? value : null;
}
