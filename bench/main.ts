/**
 * `deno task bench [name...]`: runs every benchmark module beside this file (bench/<name>.ts,
 * each exporting `run()`), or only the named ones, and prints their figures in order.
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = dirname(fileURLToPath(import.meta.url));
const wanted = new Set(Deno.args);
const names = [...Deno.readDirSync(benchDir)]
  .filter((entry) => entry.isFile && entry.name.endsWith(".ts") && entry.name !== "main.ts")
  .map((entry) => basename(entry.name, ".ts"))
  .filter((name) => wanted.size === 0 || wanted.has(name))
  .sort();

for (const name of names) {
  console.log(`\n## bench/${name}.ts`);
  const module = await import(join(benchDir, `${name}.ts`));
  await module.run();
}
