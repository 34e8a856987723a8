import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMemberString, train } from '../../src/index.js';
import { sharedPath } from './shared.js';

export const RICE_LABELS = ['bacterial_leaf_blight', 'blast', 'brown_spot', 'tungro'];

/** A small real training set: `perClass` images per rice-leaf class, spread over each class's files. */
export function riceSubset(root: string, perClass: number): string {
  for (const label of RICE_LABELS) {
    const files = readdirSync(sharedPath('data', 'rice-leaf', label)).sort();
    const step = Math.floor(files.length / perClass);
    mkdirSync(join(root, label), { recursive: true });
    for (let i = 0; i < perClass; i++) copyFileSync(sharedPath('data', 'rice-leaf', label, files[i * step]), join(root, label, files[i * step]));
  }
  return root;
}

/** The k-th rice image from the end of a class folder: not in a `riceSubset` of up to 12 per class. */
export function heldOutRice(label: string, k: number): Buffer {
  const files = readdirSync(sharedPath('data', 'rice-leaf', label)).sort();
  return readFileSync(sharedPath('data', 'rice-leaf', label, files[files.length - 1 - k]));
}

/** Trains the small one-member model the server tests serve (SqueezeNet at 128, linear head, no TTA). */
export async function trainSmallRiceModel(work: string, cacheDir: string): Promise<string> {
  const out = join(work, 'model');
  const data = riceSubset(join(work, 'data'), 12);
  await train({ data, members: [parseMemberString('squeezenet1_1,size=128,views=0,tta=none,head=linear')], out, cacheDir, progress: false });
  return out;
}
