import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadBundle } from '../bundle/bundle.js';
import { readCsv } from '../dataset/csv-table.js';
import { identifyImages } from '../dataset/identify.js';
import { readDataset } from '../dataset/read-dataset.js';
import type { SkippedImage } from '../dataset/scan.js';
import { argmaxRows } from '../util/matrix.js';
import { LensembleError } from '../util/errors.js';
import { defaultCacheDir } from '../util/paths.js';
import { inferBundle, type InferenceOptions } from './bundle-inference.js';

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
export async function writeSubmission(model: string, data: string, out: string, options: Partial<InferenceOptions> = {}): Promise<SubmitResult> {
  const bundle = loadBundle(model);
  const dataset = await readDataset(data, { format: 'kaggle' });
  const test = dataset.test ?? [];
  if (test.length === 0) throw new LensembleError('no test images (expected sample_submission.csv or test_images/)', data);
  const identified = await identifyImages(test);
  if (identified.skipped.length) refuse(data, identified.skipped);
  const result = await inferBundle(bundle, identified.ok, { ...options, cacheDir: options.cacheDir ?? defaultCacheDir() });
  if (result.skipped.length || result.images.length !== test.length) refuse(data, result.skipped);
  const header = dataset.sampleSubmission ? (await readCsv(dataset.sampleSubmission)).columns : ['image_id', 'label'];
  const predicted = argmaxRows(result.probabilities);
  const labels = bundle.manifest.labels;
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
