/**
 * Public API of the knowledge layer (re-exported by the top-level mod.ts): experiment cards,
 * their judgements and retractions, the derived index, synthesis, the bounded brief, coverage,
 * reports, the progress plot and the HTML report, and sharing a base through git (`syncBase`).
 *
 * ```ts
 * const kb = openKnowledgeBase("knowledge");
 * const card = await kb.writeCard({ ...input, status: "pending" });
 * await kb.completeCard(card.id, { status: "keep", agent: "a1", lesson: "..." });
 * console.log((await readBrief(kb)).text);
 * ```
 */
export {
  type CardDetail,
  type CardFilter,
  checkCardId,
  checkOutputPath,
  KnowledgeBase,
  type Lineage,
  openKnowledgeBase,
  RECORD_AREAS,
} from "./store.ts";
export type { CardSummary, RefreshReport, Skipped } from "./index.ts";
export { classKeyOf, effectiveJudgement } from "./index.ts";
export { BASE_GITIGNORE, ensureBase } from "./base.ts";
export {
  type Backend,
  BACKENDS,
  type Card,
  type CardInput,
  type CardSource,
  type Completion,
  type EvalSlice,
  JUDGED_STATUSES,
  type JudgedStatus,
  type Judgement,
  LIMITS,
  type Platform,
  type Results,
  type Retraction,
  SOURCE_KINDS,
  type Status,
  STATUSES,
  validateCardInput,
  type ValidCardInput,
  type Verdict,
  VERDICTS,
} from "./schema.ts";
export {
  applyFlatChange,
  canonicalChange,
  canonicalKey,
  changeHolds,
  configChange,
  type ConfigDifference,
  type ConfigValidator,
  describeChange,
  effectiveConfig,
  type FlatConfig,
  flattenConfig,
  sameFlatConfig,
  sameValue,
} from "./config_keys.ts";
export { CATEGORIES, categoriesOf, type Category, normalizeTag } from "./taxonomy.ts";
export {
  ALPHA,
  type BestEstimate,
  type ClassStats,
  type CoverageRow,
  type DeadEnd,
  type Disputed,
  type Finding,
  type IdeaComparison,
  MIN_NOISE_DF,
  type NoiseEvidence,
  type NoiseFloor,
  type RecipeEstimate,
  type StepsDrift,
  type Synthesis,
  synthesize,
} from "./synthesis.ts";
export {
  type Arm,
  compareMeans,
  type Comparison,
  holm,
  meanHalfWidth,
  type Sample,
  sampleOf,
  tCdf,
  tQuantile,
} from "./stats.ts";
export { type Brief, BRIEF_MAX_BYTES, makeBrief, renderBrief } from "./brief.ts";
export { judgeCard, type JudgeResult, renderJudgement } from "./judge.ts";
export { type PlotData, plotData, renderPlotSvg } from "./plot.ts";
export { renderCoverage, renderReport } from "./report.ts";
export {
  collectHtmlReport,
  type HtmlReport,
  type HtmlReportInput,
  renderHtmlReport,
  writeHtmlReport,
} from "./report_html.ts";
export {
  type BriefResult,
  coverage,
  readBrief,
  readMeta,
  synthesizeBase,
  updateMeta,
  writePlot,
  writeSessionReport,
} from "./views.ts";
export {
  EMPTY_QUEUE_SECTION,
  type InProgressItem,
  type PendingItem,
  type QueueSection,
} from "./queue_section.ts";
export {
  type BadRecord,
  EXIT_OFFLINE,
  GitError,
  initBase,
  type RecordChange,
  syncBase,
  type SyncOptions,
  type SyncReport,
} from "./sync.ts";
