import { resolve, join } from 'node:path';
import { loadBundle } from '../bundle/bundle.js';
import { isDirectory, walkImageFiles } from '../dataset/files.js';
import { identifyImages } from '../dataset/identify.js';
import type { SkippedImage } from '../dataset/scan.js';
import type { ImageRecord } from '../dataset/types.js';
import { argmax, row } from '../util/matrix.js';
import { defaultCacheDir } from '../util/paths.js';
import { inferBundle, type InferenceOptions } from './bundle-inference.js';

export interface Prediction {
  path: string;
  label: string;
  confidence: number;
  probabilities: Record<string, number>;
  /** Predictions of extra targets (e.g. variety), for multi-target models. */
  targets?: Record<string, { label: string; confidence: number }>;
}

export interface PredictResult {
  labels: string[];
  predictions: Prediction[];
  skipped: SkippedImage[];
}

export type PredictOptions = Partial<InferenceOptions>;

/** Image files and folders (searched recursively) → records in a stable order. */
export async function expandImageInputs(inputs: string[]): Promise<ImageRecord[]> {
  const records: ImageRecord[] = [];
  for (const input of inputs) {
    const path = resolve(input);
    if (await isDirectory(path)) {
      for (const rel of await walkImageFiles(path)) records.push({ id: join(input, rel), path: join(path, rel) });
    } else {
      records.push({ id: input, path });
    }
  }
  return records;
}

/** One call from image paths to labels and probabilities, with a saved model bundle. */
export async function predict(model: string, inputs: string[], options: PredictOptions = {}): Promise<PredictResult> {
  const bundle = loadBundle(model);
  const records = await expandImageInputs(inputs);
  const identified = await identifyImages(records);
  const result = await inferBundle(bundle, identified.ok, { ...options, cacheDir: options.cacheDir ?? defaultCacheDir() });
  const labels = bundle.manifest.labels;
  const extraTargets = bundle.manifest.extraTargets ?? {};
  const predictions = result.images.map((img, i): Prediction => {
    const p = row(result.probabilities, i);
    const best = argmax(p);
    const targets = Object.fromEntries(
      Object.entries(extraTargets).map(([t, names]) => {
        const q = row(result.extraProbabilities[t], i);
        const k = argmax(q);
        return [t, { label: names[k], confidence: q[k] }];
      }),
    );
    return {
      path: img.record.id,
      label: labels[best],
      confidence: p[best],
      probabilities: Object.fromEntries(labels.map((l, k) => [l, p[k]])),
      ...(Object.keys(targets).length ? { targets } : {}),
    };
  });
  return { labels, predictions, skipped: [...identified.skipped, ...result.skipped] };
}

