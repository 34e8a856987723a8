import sharp from 'sharp';
import type { Device } from '../backbone/session.js';
import type { Model } from '../bundle/load-model.js';
import type { IdentifiedImage } from '../dataset/identify.js';
import { describeDecodeFailure } from '../images/decode.js';
import { skippedInputs, toPredictions, type Prediction, type SkippedInput } from '../ensemble/predictions.js';
import type { Upload } from './uploads.js';

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
 * Reads only the header of each upload (off the main thread, in libvips), so empty files and non-images
 * are turned away with their reason before they wait for the model.
 */
export async function screenUploads(uploads: Upload[]): Promise<{ images: IdentifiedImage[]; skipped: SkippedInput[] }> {
  const images: IdentifiedImage[] = [];
  const skipped: SkippedInput[] = [];
  for (const upload of uploads) {
    if (upload.bytes === 0) {
      skipped.push({ name: upload.name, reason: 'empty file (0 bytes)' });
      continue;
    }
    try {
      const meta = await sharp(upload.path).metadata();
      if (!meta.width || !meta.height) throw new Error('unsupported image format');
      images.push({ record: { id: upload.name, path: upload.path }, contentHash: upload.sha256 });
    } catch (err) {
      skipped.push({ name: upload.name, reason: describeDecodeFailure(err) });
    }
  }
  return { images, skipped };
}

/** Runs the whole model (every member, TTA, the weighted average) on identified images. */
export async function classifyImages(model: Model, images: IdentifiedImage[], options: { tta: boolean }): Promise<ClassifyResult> {
  if (images.length === 0) return { predictions: [], skipped: [] };
  const result = await model.predictProba(images, { tta: options.tta, progress: false });
  return { predictions: toPredictions(model.labels, model.manifest.extraTargets ?? {}, result), skipped: skippedInputs(result.skipped) };
}
