import { join, relative } from 'node:path';
import { LensembleError } from '../util/errors.js';
import { listImageFiles, listSubdirectories } from './files.js';
import { classesOf, type Dataset, type ImageRecord } from './types.js';

/** `<root>/<label>/<file>`: one subfolder per class (fastai's `parent_label`). */
export async function readImageFolder(root: string): Promise<Dataset> {
  const labels = await listSubdirectories(root);
  if (labels.length === 0) {
    throw new LensembleError('no class subfolders found (expected <root>/<label>/<image files>)', root);
  }
  const records: ImageRecord[] = [];
  for (const label of labels) {
    for (const file of await listImageFiles(join(root, label))) {
      const path = join(root, label, file);
      records.push({ id: relative(root, path), path, label });
    }
  }
  if (records.length === 0) throw new LensembleError('class subfolders contain no image files', root);
  return { root, format: 'folder', records, classes: classesOf(records), extraTargets: [] };
}
