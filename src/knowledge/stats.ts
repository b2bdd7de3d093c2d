/**
 * The statistics the synthesis and the judge apply, as small pure functions: Student's t and
 * Fisher's F distributions (from jstat), the Welch-Satterthwaite comparison of two means, Holm's
 * step-down adjustment for many comparisons, and confidence intervals. docs/statistics.md states
 * the rules with their formulas; this file is the code of those formulas and nothing more.
 */
import jStat from "jstat";

interface JStatApi {
  studentt: { cdf(x: number, dof: number): number; inv(p: number, dof: number): number };
  centralF: { cdf(x: number, df1: number, df2: number): number };
  normal: {
    cdf(x: number, mean: number, sd: number): number;
    inv(p: number, m: number, s: number): number;
  };
}

const dist = jStat as unknown as JStatApi;

/** Above this many degrees of freedom the t distribution is the normal one to 1e-6. */
const NORMAL_DF = 1e7;

/** P(T <= t) for Student's t with `df` degrees of freedom (df > 0, may be fractional). */
export function tCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`df must be > 0, got ${df}`);
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  return df >= NORMAL_DF ? dist.normal.cdf(t, 0, 1) : dist.studentt.cdf(t, df);
}

/** Quantiles already computed: a synthesis asks for the same few (p, df) thousands of times. */
const quantiles = new Map<number, Map<number, number>>();

/** The t with P(T <= t) = p for Student's t with `df` degrees of freedom. */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`df must be > 0, got ${df}`);
  let byDf = quantiles.get(p);
  if (byDf === undefined) quantiles.set(p, byDf = new Map());
  let value = byDf.get(df);
  if (value === undefined) {
    value = df >= NORMAL_DF ? dist.normal.inv(p, 0, 1) : dist.studentt.inv(p, df);
    if (byDf.size > 10_000) byDf.clear();
    byDf.set(df, value);
  }
  return value;
}

/** P(F <= x) for Fisher's F with (d1, d2) degrees of freedom. */
export function fCdf(x: number, d1: number, d2: number): number {
  if (x <= 0) return 0;
  return dist.centralF.cdf(x, d1, d2);
}

/** Mean, sample variance (n - 1 in the denominator; 0 when n < 2) and count of `values`. */
export interface Sample {
  /** number of values */
  n: number;
  /** arithmetic mean */
  mean: number;
  /** sample variance, sum of squared deviations / (n - 1); 0 when n < 2 */
  variance: number;
}

/** Describe `values` as a Sample (two-pass, so it is exact for values of equal size). */
export function sampleOf(values: number[]): Sample {
  const n = values.length;
  if (n === 0) return { n: 0, mean: NaN, variance: 0 };
  const mean = values.reduce((sum, x) => sum + x, 0) / n;
  const squares = values.reduce((sum, x) => sum + (x - mean) ** 2, 0);
  return { n, mean, variance: n < 2 ? 0 : squares / (n - 1) };
}

/**
 * One side of a comparison: a mean over `n` runs, and the per-run variance used for it with the
 * degrees of freedom that variance was estimated with (the class noise floor's, or the
 * recipe's own n - 1).
 */
export interface Arm {
  /** runs behind the mean */
  n: number;
  /** mean val_bpb */
  mean: number;
  /** per-run variance */
  variance: number;
  /** degrees of freedom of `variance` */
  df: number;
  /** true when `variance` is the shared class noise floor (not an estimate of its own) */
  pooled: boolean;
}

/** A comparison of two means: `a` (the idea) against `b` (its reference). */
export interface Comparison {
  /** mean(b) - mean(a): > 0 when `a` is lower, i.e. better */
  gain: number;
  /** standard error of the difference of the means */
  se: number;
  /** degrees of freedom (Welch-Satterthwaite; the pooled df when both arms share it) */
  df: number;
  /** gain / se */
  t: number;
  /** one-sided p-value of "a is not better than b" */
  p: number;
  /** half-width of the two-sided 95% confidence interval of the gain */
  ci95: number;
}

/**
 * Welch's comparison of two means: SE^2 = va/na + vb/nb; degrees of freedom by
 * Welch-Satterthwaite, df = SE^4 / sum((v_i/n_i)^2 / df_i). When both arms use the same pooled
 * variance estimate the two terms are not independent estimates, and df is that estimate's df
 * (Student's pooled t-test, which Welch's formula reduces to for one shared variance).
 */
export function compareMeans(a: Arm, b: Arm): Comparison {
  const ta = a.variance / a.n;
  const tb = b.variance / b.n;
  const se2 = ta + tb;
  const se = Math.sqrt(se2);
  let df: number;
  if (a.pooled && b.pooled) df = Math.min(a.df, b.df);
  else {
    const denominator = (ta > 0 ? ta * ta / a.df : 0) + (tb > 0 ? tb * tb / b.df : 0);
    df = denominator > 0 ? se2 * se2 / denominator : Math.min(a.df, b.df);
  }
  const gain = b.mean - a.mean;
  if (!(se > 0) || !(df > 0)) {
    return { gain, se, df, t: NaN, p: 1, ci95: Infinity };
  }
  const t = gain / se;
  return { gain, se, df, t, p: 1 - tCdf(t, df), ci95: tQuantile(0.975, df) * se };
}

/**
 * Holm's step-down adjustment of one-sided p-values for a family of m comparisons: sort
 * ascending, p_adj(i) = max over j <= i of min(1, (m - j + 1) * p(j)). Controls the chance of
 * any false confirmation in the family at alpha under any dependence between the tests.
 * Returns the adjusted values in the input order.
 */
export function holm(pValues: number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p || x.i - y.i);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

/** Half-width of the two-sided `level` confidence interval of a mean of n runs. */
export function meanHalfWidth(variance: number, n: number, df: number, level = 0.95): number {
  if (!(df > 0) || n < 1) return Infinity;
  return tQuantile(1 - (1 - level) / 2, df) * Math.sqrt(variance / n);
}

/**
 * True when a variance estimated with df1 degrees of freedom is larger than a reference
 * variance (df2) beyond chance: one-sided F-test at `alpha`.
 */
export function varianceExceeds(
  variance: number,
  df1: number,
  reference: number,
  df2: number,
  alpha = 0.01,
): boolean {
  if (!(reference > 0)) return variance > 0;
  return 1 - fCdf(variance / reference, df1, df2) < alpha;
}
