import type { Device } from '../backbone/session.js';
import type { Model } from '../bundle/load-model.js';
import type { IdentifiedImage } from '../dataset/identify.js';
import { readFile } from 'node:fs/promises';
import { skippedInputs, toPredictions, type Prediction, type SkippedInput } from '../ensemble/predictions.js';
import { overlayDataUrl } from '../explain/overlay.js';
import { explainedPredictions } from '../explain/prediction-explanation.js';

export type { Prediction as ServedPrediction, SkippedInput as SkippedUpload } from '../ensemble/predictions.js';

export interface ClassifyResult {
  predictions: Prediction[];
  skipped: SkippedInput[];
}

export interface ClassifyOptions {
  cacheDir: string;
  device: Device;
  tta: boolean;
  batchSize?: number;
}

/**
 * Runs the whole model (every member, TTA, the weighted average) on identified images; with `explain`, each
 * prediction also gets its Grad-CAM `explanation`, with the overlay as a PNG data URL.
 */
export async function classifyImages(model: Model, images: IdentifiedImage[], options: { tta: boolean; explain?: boolean }): Promise<ClassifyResult> {
  if (images.length === 0) return { predictions: [], skipped: [] };
  const result = await model.predictProba(images, { tta: options.tta, progress: false });
  const predictions = toPredictions(model.labels, model.manifest.extraTargets ?? {}, result);
  if (!options.explain) return { predictions, skipped: skippedInputs(result.skipped) };
  const explanation = await model.ensemble.explain(result.images, { predictions: result });
  const explained = explainedPredictions(predictions, explanation, model.labels);
  for (const [i, p] of explained.entries()) {
    const grid = explanation.heatmaps[i];
    if (grid) p.explanation.overlay = await overlayDataUrl(await readFile(result.images[i].record.path), grid);
  }
  return { predictions: explained, skipped: skippedInputs(result.skipped) };
}
