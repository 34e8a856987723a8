import { loadBundle } from '../bundle/bundle.js';
import { readDataset, type ReadDatasetOptions } from '../dataset/read-dataset.js';
import { identifyImages } from '../dataset/identify.js';
import type { SkippedImage } from '../dataset/scan.js';
import { evaluateProbabilities, type Evaluation } from '../evaluate/metrics.js';
import { LensembleError } from '../util/errors.js';
import { defaultCacheDir } from '../util/paths.js';
import { inferBundle, type InferenceOptions } from './bundle-inference.js';

export interface EvaluateResult {
  evaluation: Evaluation;
  /** Each member's evaluation on the same images (same order as the bundle's members). */
  members: { name: string; evaluation: Evaluation }[];
  skipped: SkippedImage[];
}

/** Evaluates a saved model on a labelled dataset (folder, CSV or Kaggle layout). */
export async function evaluateModel(model: string, data: string, options: Partial<InferenceOptions> & { read?: ReadDatasetOptions } = {}): Promise<EvaluateResult> {
  const bundle = loadBundle(model);
  const dataset = await readDataset(data, options.read);
  const labels = bundle.manifest.labels;
  const unknown = dataset.classes.filter((c) => !labels.includes(c));
  if (unknown.length) throw new LensembleError(`labels not known to the model: ${unknown.join(', ')} (model knows: ${labels.join(', ')})`, data);
  const labelled = dataset.records.filter((r) => r.label !== undefined);
  if (labelled.length === 0) throw new LensembleError('no labelled images to evaluate on', data);
  const identified = await identifyImages(labelled);
  const result = await inferBundle(bundle, identified.ok, { ...options, cacheDir: options.cacheDir ?? defaultCacheDir() });
  const y = result.images.map((img) => labels.indexOf(img.record.label!));
  return {
    evaluation: evaluateProbabilities(labels, y, result.probabilities),
    members: bundle.members.map(({ member }, k) => ({ name: member.name, evaluation: evaluateProbabilities(labels, y, result.memberProbabilities[k]) })),
    skipped: [...identified.skipped, ...result.skipped],
  };
}
