import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { readDataset } from '../src/dataset/read-dataset.js';
import { scanRecords } from '../src/dataset/scan.js';
import { groupNearDuplicates } from '../src/split/near-duplicates.js';
import { dihedralDistance, dihedralHash, THUMB } from '../src/split/phash.js';
import { stratifiedGroupSplit } from '../src/split/split.js';
import { prepareTrainingData } from '../src/pipeline/prepare-data.js';
import { patternImage } from './support/images.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

async function hashOf(img: Sharp) {
  const gray = await img.resize(THUMB, THUMB, { fit: 'fill' }).grayscale().raw().toBuffer();
  return dihedralHash(new Uint8Array(gray));
}

describe('dihedral perceptual hash', () => {
  it('puts flipped, rotated and rescaled copies within a few bits, and different images far apart', async () => {
    const bytes = await patternImage(240, 180, 7).jpeg({ quality: 90 }).toBuffer();
    const base = await hashOf(sharp(bytes));
    const variants = [
      sharp(bytes).flop(),
      sharp(bytes).flip(),
      sharp(bytes).rotate(90),
      sharp(bytes).rotate(180),
      sharp(bytes).rotate(270).flop(),
      sharp(await sharp(bytes).resize(120, 90).jpeg({ quality: 75 }).toBuffer()),
    ];
    for (const v of variants) expect(dihedralDistance(base, await hashOf(v))).toBeLessThanOrEqual(4);
    for (let seed = 20; seed < 30; seed++) {
      expect(dihedralDistance(base, await hashOf(patternImage(240, 180, seed)))).toBeGreaterThan(10);
    }
  });
});

describe('stratified group split', () => {
  const labels = Array.from({ length: 400 }, (_, i) => i % 4);
  const groupOf = Int32Array.from({ length: 400 }, (_, i) => Math.floor(i / 8) * 8 + (i % 4)); // groups of 2 per class

  it('never splits a group, gives each class about 20%, and is deterministic', () => {
    const a = stratifiedGroupSplit(labels, groupOf, 0.2, 42);
    const b = stratifiedGroupSplit(labels, groupOf, 0.2, 42);
    expect(a).toEqual(b);
    const validGroups = new Set(a.valid.map((i) => groupOf[i]));
    for (const i of a.train) expect(validGroups.has(groupOf[i])).toBe(false);
    for (let c = 0; c < 4; c++) {
      const n = a.valid.filter((i) => labels[i] === c).length;
      expect(n).toBeGreaterThanOrEqual(18);
      expect(n).toBeLessThanOrEqual(22);
    }
    expect(stratifiedGroupSplit(labels, groupOf, 0.2, 7).valid).not.toEqual(a.valid);
  });

  it('keeps a class with a single group in training', () => {
    const s = stratifiedGroupSplit([0, 0, 1, 1], Int32Array.from([0, 1, 2, 2]), 0.5, 1);
    expect(s.valid.every((i) => i < 2)).toBe(true);
  });

  it('groups transitively and by shared key', () => {
    const h = (bits: number) => Uint32Array.from({ length: 16 }, (_, k) => (k % 2 === 0 ? bits : 0));
    const g = groupNearDuplicates([h(0b0), h(0b11), h(0b1111), h(0xffff0000)], 2, ['a', 'b', 'c', 'c']);
    expect(Array.from(g.groupOf)).toEqual([0, 0, 0, 0]);
    const g2 = groupNearDuplicates([h(0b0), h(0b11), h(0b1111), h(0xffff0000)], 2);
    expect(Array.from(g2.groupOf)).toEqual([0, 0, 0, 3]);
  });
});

describe.skipIf(!SHARED_DIR)('near-duplicates in the real rice-leaf set', () => {
  it('finds the rotated/flipped copies and keeps every group on one side', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'lensemble-split-'));
    const data = await prepareTrainingData({ data: sharedPath('data', 'rice-leaf'), cacheDir, progress: false });
    const { info, train, valid } = data.split;
    expect(data.images).toHaveLength(3296);
    expect(info.duplicateGroups).toBeGreaterThan(150);
    expect(info.itemsInDuplicateGroups).toBeGreaterThan(2500);
    expect(valid.length / data.images.length).toBeGreaterThan(0.17);
    expect(valid.length / data.images.length).toBeLessThan(0.23);
    // Independent check: no validation image has a dihedral near-twin in training.
    const hashes = data.images.map((s) => s.facts.phash);
    for (const v of valid) for (const t of train) expect(dihedralDistance(hashes[v], hashes[t])).toBeGreaterThan(10);
  }, 240_000);

  it('reads the PNGs named .jpg', async () => {
    const ds = await readDataset(sharedPath('data', 'rice-leaf'));
    const blast = ds.records.filter((r) => r.label === 'blast').slice(0, 300);
    const scan = await scanRecords(blast);
    expect(scan.skipped).toEqual([]);
    expect(scan.ok.some((s) => s.facts.format === 'png' && s.record.path.endsWith('.jpg'))).toBe(true);
  });
});

describe('an explicit validation set', () => {
  it('is checked for near-duplicates of training images (a mirrored copy counts)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lensemble-valid-leak-'));
    const { writePattern } = await import('./support/images.js');
    for (const [label, seeds] of [['a', [1, 2, 3]], ['b', [4, 5, 6]]] as const) for (const s of seeds) await writePattern(join(root, 'train', label, `${s}.png`), 96, 96, s, 'png');
    await writePattern(join(root, 'valid', 'a', 'new.png'), 96, 96, 99, 'png');
    mkdirSync(join(root, 'valid', 'b'), { recursive: true });
    await patternImage(96, 96, 5).flop().png().toFile(join(root, 'valid', 'b', 'mirrored-5.png'));
    const data = await prepareTrainingData({ data: join(root, 'train'), valid: join(root, 'valid'), cacheDir: join(root, 'cache') });
    expect(data.split.valid).toHaveLength(2);
    expect(data.leakedValidImages).toBe(1);
  });
});
