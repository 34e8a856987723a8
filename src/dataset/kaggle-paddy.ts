import { join } from 'node:path';
import { LensembleError } from '../util/errors.js';
import { findColumn, readCsv } from './csv-table.js';
import { isFile, listImageFiles } from './files.js';
import { classesOf, type Dataset, type ImageRecord } from './types.js';

/**
 * The Kaggle "Paddy Doctor" layout: `train.csv` (image_id,label,variety,age), images in
 * `train_images/<label>/<image_id>`, unlabelled `test_images/`, and `sample_submission.csv`.
 * Columns other than image_id/label become extra targets (string-valued, e.g. variety) or extras.
 */
export async function readKagglePaddy(root: string): Promise<Dataset> {
  const trainCsv = join(root, 'train.csv');
  const { columns, rows } = await readCsv(trainCsv);
  const idColumn = findColumn(columns, ['image_id', 'id', 'image']);
  const labelColumn = findColumn(columns, ['label']);
  if (!idColumn || !labelColumn) throw new LensembleError(`expected columns image_id,label; found: ${columns.join(', ')}`, trainCsv);
  const otherColumns = columns.filter((c) => c !== idColumn && c !== labelColumn);
  const targetColumns = otherColumns.filter((c) => rows.some((r) => r[c] !== '' && Number.isNaN(Number(r[c]))));
  const records: ImageRecord[] = rows.map((row) => {
    const targets: Record<string, string> = {};
    const extra: Record<string, string> = {};
    for (const c of otherColumns) (targetColumns.includes(c) ? targets : extra)[c] = row[c];
    return {
      id: row[idColumn],
      path: join(root, 'train_images', row[labelColumn], row[idColumn]),
      label: row[labelColumn],
      targets,
      extra,
    };
  });
  const sampleSubmission = join(root, 'sample_submission.csv');
  const hasSample = await isFile(sampleSubmission);
  const test = hasSample ? await testRecordsFromSample(root, sampleSubmission) : await testRecordsFromFolder(root);
  return {
    root,
    format: 'kaggle',
    records,
    classes: classesOf(records),
    test,
    sampleSubmission: hasSample ? sampleSubmission : undefined,
    extraTargets: targetColumns,
  };
}

async function testRecordsFromSample(root: string, sample: string): Promise<ImageRecord[]> {
  const { columns, rows } = await readCsv(sample);
  const idColumn = findColumn(columns, ['image_id', 'id', 'image']) ?? columns[0];
  return rows.map((r) => ({ id: r[idColumn], path: join(root, 'test_images', r[idColumn]) }));
}

async function testRecordsFromFolder(root: string): Promise<ImageRecord[]> {
  try {
    return (await listImageFiles(join(root, 'test_images'))).map((f) => ({ id: f, path: join(root, 'test_images', f) }));
  } catch {
    return [];
  }
}
