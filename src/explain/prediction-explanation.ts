import type { Prediction } from '../ensemble/predictions.js';
import type { Grid } from './grad-cam.js';
import type { HeatmapSet } from './explain-images.js';

/**
 * A prediction's explanation, in the prediction shape (`explanation` beside `label`): the class explained, the
 * members whose maps were mixed (weights renormalised over them), and the heatmap — a grid over the whole photo,
 * row-major, max 1, values rounded to 3 decimals. The HTTP API adds `overlay` (a PNG data URL of the photo with the
 * heatmap drawn over it); `lensemble predict --explain` adds `file` (the PNG it wrote).
 */
export interface PredictionExplanation {
  label: string;
  members: { name: string; weight: number }[];
  heatmap: { width: number; height: number; values: number[] } | null;
  overlay?: string;
  file?: string;
  /** Why there is no heatmap (no member of the model can make one). */
  unavailable?: string;
}

export type ExplainedPrediction = Prediction & { explanation: PredictionExplanation };

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function gridJson(grid: Grid): PredictionExplanation['heatmap'] {
  return { width: grid.width, height: grid.height, values: Array.from(grid.values, round3) };
}

/** Predictions (in the order of the set's images) with their explanations. */
export function explainedPredictions(predictions: Prediction[], set: HeatmapSet, labels: string[]): ExplainedPrediction[] {
  return predictions.map((p, i) => ({
    ...p,
    explanation: {
      label: labels[set.classes[i]],
      members: set.members,
      heatmap: set.heatmaps[i] ? gridJson(set.heatmaps[i]!) : null,
      ...(set.members.length ? {} : { unavailable: `no member of this model can make heatmaps (${set.leftOut.map((l) => `${l.name}: ${l.reason}`).join('; ')})` }),
    },
  }));
}
