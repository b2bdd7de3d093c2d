/**
 * Duplicate detection: normalised text similarity within a category, config changes, numbers
 * that make two ideas different, open questions that must stay separate, and the CLI refusal
 * that names the existing item or card (with --force to override), also under concurrency.
 */
import assert from "node:assert/strict";
import {
  type Comparable,
  findDuplicate,
  normalizeHypothesis,
  similarity,
  SIMILARITY_THRESHOLD,
} from "../../src/director/mod.ts";
import { openKnowledgeBase } from "../../src/knowledge/store.ts";
import { cli, cliJson, MAIN, recipeConfig, tempKb, writeCard } from "./helpers.ts";

const sim = (a: string, b: string) => similarity(normalizeHypothesis(a), normalizeHypothesis(b));

Deno.test("similarity: same idea in other words is close; other knobs or numbers are not", () => {
  assert.ok(sim("Raise the learning rate to 0.06", "increase LR to 0.06") >= SIMILARITY_THRESHOLD);
  assert.ok(
    sim("Halve the batch size", "halve batch-size to get more optimizer steps") >=
      SIMILARITY_THRESHOLD,
  );
  assert.ok(
    sim("Use SwiGLU activation in the MLP", "Try SwiGLU activation") >= SIMILARITY_THRESHOLD,
  );
  assert.equal(sim("Set learning rate to 0.02", "Set learning rate to 0.03"), 0);
  assert.ok(sim("Increase depth to 6", "Increase width to 6") < SIMILARITY_THRESHOLD);
  assert.ok(sim("Add dropout 0.1", "Use weight decay 0.1") < SIMILARITY_THRESHOLD);
  assert.equal(String([...normalizeHypothesis("lr 0.020 and 1e-3").numbers]), "0.02,0.001");
});

Deno.test("findDuplicate: category, config change and text rules", () => {
  const item = (
    id: string,
    hypothesis: string,
    category: string,
    config: Record<string, unknown> | null = null,
  ) => ({ kind: "item", id, hypothesis, categories: [category], config }) as Comparable;
  const existing = [
    item("a", "Raise matrix LR", "learning_rate", { "optim.matrixLr": 0.06 }),
    item("b", "Deeper network with 6 layers", "architecture"),
  ];
  // Same config change, other words: duplicate.
  assert.equal(
    findDuplicate(
      { hypothesis: "x1.5 Muon LR", category: "learning_rate", config: { "optim.matrixLr": 0.06 } },
      existing,
    )?.existing.id,
    "a",
  );
  // Same words, other value: different experiment.
  assert.equal(
    findDuplicate(
      {
        hypothesis: "Raise matrix LR",
        category: "learning_rate",
        config: { "optim.matrixLr": 0.08 },
      },
      existing,
    ),
    null,
  );
  // Same text in another category is another experiment.
  assert.equal(
    findDuplicate({ hypothesis: "Deeper network with 6 layers", category: "efficiency" }, existing),
    null,
  );
  const dup = findDuplicate(
    { hypothesis: "a deeper network, 6 layers", category: "architecture" },
    existing,
  );
  assert.equal(dup?.existing.id, "b");
  assert.match(dup!.why, /similar text/);
  // Open questions that differ are never collapsed, even in one category.
  const questions = [
    item("q1", "Does the warmdown ratio matter at a 5 minute budget?", "schedule"),
  ];
  assert.equal(
    findDuplicate(
      { hypothesis: "Is a warmup needed at all with Muon?", category: "schedule" },
      questions,
    ),
    null,
  );
});

Deno.test("add refuses duplicates of open items and tried cards, naming them; --force overrides", async () => {
  const kb = await tempKb();
  const tried = await writeCard(kb, {
    hypothesis: "Halve the total batch size to take twice the steps",
    tags: ["batch_size"],
    status: "discard",
    config: recipeConfig({ totalBatchTokens: 8192 }),
  });
  const add = (hypothesis: string, category: string, ...extra: string[]) =>
    cli([
      "director",
      "add",
      "--kb",
      kb,
      "--hypothesis",
      hypothesis,
      "--category",
      category,
      ...extra,
    ]);

  let result = await add("halve batch size for twice the optimizer steps", "batch_size");
  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`^error: hypothesis: duplicates card ${tried.id} `));
  assert.match(result.stderr, /--force/);
  // The card's config disagrees with this change (it halved, this quarters): not a duplicate.
  result = await add(
    "halve batch size for twice the optimizer steps",
    "batch_size",
    "--config",
    '{"totalBatchTokens": 4096}',
  );
  assert.equal(result.code, 0, result.stderr);

  const first = await cliJson<{ item: { id: string } }>(
    [
      "director",
      "add",
      "--kb",
      kb,
      "--hypothesis",
      "Use SwiGLU in the MLP",
      "--category",
      "architecture",
    ],
  );
  result = await add("use a SwiGLU MLP", "architecture");
  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`duplicates queue item ${first.item.id} \\(similar text`));
  // In progress still blocks; --force adds and says what it forced past.
  await cliJson(["director", "claim", "--kb", kb, "--agent", "a", "--stale-minutes", "60"]);
  result = await add("SwiGLU MLP", "architecture", "--config", "{}");
  assert.equal(result.code, 2);
  result = await add("use a SwiGLU MLP", "architecture", "--force");
  assert.equal(result.code, 0);
  assert.match(
    result.stderr,
    new RegExp(`note: forced past duplicates queue item ${first.item.id}`),
  );

  // A dropped item no longer blocks; a retracted card neither.
  const dropMe = await cliJson<{ item: { id: string } }>(
    [
      "director",
      "add",
      "--kb",
      kb,
      "--hypothesis",
      "Zero-init the value gates",
      "--category",
      "initialization",
    ],
  );
  await cliJson(["director", "drop", dropMe.item.id, "--kb", kb, "--reason", "bad idea"]);
  assert.equal((await add("zero-init value gates", "initialization")).code, 0);
  const again = [
    "Halve the total batch size",
    "batch_size",
    "--config",
    '{"totalBatchTokens":8192}',
  ];
  result = await add(...again as [string, string, string, string]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`duplicates card ${tried.id}`));
  const base = openKnowledgeBase(kb);
  await base.retract(tried.id, "misconfigured run", "tester");
  base.close();
  result = await add(...again as [string, string, string, string]);
  assert.equal(result.code, 0, result.stderr);
  // Different open questions in one category, same priority: all kept.
  for (
    const question of [
      "Does the warmdown ratio matter at a 5 minute budget?",
      "Is a warmup needed at all with Muon?",
      "Why does a window pattern of L beat SSSL on CPU?",
    ]
  ) {
    assert.equal((await add(question, "schedule", "--priority", "2")).code, 0, question);
  }
});

Deno.test("concurrent adds of one idea from 4 processes make exactly one item", async () => {
  const kb = await tempKb();
  const runs = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "director",
          "add",
          "--kb",
          kb,
          "--hypothesis",
          i % 2 ? "Lower the learning rate to 0.02" : "lower LR to 0.02",
          "--category",
          "learning_rate",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output()),
  );
  assert.deepEqual(runs.map((r) => r.code).sort(), [0, 2, 2, 2]);
  const status = await cliJson<{ counts: { total: number } }>(["director", "status", "--kb", kb]);
  assert.equal(status.counts.total, 1);
});
