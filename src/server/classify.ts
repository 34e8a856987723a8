import type { Device } from '../backbone/session.js';
import type { Model } from '../bundle/load-model.js';
import type { IdentifiedImage } from '../dataset/identify.js';
import { skippedInputs, toPredictions, type Prediction, type SkippedInput } from '../ensemble/predictions.js';

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

/** Runs the whole model (every member, TTA, the weighted average) on identified images. */
export async function classifyImages(model: Model, images: IdentifiedImage[], options: { tta: boolean }): Promise<ClassifyResult> {
  if (images.length === 0) return { predictions: [], skipped: [] };
  const result = await model.predictProba(images, { tta: options.tta, progress: false });
  return { predictions: toPredictions(model.labels, model.manifest.extraTargets ?? {}, result), skipped: skippedInputs(result.skipped) };
}
