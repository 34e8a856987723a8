import type { Matrix } from '../util/matrix.js';

export interface FittedWeights {
  /** Non-negative, summing to 1, one per member. */
  weights: number[];
  /** Mean log loss of the weighted average on the data it was fitted on. */
  logLoss: number;
  /** Each member's own mean log loss on the same data. */
  memberLogLoss: number[];
}

const FLOOR = 1e-15;

/**
 * Log-loss-optimal convex weights for averaging members' probabilities: minimises
 * −mean log Σₖ wₖ pₖ(yᵢ | xᵢ) over the simplex by exponentiated gradient with backtracking. The objective is
 * convex and every member alone is a vertex of the simplex, so the result is never worse (on these rows) than
 * the best member — the point of fitting weights on out-of-fold predictions.
 */
export function fitEnsembleWeights(probas: Matrix[], y: Int32Array, options: { maxIterations?: number; tolerance?: number } = {}): FittedWeights {
  const K = probas.length;
  const n = y.length;
  // p[k][i]: member k's probability of the true class of row i.
  const p = probas.map((m) => {
    if (m.rows !== n) throw new Error(`member probabilities have ${m.rows} rows for ${n} labels`);
    return Float64Array.from(y, (c, i) => Math.max(m.data[i * m.cols + c], FLOOR));
  });
  const loss = (w: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      let mix = 0;
      for (let k = 0; k < K; k++) mix += w[k] * p[k][i];
      s -= Math.log(Math.max(mix, FLOOR));
    }
    return s / n;
  };
  const memberLogLoss = p.map((pk) => pk.reduce((s, v) => s - Math.log(v), 0) / n);
  // Start inside the simplex: exponentiated gradient never moves a weight away from exactly 0.
  let w = new Float64Array(K).fill(1 / K);
  let f = loss(w);
  let step = 1;
  const maxIterations = options.maxIterations ?? 2000;
  const tolerance = options.tolerance ?? 1e-12;
  const grad = new Float64Array(K);
  for (let it = 0; it < maxIterations && K > 1; it++) {
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      let mix = 0;
      for (let k = 0; k < K; k++) mix += w[k] * p[k][i];
      mix = Math.max(mix, FLOOR);
      for (let k = 0; k < K; k++) grad[k] -= p[k][i] / mix / n;
    }
    let improved = false;
    for (let tries = 0; tries < 40; tries++) {
      const candidate = Float64Array.from(w, (wk, k) => wk * Math.exp(-step * grad[k]));
      const total = candidate.reduce((a, b) => a + b, 0);
      for (let k = 0; k < K; k++) candidate[k] /= total;
      const fc = loss(candidate);
      if (fc <= f) {
        const gain = f - fc;
        w = candidate;
        f = fc;
        step *= 1.5;
        improved = gain > tolerance;
        break;
      }
      step /= 2;
    }
    if (!improved) break;
  }
  // The best vertex can only beat the interior optimum by numerical residue; take it then.
  const best = memberLogLoss.indexOf(Math.min(...memberLogLoss));
  if (memberLogLoss[best] < f) {
    w = new Float64Array(K);
    w[best] = 1;
    f = memberLogLoss[best];
  }
  return { weights: Array.from(w), logLoss: f, memberLogLoss };
}
