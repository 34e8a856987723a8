import { join, resolve } from 'node:path';
import { isDirectory, walkImageFiles } from './files.js';
import type { ImageRecord } from './types.js';

/** Image files and folders (searched recursively) → records in a stable order; ids are the paths as given. */
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
