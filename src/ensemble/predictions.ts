import type { SkippedImage } from '../dataset/scan.js';
import { argmax, row, type Matrix } from '../util/matrix.js';
import type { EnsembleProbabilities } from './ensemble.js';

/**
 * The one prediction shape, shared by `lensemble predict --json`, the library's `model.predict` and
 * `POST /api/predict`:
 *
 *   { name, label, confidence, probabilities: { <class>: p, … }, targets?: { <target>: { label, confidence, probabilities } } }
 *
 * plus, for models calibrated at training, `lowConfidence`, `unfamiliar` and (when either holds) `warning`.
 *
 * `name` is the image as the caller gave it (the path typed, the path inside a folder given, or the uploaded
 * file name); probabilities are rounded to 6 decimals.
 */
export interface Prediction {
  name: string;
  label: string;
  confidence: number;
  probabilities: Record<string, number>;
  /** Extra targets (e.g. variety) of multi-target models. */
  targets?: Record<string, TargetPrediction>;
  /** Models calibrated at training: confidence below what all but the least sure 5% of validation images got. */
  lowConfidence?: boolean;
  /** …and features farther from every training class than 99% of validation images (e.g. a face shown to a rice model). */
  unfamiliar?: boolean;
  /** One line for a person, when either is true. */
  warning?: string;
}

export interface TargetPrediction {
  label: string;
  confidence: number;
  probabilities: Record<string, number>;
}

/** An input that got no prediction, and why. */
export interface SkippedInput {
  name: string;
  reason: string;
}

export interface Predictions {
  labels: string[];
  predictions: Prediction[];
  skipped: SkippedInput[];
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

function describe(labels: string[], p: Float32Array): TargetPrediction {
  const best = argmax(p);
  return { label: labels[best], confidence: round(p[best]), probabilities: Object.fromEntries(labels.map((l, k) => [l, round(p[k])])) };
}

export function skippedInputs(skipped: SkippedImage[]): SkippedInput[] {
  return skipped.map((s) => ({ name: s.id, reason: s.reason }));
}

/** Ensemble probabilities → predictions, one per readable image, in input order. */
export function toPredictions(labels: string[], extraTargets: Record<string, string[]>, result: EnsembleProbabilities): Prediction[] {
  const targets = Object.entries(extraTargets);
  return result.images.map((img, i): Prediction => {
    const prediction: Prediction = { name: img.record.id, ...describe(labels, row(result.probabilities, i)), ...(result.assessments?.[i] ?? {}) };
    if (targets.length) prediction.targets = Object.fromEntries(targets.map(([t, names]) => [t, describe(names, row(result.extra[t].tta as Matrix, i))]));
    return prediction;
  });
}
