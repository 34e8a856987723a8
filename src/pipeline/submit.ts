import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadModel, type LoadModelOptions, type Model } from '../bundle/load-model.js';
import { readCsv } from '../dataset/csv-table.js';
import { identifyImages } from '../dataset/identify.js';
import { readDataset } from '../dataset/read-dataset.js';
import type { SkippedImage } from '../dataset/scan.js';
import { argmaxRows } from '../util/matrix.js';
import { LensembleError } from '../util/errors.js';

export interface SubmitResult {
  path: string;
  rows: number;
  labelCounts: Record<string, number>;
}

function refuse(dir: string, problems: SkippedImage[]): never {
  const listed = problems.slice(0, 10).map((p) => `${p.path}: ${p.reason}`).join('; ');
  const more = problems.length > 10 ? ` (and ${problems.length - 10} more)` : '';
  throw new LensembleError(`refusing to write a partial submission: ${problems.length} test image${problems.length === 1 ? '' : 's'} unreadable — ${listed}${more}`, dir);
}

/**
 * Writes a Kaggle submission (`image_id,label` for every test image, in sample_submission.csv order), or
 * refuses with the list of problems when any test image is missing or unreadable. Nothing partial is written.
 */
export async function writeSubmission(modelDir: string, data: string, out: string, options: LoadModelOptions = {}): Promise<SubmitResult> {
  const model = await loadModel(modelDir, options);
  try {
    return await submitWith(model, data, out);
  } finally {
    await model.close();
  }
}

async function submitWith(model: Model, data: string, out: string): Promise<SubmitResult> {
  const dataset = await readDataset(data, { format: 'kaggle' });
  const test = dataset.test ?? [];
  if (test.length === 0) throw new LensembleError('no test images (expected sample_submission.csv or test_images/)', data);
  const identified = await identifyImages(test);
  if (identified.skipped.length) refuse(data, identified.skipped);
  const result = await model.predictProba(identified.ok);
  if (result.skipped.length || result.images.length !== test.length) refuse(data, result.skipped);
  const header = dataset.sampleSubmission ? (await readCsv(dataset.sampleSubmission)).columns : ['image_id', 'label'];
  const predicted = argmaxRows(result.probabilities);
  const labels = model.labels;
  const labelCounts: Record<string, number> = {};
  const lines = [header.slice(0, 2).join(',')];
  test.forEach((record, i) => {
    const label = labels[predicted[i]];
    labelCounts[label] = (labelCounts[label] ?? 0) + 1;
    lines.push(`${record.id},${label}`);
  });
  const path = resolve(out);
  writeFileSync(path + '.partial', lines.join('\n') + '\n');
  renameSync(path + '.partial', path);
  return { path, rows: test.length, labelCounts };
}
