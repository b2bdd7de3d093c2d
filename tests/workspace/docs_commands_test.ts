/**
 * program.md and director.md describe a loop that works as written: every command shown in their
 * ```sh blocks is extracted and run, word for word (ids in capitals, CARD_ID and ITEM_ID,
 * replaced by real ones), by a scripted worker and director in a scratch workspace made by
 * `autoresearch init`: baseline, a queue item run with `train --item`, an own edit kept or
 * reverted by the judge's verdict, a crash reverted, an item released, sync throughout. The
 * `autoresearch` on the PATH is a shim over this checkout's main.ts that trains on the CPU with a
 * tiny budget; nothing else differs from an agent's shell. At the end every extracted command must
 * have run, so a command added to the docs without a working counterpart fails here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN } from "../cli_helpers.ts";
import { git } from "./helpers.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** Every command line of the ```sh blocks of a Markdown file. */
function commandsOf(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    // A line ending in a backslash continues on the next, as in the shell.
    for (const raw of block[1].replace(/\\\n\s*/g, "").split("\n")) {
      const line = raw.trim();
      if (line !== "" && !line.startsWith("#")) commands.push(line);
    }
  }
  return commands;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** The scripted agent's shell: a working directory, an environment, and the docs' commands. */
class Shell {
  cwd: string;
  readonly env: Record<string, string>;
  readonly ran = new Set<string>();
  readonly #commands: string[];

  constructor(cwd: string, env: Record<string, string>, commands: string[]) {
    this.cwd = cwd;
    this.env = env;
    this.#commands = commands;
  }

  /** The documented command `prefix`, else the one starting with it (it must be unique). */
  find(prefix: string): string {
    if (this.#commands.includes(prefix)) return prefix;
    const hits = [...new Set(this.#commands.filter((c) => c.startsWith(prefix)))];
    assert.equal(hits.length, 1, `one documented command starts with ${prefix}: ${hits}`);
    return hits[0];
  }

  /** Run the documented command starting with `prefix`, ids substituted; expect exit `code`. */
  async run(prefix: string, ids: Record<string, string> = {}, code = 0): Promise<Ran> {
    const command = this.find(prefix);
    this.ran.add(command);
    let line = command;
    for (const [name, value] of Object.entries(ids)) line = line.replaceAll(name, value);
    assert.ok(!/\b(CARD_ID|ITEM_ID)\b/.test(line), `unsubstituted id in ${line}`);
    const cd = /^cd (\S+)$/.exec(line);
    if (cd) {
      this.cwd = join(this.cwd, cd[1]);
      return { code: 0, stdout: "", stderr: "" };
    }
    const exported = /^export (\w+)=(\S+)$/.exec(line);
    if (exported) {
      this.env[exported[1]] = exported[2];
      return { code: 0, stdout: "", stderr: "" };
    }
    const output = await new Deno.Command("bash", {
      args: ["-c", line],
      cwd: this.cwd,
      env: this.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const result = {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    assert.equal(
      result.code,
      code,
      `${line}\nexit ${result.code}\n${result.stdout}\n${result.stderr}`,
    );
    return result;
  }

  /** Run a helper command that is not from the docs (reading state, editing the recipe). */
  async raw(args: string[]): Promise<string> {
    const output = await new Deno.Command("autoresearch", {
      args,
      cwd: this.cwd,
      env: this.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    assert.ok(
      output.success,
      `autoresearch ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
    );
    return text;
  }

  async cardOfRun(): Promise<string> {
    return JSON.parse(await Deno.readTextFile(join(this.cwd, "run.json"))).card_id;
  }

  async queue(): Promise<{ id: string; status: string; claim: { agent: string } | null }[]> {
    return JSON.parse(await this.raw(["director", "status", "--json"])).items;
  }
}

/** A bin directory whose `autoresearch` runs this checkout, with a tiny training budget. */
async function shimDir(root: string): Promise<string> {
  const bin = join(root, "bin");
  await Deno.mkdir(bin);
  const deno = Deno.execPath();
  await Deno.writeTextFile(
    join(bin, "autoresearch"),
    `#!/bin/sh
if [ "$1" = train ]; then shift; exec "${deno}" run -A "${MAIN}" train --backend cpu --budget 1 --eval-tokens 2048 "$@"; fi
exec "${deno}" run -A "${MAIN}" "$@"
`,
  );
  await Deno.chmod(join(bin, "autoresearch"), 0o755);
  return bin;
}

Deno.test("every command of program.md and director.md runs as written in a workspace", async () => {
  const root = await Deno.makeTempDir({ prefix: "ar-docs-" });
  try {
    const program = commandsOf(await Deno.readTextFile(join(ROOT, "program.md")));
    const director = commandsOf(await Deno.readTextFile(join(ROOT, "director.md")));
    assert.ok(program.length >= 15 && director.length >= 8, "the docs show their commands");
    const env: Record<string, string> = {
      PATH: `${await shimDir(root)}:${Deno.env.get("PATH") ?? ""}`,
      HOME: Deno.env.get("HOME") ?? root,
      NO_COLOR: "1",
      AUTORESEARCH_CACHE: join(root, "cache"),
      GIT_AUTHOR_NAME: "agent",
      GIT_AUTHOR_EMAIL: "agent@localhost",
      GIT_COMMITTER_NAME: "agent",
      GIT_COMMITTER_EMAIL: "agent@localhost",
    };
    const worker = new Shell(root, env, program);
    const boss = new Shell(root, env, director); // same environment object: same workspace

    // Setup and the baseline.
    await worker.run("autoresearch init ");
    await worker.run("cd ");
    boss.cwd = worker.cwd;
    await worker.run("git checkout -b ");
    await worker.run("export AUTORESEARCH_AGENT=");
    await worker.run("export AUTORESEARCH_SESSION=");
    await worker.run("autoresearch prepare");
    await worker.run("autoresearch platform");
    await worker.run('autoresearch train --hypothesis "baseline"');
    const baseline = await worker.cardOfRun();
    assert.match((await worker.run("grep ")).stdout, /^val_bpb:/m);
    await worker.run("tail ");
    await worker.run("autoresearch judge ", { CARD_ID: baseline });
    await worker.run("autoresearch write-card --complete CARD_ID --from-judge", {
      CARD_ID: baseline,
    });

    // The director fills the queue.
    await boss.run("autoresearch sync");
    await boss.run("autoresearch read-brief");
    await boss.run("autoresearch coverage");
    await boss.run("autoresearch director status");
    await boss.run("autoresearch director plan --enqueue");
    await boss.run("autoresearch director plan");
    const added = await boss.run("autoresearch director add ", { CARD_ID: baseline });
    const mine = /item_[0-9A-Z]+/.exec(added.stdout)?.[0];
    assert.ok(mine, added.stdout);
    for (const item of await boss.queue()) {
      if (item.status === "pending" && item.id !== mine) {
        await boss.run("autoresearch director drop ", { ITEM_ID: item.id });
      }
    }
    await boss.run("autoresearch director release --stale");

    // A worker runs the queue item: nothing to edit or commit.
    await worker.run("autoresearch sync");
    await worker.run("autoresearch read-brief");
    const head = await git(worker.cwd, "rev-parse", "HEAD");
    await worker.run("autoresearch director claim --sync");
    const claimed = (await worker.queue()).find((item) => item.status === "in_progress");
    assert.equal(claimed?.id, mine);
    await worker.run("autoresearch train --item ", { ITEM_ID: mine });
    const itemCard = await worker.cardOfRun();
    const card = JSON.parse(await worker.raw(["show-card", itemCard, "--json"])).card;
    assert.equal(card.config.optim.matrixLr, 0.06, "the item's config change ran");
    await worker.run("autoresearch director heartbeat ", { ITEM_ID: mine });
    await worker.run("autoresearch judge ", { CARD_ID: itemCard });
    await worker.run("autoresearch write-card --complete CARD_ID --from-judge", {
      CARD_ID: itemCard,
    });
    await worker.run("autoresearch director complete ", { ITEM_ID: mine, CARD_ID: itemCard });
    assert.equal(await git(worker.cwd, "rev-parse", "HEAD"), head, "a queue item commits nothing");

    // An own idea: edit, commit, train, judge; keep or revert by the verdict.
    const recipe = join(worker.cwd, "recipe.ts");
    const original = await Deno.readTextFile(recipe);
    const edited = original.replace(
      /(export const CPU_RECIPE: Recipe = \{[\s\S]*?warmupSteps: )1,/,
      "$13,",
    );
    assert.notEqual(edited, original);
    await Deno.writeTextFile(recipe, edited);
    await worker.run("git commit -am ");
    const experiment = await git(worker.cwd, "rev-parse", "HEAD");
    await worker.run('autoresearch train --hypothesis "3 warmup', { CARD_ID: baseline });
    const ownCard = await worker.cardOfRun();
    const verdict = JSON.parse(await worker.raw(["judge", ownCard, "--json"])).verdict;
    await worker.run("autoresearch write-card --complete CARD_ID --from-judge", {
      CARD_ID: ownCard,
    });
    if (verdict === "keep" || verdict === "replicate") {
      assert.equal(await git(worker.cwd, "rev-parse", "HEAD"), experiment);
    } else {
      await worker.run("git reset --hard HEAD~1");
      assert.equal(await git(worker.cwd, "rev-parse", "HEAD"), head);
    }

    // A crash of an own edit: the card carries a lesson, and the commit is reverted.
    const before = await git(worker.cwd, "rev-parse", "HEAD");
    const base = await Deno.readTextFile(recipe);
    await Deno.writeTextFile(
      recipe,
      base.replace(
        "const logits = linear(rmsnorm(x), this.#lmHead);",
        'if (cfg.depth > 0) throw new Error("an experiment that breaks");\n    const logits = linear(rmsnorm(x), this.#lmHead);',
      ),
    );
    await worker.run("git commit -am ");
    await worker.run('autoresearch train --hypothesis "3 warmup', { CARD_ID: baseline }, 1);
    const crashCard = await worker.cardOfRun();
    assert.equal((await worker.run("grep ", {}, 1)).stdout, "", "no val_bpb for a crash");
    await worker.run("autoresearch write-card --complete CARD_ID --status crash", {
      CARD_ID: crashCard,
    });
    await worker.run("git reset --hard HEAD~1");
    assert.equal(await git(worker.cwd, "rev-parse", "HEAD"), before);
    assert.equal(await Deno.readTextFile(recipe), base);

    // An item given back.
    await worker.raw([
      "director",
      "add",
      "--category",
      "schedule",
      "--hypothesis",
      "warmdown ratio 0.7 instead of 0.5",
      "--config",
      '{"optim.warmdownRatio": 0.7}',
    ]);
    await worker.run("autoresearch director claim --sync");
    const second = (await worker.queue()).find((item) => item.status === "in_progress");
    assert.ok(second);
    await worker.run("autoresearch director release ", { ITEM_ID: second.id });
    await boss.run("autoresearch sync");

    // Everything was recorded, and every documented command ran.
    const shown = JSON.parse(await worker.raw(["show-card", crashCard, "--json"]));
    assert.match(shown.completion.lesson, /diverges|breaks|lr/);
    const cards = JSON.parse(await worker.raw(["list-cards", "--json"]));
    assert.equal(cards.length, 4);
    assert.deepEqual(program.filter((c) => !worker.ran.has(c)), [], "program.md commands not run");
    assert.deepEqual(director.filter((c) => !boss.ran.has(c)), [], "director.md commands not run");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
