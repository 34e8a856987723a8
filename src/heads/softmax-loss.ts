import type { FloatArray } from './dense-math.js';

/**
 * fastai `LabelSmoothingCrossEntropy(eps)` over a block of logits, one row per sample:
 *   ℓᵢ = (1 − ε)·(−log pᵢ,yᵢ) + (ε / C)·Σₖ (−log pᵢ,ₖ)
 * reduced as the weighted mean Σ wᵢℓᵢ / Σ wᵢ (plain mean without weights).
 * When `gradOut` is given it receives ∂loss/∂logits = wᵢ/Σw · (pᵢ − ((1 − ε)·onehot(yᵢ) + ε/C)).
 * A block whose weights are all zero has loss 0 and zero gradient.
 */
export function smoothedCrossEntropy(
  logits: FloatArray,
  rows: number,
  classes: number,
  labels: Int32Array,
  weights: FloatArray | null,
  eps: number,
  gradOut: FloatArray | null = null,
): number {
  let totalWeight = 0;
  for (let i = 0; i < rows; i++) totalWeight += weights ? weights[i] : 1;
  if (totalWeight <= 0) {
    gradOut?.fill(0, 0, rows * classes);
    return 0;
  }
  const offTarget = eps / classes;
  let loss = 0;
  for (let i = 0; i < rows; i++) {
    const base = i * classes;
    let max = -Infinity;
    for (let k = 0; k < classes; k++) if (logits[base + k] > max) max = logits[base + k];
    let sumExp = 0;
    let sumLogits = 0;
    for (let k = 0; k < classes; k++) {
      sumExp += Math.exp(logits[base + k] - max);
      sumLogits += logits[base + k];
    }
    const logSumExp = max + Math.log(sumExp);
    const y = labels[i];
    const nllTarget = logSumExp - logits[base + y];
    const nllAll = classes * logSumExp - sumLogits;
    const share = (weights ? weights[i] : 1) / totalWeight;
    loss += share * ((1 - eps) * nllTarget + offTarget * nllAll);
    if (gradOut) {
      for (let k = 0; k < classes; k++) {
        const target = (k === y ? 1 - eps : 0) + offTarget;
        gradOut[base + k] = share * (Math.exp(logits[base + k] - logSumExp) - target);
      }
    }
  }
  return loss;
}

/** Row-wise softmax of `rows × classes` logits into `out` (may be the same array). */
export function softmaxRows(logits: FloatArray, rows: number, classes: number, out: FloatArray): void {
  for (let i = 0; i < rows; i++) {
    const base = i * classes;
    let max = -Infinity;
    for (let k = 0; k < classes; k++) if (logits[base + k] > max) max = logits[base + k];
    let sum = 0;
    for (let k = 0; k < classes; k++) {
      const e = Math.exp(logits[base + k] - max);
      out[base + k] = e;
      sum += e;
    }
    for (let k = 0; k < classes; k++) out[base + k] /= sum;
  }
}

/** Number of rows whose largest logit is at the label. */
export function countCorrect(logits: FloatArray, rows: number, classes: number, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    if (best === labels[i]) correct++;
  }
  return correct;
}
