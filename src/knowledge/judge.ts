/**
 * The judge: what a run's numbers say it is, as code rather than an agent's impression. It reads
 * the run's class, its recipe's runs (one sample), its parent's (or the baseline's) and the
 * class noise floor from the same synthesis the brief shows, and says keep, discard,
 * inconclusive, replicate or crash with the numbers behind the verdict. `write-card --complete
 * ID --from-judge` stores that verdict. docs/statistics.md states the rules.
 */
import { UsageError } from "../util/errors.ts";
import type { JudgedStatus, Verdict } from "./schema.ts";
import type { KnowledgeBase } from "./store.ts";
import {
  ALPHA,
  type IdeaComparison,
  ideaReport,
  MAX_REPLICATES,
  type NoiseEvidence,
  type NoiseFloor,
  type RecipeEstimate,
  synthesisState,
  USEFUL_GAIN_SIGMAS,
} from "./synthesis.ts";

/** The judge's verdict on one run, with the numbers behind it. */
export interface JudgeResult {
  /** the judged card */
  card: string;
  /** keep | discard | inconclusive | replicate | crash */
  verdict: Verdict;
  /** the status `--from-judge` stores (`replicate` is kept provisionally: `keep`) */
  status: JudgedStatus;
  /** why, in plain words */
  reason: string;
  /** the card's comparability class key and label */
  class_key: string;
  class_label: string;
  /** the card's recipe (the idea) */
  recipe_hash: string;
  /** the idea's estimate over all its runs in the class (null for a crash-only idea) */
  estimate: RecipeEstimate | null;
  /** the comparison with its parent or the baseline (null for the baseline) */
  comparison: IdeaComparison | null;
  /** the class noise floor (null while unknown) */
  noise: NoiseFloor | null;
  /** what there is towards the noise floor */
  noise_evidence: NoiseEvidence;
  /** the idea is the class baseline */
  is_baseline: boolean;
  /** the idea is a confirmed improvement */
  confirmed: boolean;
  /** the idea's CI rules out a useful gain */
  dead_end: boolean;
}

function f4(value: number): string {
  return value.toFixed(4);
}

/** Judge the run `id` of the base `kb` from all its cards. */
export async function judgeCard(kb: KnowledgeBase, id: string): Promise<JudgeResult> {
  const detail = kb.getCard(id); // throws a UsageError for a bad or unknown id
  if (detail.retracted) throw new UsageError("id", `${id} is retracted: it is not judged`);
  const cards = await kb.listCards();
  const summary = cards.find((card) => card.id === id);
  if (!summary) throw new UsageError("id", `${id} is not readable in ${kb.dir}`);
  const state = synthesisState(cards);
  const report = ideaReport(state, summary.class_key, summary.recipe_hash);
  const base = {
    card: id,
    class_key: summary.class_key,
    recipe_hash: summary.recipe_hash,
  };
  if (report === null || summary.val_bpb === null) {
    return {
      ...base,
      class_label: report?.class.label ?? summary.class_key,
      verdict: "crash",
      status: "crash",
      reason: "the run has no val_bpb: a crash is not evidence for or against the idea",
      estimate: report?.estimate ?? null,
      comparison: null,
      noise: report?.class.noise ?? null,
      noise_evidence: report?.class.noise_evidence ?? { df: 0, needed: 3 },
      is_baseline: false,
      confirmed: false,
      dead_end: false,
    };
  }
  const { estimate, comparison, confirmed, is_baseline: isBaseline } = report;
  const noise = report.class.noise;
  const evidence = report.class.noise_evidence;
  const n = estimate?.n ?? 0;
  let verdict: Verdict;
  let reason: string;
  if (isBaseline) {
    verdict = "keep";
    reason = `the baseline of its class (n=${n}): the anchor every idea is compared with`;
  } else if (comparison === null) {
    verdict = "inconclusive";
    reason = "no reference to compare with in its class";
  } else {
    const vs = `its ${comparison.vs} ${comparison.ref.recipe_hash} (mean ${
      f4(comparison.ref.mean)
    }, n=${comparison.ref.n})`;
    const gain = comparison.gain_ci95 === null
      ? `gain ${f4(comparison.gain)}`
      : `gain ${f4(comparison.gain)} +- ${f4(comparison.gain_ci95)}`;
    if (confirmed) {
      verdict = "keep";
      reason = `confirmed: ${gain} on ${vs}; Welch t=${comparison.t!.toFixed(2)}, df=${
        comparison.df!.toFixed(1)
      }, Holm-adjusted p=${
        comparison.p_adjusted!.toFixed(4)
      } <= ${ALPHA} over ${comparison.family} ideas`;
    } else if (report.dead_end) {
      verdict = "discard";
      reason = `dead end: ${gain} on ${vs} rules out a gain of ${USEFUL_GAIN_SIGMAS} noise sigma ` +
        `(${f4(USEFUL_GAIN_SIGMAS * noise!.sigma)})`;
    } else if (comparison.gain <= 0) {
      verdict = "discard";
      reason = `no gain: ${gain} on ${vs}` +
        (noise ? "; not a dead end (the interval still allows a useful gain)" : "");
    } else if (noise === null) {
      verdict = "replicate";
      reason = `${gain} on ${vs}, but the class noise floor is unknown (${evidence.df} of ` +
        `${evidence.needed} replicate df): replicate it, and the best or the baseline, with new seeds`;
    } else if (n < MAX_REPLICATES) {
      const p = comparison.p_adjusted === null
        ? "one run: the run that prompted replication does not count as evidence"
        : `Holm-adjusted p=${
          comparison.p_adjusted.toFixed(3)
        } > ${ALPHA} over ${comparison.family} ideas`;
      verdict = "replicate";
      reason = `within noise so far: ${gain} on ${vs} (n=${n}); ${p}; run more seeds`;
    } else {
      verdict = "inconclusive";
      reason = `still within noise after ${n} runs: ${gain} on ${vs}` +
        (comparison.p_adjusted === null ? "" : `, Holm p=${comparison.p_adjusted.toFixed(3)}`);
    }
  }
  return {
    ...base,
    class_label: report.class.label,
    verdict,
    status: verdict === "replicate" ? "keep" : verdict,
    reason,
    estimate,
    comparison,
    noise,
    noise_evidence: evidence,
    is_baseline: isBaseline,
    confirmed,
    dead_end: report.dead_end,
  };
}

/** The judge's result as a few lines of text. */
export function renderJudgement(result: JudgeResult): string {
  const lines = [`${result.card}: ${result.verdict}`, `  why: ${result.reason}`];
  const e = result.estimate;
  if (e) {
    const ci = e.ci95 === null ? "" : ` +- ${f4(e.ci95)}`;
    const seeds = e.seed_gaps.length ? `; seeds missing: ${e.seed_gaps.join(",")}` : "";
    lines.push(
      `  recipe ${result.recipe_hash}: mean ${f4(e.mean)}${ci} (95% CI, n=${e.n})${seeds}`,
    );
  }
  const c = result.comparison;
  if (c) {
    const ci = c.ref.ci95 === null ? "" : ` +- ${f4(c.ref.ci95)}`;
    lines.push(
      `  ${c.vs} ${c.ref.recipe_hash} (${c.ref.card}): mean ${f4(c.ref.mean)}${ci} (n=${c.ref.n})`,
    );
    if (c.t !== null) {
      lines.push(
        `  confirmation: ${c.confirmation_n} runs, gain ${f4(c.confirmation_gain!)}, Welch t=${
          c.t.toFixed(2)
        }, df=${c.df!.toFixed(1)}, p=${c.p!.toFixed(4)}, Holm-adjusted p=${
          c.p_adjusted!.toFixed(4)
        } (${c.family} ideas in the class)`,
      );
    }
  }
  lines.push(
    result.noise
      ? `  noise floor ${
        f4(result.noise.sigma)
      } (df ${result.noise.df}, ${result.noise.groups} recipes near the best)`
      : `  noise floor unknown: ${result.noise_evidence.df} of ${result.noise_evidence.needed} replicate df`,
  );
  lines.push(`  class ${result.class_label}`);
  return lines.join("\n");
}
