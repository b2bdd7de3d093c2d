/**
 * Records corrupted after they were indexed, directories named like records, and a corrupt
 * claim event. A record edited in place must not keep being served from the index: every kind
 * of damage is reported (path + reason) and the record skipped, in the listing and the brief;
 * a claim record that became unreadable never leaves its item stuck.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { addItem, cli, scratch, writeCards } from "./helpers.ts";

/** Nine ways a card file can be damaged in place (content given the original text). */
const DAMAGE: [string, (original: string) => string | Uint8Array, RegExp][] = [
  ["truncated", (t) => t.slice(0, Math.floor(t.length / 2)), /invalid JSON/],
  ["emptied", () => "", /empty file/],
  ["not UTF-8", () => new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
  ["not JSON", () => "this is not json", /invalid JSON/],
  ["a JSON list", () => "[1, 2, 3]", /JSON list/],
  ["a JSON string", () => '"card"', /JSON string/],
  [
    "val_bpb of the wrong type",
    (t) => t.replace(/"val_bpb": [0-9.]+/, '"val_bpb": "low"'),
    /val_bpb/,
  ],
  ["another card's id", (t) => t.replace(/"id": "card_/, '"id": "card_0'), /id|does not match/],
  ["a required field removed", (t) => t.replace(/"hypothesis": "[^"]*",/, ""), /hypothesis/],
];

Deno.test("a card corrupted in place after indexing is reported and no longer served", async () => {
  const { kb } = await scratch();
  const inputs = DAMAGE.map((_, i) => ({ hypothesis: `idea ${i}`, seed: i }));
  const ids = await writeCards(kb, [...inputs, { hypothesis: "healthy", seed: 99 }]);
  const first = await cli(["list-cards", "--kb", kb]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim().split("\n").length, DAMAGE.length + 1);
  assert.equal(first.stderr, "");
  // Damage each indexed card in place (same file, new content), as an editor or a bad merge would.
  for (const [i, [, damage]] of DAMAGE.entries()) {
    const path = join(kb, "cards", `${ids[i]}.json`);
    const data = damage(await Deno.readTextFile(path));
    if (typeof data === "string") await Deno.writeTextFile(path, data);
    else await Deno.writeFile(path, data);
  }
  const after = await cli(["list-cards", "--kb", kb]);
  assert.equal(after.code, 0, after.stderr);
  assert.deepEqual(after.stdout.trim().split("\n").map((line) => line.split(" ")[0]), [ids.at(-1)]);
  const warnings = after.stderr.trim().split("\n");
  assert.equal(warnings.length, DAMAGE.length, after.stderr);
  for (const [i, [kind, , reason]] of DAMAGE.entries()) {
    const line = warnings.find((w) => w.includes(ids[i]));
    assert.ok(line, `no warning for the ${kind} card`);
    assert.match(line, /^warning: skipped /);
    assert.match(line, reason, `${kind}: ${line}`);
  }
  const brief = await cli(["read-brief", "--kb", kb]);
  assert.match(brief.stdout, /^knowledge brief: 1 cards/m);
  assert.equal(brief.stderr.trim().split("\n").length, DAMAGE.length);
  // A repaired file is picked up again.
  await Deno.writeTextFile(
    join(kb, "cards", `${ids[1]}.json`),
    await Deno.readTextFile(join(kb, "cards", `${ids.at(-1)}.json`)).then((t) =>
      t.replaceAll(ids.at(-1)!, ids[1])
    ),
  );
  const repaired = await cli(["list-cards", "--kb", kb]);
  assert.equal(repaired.stdout.trim().split("\n").length, 2);
});

Deno.test("a directory or a link named like a record is reported, not skipped silently", async () => {
  const { root, kb } = await scratch();
  await writeCards(kb, [{ hypothesis: "baseline" }]);
  const dirName = "card_01J9Z3Z3Z3Z3Z3Z3Z3Z3Z3Z3Z3.json";
  await Deno.mkdir(join(kb, "cards", dirName));
  await Deno.writeTextFile(join(root, "elsewhere.json"), "{}");
  const linkName = "card_01J9Z4Z4Z4Z4Z4Z4Z4Z4Z4Z4Z4.json";
  await Deno.symlink(join(root, "elsewhere.json"), join(kb, "cards", linkName));
  const result = await cli(["list-cards", "--kb", kb]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim().split("\n").length, 1);
  assert.match(result.stderr, new RegExp(`skipped .*${dirName}: is a directory`));
  assert.match(result.stderr, new RegExp(`skipped .*${linkName}: is a symbolic link`));
});

Deno.test("a corrupt claim event never leaves its item stuck", async () => {
  const { kb } = await scratch();
  const add = (hypothesis: string) => addItem(kb, hypothesis, "other", "--json");
  const item = JSON.parse((await add("first idea to try")).stdout).item.id as string;
  const claim = await cli(["director", "claim", "--agent", "alice", "--kb", kb]);
  assert.equal(claim.code, 0, claim.stderr);
  const events = join(kb, "queue", "events");
  const claimFile = [...Deno.readDirSync(events)].find((e) => e.name.includes(".claim."))!.name;
  await Deno.writeTextFile(join(events, claimFile), '{"kind":');

  // The holder can still heartbeat and complete: the item is claimed again for it.
  const beat = await cli(["director", "heartbeat", item, "--agent", "alice", "--kb", kb]);
  assert.equal(beat.code, 0, beat.stderr);
  const status = await cli(["director", "status", "--kb", kb, "--json"]);
  const state = JSON.parse(status.stdout);
  assert.equal(state.items[0].status, "in_progress");
  assert.equal(state.items[0].claim.agent, "alice");
  assert.match(status.stderr, new RegExp(`warning: .*${claimFile}: invalid JSON`));
  assert.deepEqual(state.problems.map((p: { path: string }) => p.path.split("/").pop()), [
    claimFile,
  ]);

  // With nobody holding it, an item whose only claim is unreadable is claimable (not "nothing
  // pending" while listed pending).
  const second = JSON.parse((await add("second idea, claim record lost")).stdout).item.id;
  const bob = await cli(["director", "claim", "--agent", "bob", "--kb", kb, "--json"]);
  assert.equal(JSON.parse(bob.stdout).claimed.id, second);
  const bobClaim =
    [...Deno.readDirSync(events)].find((e) =>
      e.name.startsWith(second) && e.name.includes(".claim.")
    )!.name;
  await Deno.writeTextFile(join(events, bobClaim), "");
  const carol = await cli(["director", "claim", "--agent", "carol", "--kb", kb, "--json"]);
  assert.equal(carol.code, 0, carol.stderr);
  assert.equal(JSON.parse(carol.stdout).claimed.id, second);
  assert.equal(JSON.parse(carol.stdout).claimed.claim.generation, 1);
  // The damaged records are left as they are.
  assert.equal(await Deno.readTextFile(join(events, claimFile)), '{"kind":');
  assert.equal(await Deno.readTextFile(join(events, bobClaim)), "");
});

Deno.test("show-card reports a damaged judgement of the card instead of ignoring it", async () => {
  const { kb } = await scratch();
  const [card] = await writeCards(kb, [{ hypothesis: "baseline", status: "pending" }]);
  const judged = await cli(["write-card", "--complete", card, "--status", "keep", "--kb", kb]);
  assert.equal(judged.code, 0, judged.stderr);
  const [completion] = [...Deno.readDirSync(join(kb, "completions"))].map((e) => e.name);
  await Deno.writeTextFile(join(kb, "completions", completion), "[]");
  const shown = await cli(["show-card", card, "--kb", kb]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stderr, new RegExp(`^warning: skipped .*${completion}: .*JSON list`, "m"));
  assert.match(shown.stdout, /^status\s+pending$/m);
});
