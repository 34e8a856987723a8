import type { Matrix } from '../util/matrix.js';
import { argmaxRows } from '../util/matrix.js';

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Evaluation {
  n: number;
  accuracy: number;
  errorRate: number;
  /** Mean negative log-likelihood of the true class (probabilities clipped at 1e-15, as scikit-learn). */
  logLoss: number;
  macroF1: number;
  labels: string[];
  perClass: ClassMetrics[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

/** Accuracy, error rate, log loss, per-class precision/recall/F1 and the confusion matrix. */
export function evaluateProbabilities(labels: string[], yTrue: ArrayLike<number>, proba: Matrix): Evaluation {
  const k = labels.length;
  if (proba.cols !== k) throw new Error(`probabilities have ${proba.cols} columns for ${k} labels`);
  if (proba.rows !== yTrue.length) throw new Error(`${proba.rows} predictions for ${yTrue.length} labels`);
  const predicted = argmaxRows(proba);
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  let logLoss = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i];
    confusion[t][predicted[i]]++;
    if (t === predicted[i]) correct++;
    logLoss -= Math.log(Math.min(1 - 1e-15, Math.max(1e-15, proba.data[i * k + t])));
  }
  const n = yTrue.length;
  const perClass = labels.map((label, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predictedCount = confusion.reduce((a, r) => a + r[c], 0);
    const precision = predictedCount ? tp / predictedCount : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
  const present = perClass.filter((c) => c.support > 0);
  return {
    n,
    accuracy: n ? correct / n : 0,
    errorRate: n ? 1 - correct / n : 0,
    logLoss: n ? logLoss / n : 0,
    macroF1: present.length ? present.reduce((s, c) => s + c.f1, 0) / present.length : 0,
    labels,
    perClass,
    confusion,
  };
}
