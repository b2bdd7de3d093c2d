/**
 * The program.md that `autoresearch init --trainer upstream` writes, tested as an agent uses it:
 * in a scratch clone of an upstream-style repository (a small Python train.py that prints the
 * summary block, a prepare.py, `uv` standing in as `python3`), every command of its code blocks
 * runs in order, each exits 0 (placeholders filled with what earlier commands printed), and every
 * `autoresearch ...` named inline is a real command. The run leaves the cards the loop promises.
 */
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN } from "../cli_helpers.ts";
import { openKnowledgeBase } from "../../src/knowledge/mod.ts";
import { git, HARNESS, HAS_PYTHON, TRAINER } from "./helpers.ts";

/** Shell commands of the fenced code blocks of a Markdown text, in order. */
function blockCommands(markdown: string): string[] {
  const commands: string[] = [];
  let inBlock = false;
  for (const line of markdown.split("\n")) {
    if (line.trim().startsWith("```")) {
      inBlock = !inBlock;
      continue;
    }
    if (inBlock && line.trim() !== "" && !line.trim().startsWith("#")) commands.push(line.trim());
  }
  return commands;
}

/** `autoresearch ...` spans in inline code, outside the code blocks. */
function inlineCommands(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "");
  return [...prose.matchAll(/`(autoresearch [^`]+)`/g)].map((m) => m[1]);
}

Deno.test({
  name: "init --trainer upstream: every command of its program.md runs in a scratch workspace",
  ignore: !HAS_PYTHON,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "upstream-ws-" });
    git(dir, "init", "-q", "-b", "master");
    await Deno.writeTextFile(join(dir, "train.py"), TRAINER);
    await Deno.writeTextFile(join(dir, "prepare.py"), HARNESS);
    git(dir, "add", ".");
    git(dir, "commit", "-q", "-m", "upstream");
    // Tools on PATH: `autoresearch` is this checkout, `uv run X` is python3 X.
    const bin = await Deno.makeTempDir({ prefix: "ws-bin-" });
    await Deno.writeTextFile(
      join(bin, "autoresearch"),
      `#!/bin/sh\nexec "${Deno.execPath()}" run -A "${MAIN}" "$@"\n`,
    );
    await Deno.writeTextFile(
      join(bin, "uv"),
      '#!/bin/sh\n[ "$1" = run ] && shift\nexec python3 "$@"\n',
    );
    for (const tool of ["autoresearch", "uv"]) await Deno.chmod(join(bin, tool), 0o755);
    const env: Record<string, string> = {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
      NO_COLOR: "1",
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    };
    const sh = async (command: string) => {
      const out = await new Deno.Command("sh", {
        args: ["-c", command],
        cwd: dir,
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
    };

    const init = await sh("autoresearch init --trainer upstream .");
    assert.equal(init.code, 0, init.stderr);
    const program = await Deno.readTextFile(join(dir, "program.md"));
    assert.match(program, /uv run train\.py > run\.log 2>&1/);
    assert.match(program, /autoresearch record run\.log/);

    // What a session brings with it: an earlier results.tsv, an idea in the queue.
    const base = git(dir, "rev-parse", "--short", "HEAD");
    await Deno.writeTextFile(
      join(dir, "results.tsv"),
      `commit\tval_bpb\tmemory_gb\tstatus\tdescription\n${base}\t0.997900\t44.0\tkeep\tbaseline\n`,
    );
    const added = await sh(
      'autoresearch director add --hypothesis "depth 12" --category architecture --priority 1',
    );
    assert.equal(added.code, 0, added.stderr);

    const values: Record<string, string> = {
      "<tag>": "nov27",
      "<name>": "agent-a",
      "<category>": "architecture",
      "<what you change and why you expect it to help>": "depth 12: more capacity",
      "<what you learned>": "deeper is better at this budget",
      "<val_bpb minus the best>": "-0.0021",
    };
    let card: string | null = null;
    let item: string | null = null;
    const ran: string[] = [];
    for (const line of blockCommands(program)) {
      if (line.startsWith("export ")) {
        for (const [, key, value] of line.matchAll(/(\w+)=(\S+)/g)) {
          env[key] = value.replace(/<[^>]+>/g, (p) => values[p] ?? p);
        }
        continue;
      }
      if (line.startsWith("git commit -am")) {
        // The agent's edit of train.py, then the commit the program asks for.
        const source = await Deno.readTextFile(join(dir, "train.py"));
        await Deno.writeTextFile(join(dir, "train.py"), source.replace("DEPTH = 8", "DEPTH = 12"));
      }
      const command = line
        .replace(/<card_id>/g, () => card ?? "<card_id>")
        .replace(/<item>/g, () => item ?? "<item>")
        .replace(/<[^>]+>/g, (p) => values[p] ?? p);
      assert.ok(!/<[^>]+>/.test(command), `unfilled placeholder in: ${command}`);
      const result = await sh(command);
      assert.equal(result.code, 0, `${command}\n${result.stdout}\n${result.stderr}`);
      card = /^autoresearch record/.test(command)
        ? result.stdout.match(/card_[0-9A-Z]{26}/)?.[0] ?? card
        : card;
      item = /director claim/.test(command)
        ? result.stdout.match(/item_[0-9A-Z]{26}/)?.[0] ?? item
        : item;
      ran.push(command);
    }
    assert.ok(ran.some((c) => c.startsWith("autoresearch sync")), "the loop ends with sync");
    assert.ok(item !== null, "an item was claimed");
    for (const span of inlineCommands(program)) {
      const words = span.split(" ");
      const path = words.slice(1).filter((w) => /^[a-z][a-z-]*$/.test(w)).slice(0, 2);
      let help = await sh(`autoresearch ${path.join(" ")} --help`);
      if (help.code !== 0 && path.length > 1) help = await sh(`autoresearch ${path[0]} --help`);
      assert.equal(help.code, 0, `inline command ${span}`);
    }

    // What the loop left: the imported history, the baseline and the experiment judged, the
    // queue item done.
    const kb = openKnowledgeBase(join(dir, "knowledge"));
    const cards = await kb.listCards();
    assert.equal(cards.length, 3);
    assert.equal(cards[0].status, "keep"); // the imported history
    for (const c of cards.slice(1)) assert.notEqual(c.status, "pending", "judged from the judge");
    assert.equal(cards[2].hypothesis, "depth 12: more capacity");
    assert.notEqual(cards[2].recipe_hash, cards[1].recipe_hash);
    assert.equal(cards[2].class_key, cards[1].class_key);
    const status = await sh("autoresearch director status --json");
    assert.match(status.stdout, /"completed"/);
  },
});

Deno.test("init --trainer upstream refuses a directory without upstream's train.py", async () => {
  const dir = await Deno.makeTempDir({ prefix: "no-upstream-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "init", "--trainer", "upstream", dir],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2);
  assert.match(stderr, /^error: DIR: .* has no train\.py: init --trainer upstream runs where/);
  assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
});
