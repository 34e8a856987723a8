import { z } from 'zod';
import type { FeatureStore } from '../features/feature-store.js';
import type { Matrix } from '../util/matrix.js';

/**
 * What a model knows of its own validation images, so that it can say when an image is not like them: a
 * confidence below what all but the least sure few validation images got, or features far from every class the
 * member was trained on (a face shown to a rice model is confidently "blast" more often than not — softmax
 * confidence alone does not catch it; distance in feature space does).
 */
export const calibrationSchema = z.object({
  confidence: z.object({
    /** Ensemble confidence (with TTA) below which a prediction is flagged. */
    threshold: z.number(),
    /** The validation quantile it is: this fraction of validation images fall below it. */
    quantile: z.number(),
  }),
  /** Per member with features: class centroids of its L2-normalised training features, and the cosine-distance threshold. */
  novelty: z
    .array(
      z.object({
        member: z.string(),
        /** Flag when 1 − (cosine to the nearest class centroid) exceeds this (a validation quantile). */
        threshold: z.number(),
        quantile: z.number(),
        centroids: z.array(z.array(z.number())),
      }),
    )
    .optional(),
});
export type Calibration = z.infer<typeof calibrationSchema>;

export const CONFIDENCE_QUANTILE = 0.05;
export const NOVELTY_QUANTILE = 0.99;

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))));
  return sorted[at];
}

function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  const s = n > 0 ? 1 / Math.sqrt(n) : 0;
  return Float32Array.from(v, (x) => x * s);
}

/** 1 − the cosine similarity to the nearest centroid (centroids are unit vectors). */
export function noveltyScore(features: Float32Array, centroids: readonly Float32Array[]): number {
  const x = unit(features);
  let best = -Infinity;
  for (const c of centroids) {
    let dot = 0;
    for (let i = 0; i < x.length; i++) dot += x[i] * c[i];
    if (dot > best) best = dot;
  }
  return 1 - best;
}

/** Unit class centroids of a member's training features. */
export function classCentroids(store: FeatureStore, hashes: string[], y: Int32Array, classes: number): Float32Array[] {
  const dim = store.dim ?? 0;
  const sums = Array.from({ length: classes }, () => new Float64Array(dim));
  hashes.forEach((hash, i) => {
    const row = store.get(hash, 0);
    if (!row) return;
    const u = unit(row);
    for (let d = 0; d < dim; d++) sums[y[i]][d] += u[d];
  });
  return sums.filter((s) => s.some((v) => v !== 0)).map((s) => unit(Float32Array.from(s)));
}

/** The thresholds from the validation split: the ensemble's confidences, and each member's novelty scores. */
export function calibrate(
  validProbabilities: Matrix,
  members: { name: string; centroids: Float32Array[]; validScores: number[] }[],
): Calibration {
  const confidences = Array.from({ length: validProbabilities.rows }, (_, i) => Math.max(...validProbabilities.data.subarray(i * validProbabilities.cols, (i + 1) * validProbabilities.cols)));
  return {
    confidence: { threshold: quantile(confidences, CONFIDENCE_QUANTILE), quantile: CONFIDENCE_QUANTILE },
    novelty: members
      .filter((m) => m.centroids.length && m.validScores.length)
      .map((m) => ({ member: m.name, threshold: quantile(m.validScores, NOVELTY_QUANTILE), quantile: NOVELTY_QUANTILE, centroids: m.centroids.map((c) => Array.from(c)) })),
  };
}

export interface Assessment {
  lowConfidence: boolean;
  unfamiliar: boolean;
  warning?: string;
}

/** The warning a prediction carries, if any (confidence in [0, 1]; novelty as the largest score ÷ threshold over members). */
export function assess(calibration: Calibration, confidence: number, novelty: number | undefined): Assessment {
  const lowConfidence = confidence < calibration.confidence.threshold;
  const unfamiliar = novelty !== undefined && novelty > 1;
  const reasons: string[] = [];
  if (unfamiliar) reasons.push(`unlike the training images (farther from every class than ${Math.round(calibration.novelty![0].quantile * 100)}% of validation images)`);
  if (lowConfidence) reasons.push(`low confidence (${(100 * confidence).toFixed(1)}% is below ${(100 * calibration.confidence.threshold).toFixed(1)}%, which only the least sure ${Math.round(calibration.confidence.quantile * 100)}% of validation images fall under)`);
  return { lowConfidence, unfamiliar, ...(reasons.length ? { warning: `check this one: ${reasons.join('; ')}` } : {}) };
}
