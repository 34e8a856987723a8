import { join, resolve } from 'node:path';
import { LensembleError } from '../util/errors.js';
import { readCsvList } from './csv-list.js';
import { isDirectory, isFile } from './files.js';
import { readImageFolder } from './image-folder.js';
import { readKagglePaddy } from './kaggle-paddy.js';
import type { Dataset, DatasetFormat } from './types.js';

export interface ReadDatasetOptions {
  format?: DatasetFormat | 'auto';
  groupColumn?: string;
}

/** Recognises the layout (Kaggle competition dir, CSV list, or image folder) and reads it. */
export async function readDataset(path: string, options: ReadDatasetOptions = {}): Promise<Dataset> {
  const root = resolve(path);
  const format = options.format && options.format !== 'auto' ? options.format : await detectFormat(root);
  switch (format) {
    case 'csv':
      return readCsvList(root, { groupColumn: options.groupColumn });
    case 'kaggle':
      return readKagglePaddy(root);
    case 'folder':
      return readImageFolder(root);
  }
}

export async function detectFormat(root: string): Promise<DatasetFormat> {
  if (await isFile(root)) {
    if (/\.(csv|tsv)$/i.test(root)) return 'csv';
    throw new LensembleError('a dataset must be a folder or a .csv list of images', root);
  }
  if (!(await isDirectory(root))) throw new LensembleError('dataset not found', root);
  if ((await isFile(join(root, 'train.csv'))) && (await isDirectory(join(root, 'train_images')))) return 'kaggle';
  return 'folder';
}
