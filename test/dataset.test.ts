import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDataset, detectFormat } from '../src/dataset/read-dataset.js';
import { scanRecords } from '../src/dataset/scan.js';
import { summarizeScan } from '../src/dataset/summary.js';
import { writePattern } from './support/images.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const root = mkdtempSync(join(tmpdir(), 'lensemble-dataset-'));

beforeAll(async () => {
  await writePattern(join(root, 'folder', 'cat', 'a.jpg'), 64, 48, 1);
  await writePattern(join(root, 'folder', 'cat', 'b.jpg'), 64, 48, 2, 'png'); // PNG named .jpg
  await writePattern(join(root, 'folder', 'dog', 'c.jpg'), 48, 64, 3);
  writeFileSync(join(root, 'folder', 'dog', 'broken.jpg'), Buffer.alloc(0));
  writeFileSync(join(root, 'folder', 'dog', 'notes.txt'), 'ignored: not an image extension');
  writeFileSync(join(root, 'folder', 'dog', '.DS_Store'), 'hidden');
  mkdirSync(join(root, 'csv', 'imgs'), { recursive: true });
  await writePattern(join(root, 'csv', 'imgs', 'x.jpg'), 32, 32, 4);
  await writePattern(join(root, 'csv', 'imgs', 'y.jpg'), 32, 32, 5);
  writeFileSync(join(root, 'csv', 'list.csv'), 'path,label,group,site\nimgs/x.jpg,red,g1,north\nimgs/y.jpg,blue,g1,south\nimgs/missing.jpg,red,g2,north\n');
});

describe('dataset readers', () => {
  it('reads an image folder, skipping hidden and non-image files by name', async () => {
    const ds = await readDataset(join(root, 'folder'));
    expect(ds.format).toBe('folder');
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect(ds.records.map((r) => r.id)).toEqual(['cat/a.jpg', 'cat/b.jpg', 'dog/broken.jpg', 'dog/c.jpg']);
  });

  it('reads a CSV list with relative paths, groups and extra columns', async () => {
    const ds = await readDataset(join(root, 'csv', 'list.csv'));
    expect(ds.format).toBe('csv');
    expect(ds.records[0]).toMatchObject({ path: join(root, 'csv', 'imgs', 'x.jpg'), label: 'red', group: 'g1', extra: { site: 'north' } });
    expect(ds.classes).toEqual(['blue', 'red']);
  });

  it('names the file and problem for a missing dataset or a CSV without a path column', async () => {
    await expect(readDataset(join(root, 'nope'))).rejects.toThrow(/nope: dataset not found/);
    writeFileSync(join(root, 'bad.csv'), 'foo,bar\n1,2\n');
    await expect(readDataset(join(root, 'bad.csv'))).rejects.toThrow(/bad\.csv: no path column/);
  });

  it('scan reports unreadable files by path and reason, and keeps the rest', async () => {
    const ds = await readDataset(join(root, 'folder'));
    const scan = await scanRecords(ds.records, { cacheDir: join(root, 'scan-cache') });
    expect(scan.ok.map((s) => s.record.id)).toEqual(['cat/a.jpg', 'cat/b.jpg', 'dog/c.jpg']);
    expect(scan.skipped).toEqual([{ id: 'dog/broken.jpg', path: join(root, 'folder', 'dog', 'broken.jpg'), reason: 'empty file (0 bytes)' }]);
    const summary = summarizeScan(scan);
    expect(summary.formats).toEqual({ jpeg: 2, png: 1 });
    expect(summary.sizes.distinct).toBe(2);
    // A second scan is served from the cache and agrees.
    const again = await scanRecords(ds.records, { cacheDir: join(root, 'scan-cache') });
    expect(again.ok.map((s) => s.facts)).toEqual(scan.ok.map((s) => s.facts));
  });

  it('scan reports a CSV row whose file is missing', async () => {
    const ds = await readDataset(join(root, 'csv', 'list.csv'));
    const scan = await scanRecords(ds.records);
    expect(scan.skipped).toHaveLength(1);
    expect(scan.skipped[0].reason).toBe('file not found');
  });
});

describe.skipIf(!SHARED_DIR)('Kaggle Paddy Doctor layout (real)', () => {
  it('reads train.csv, train_images/<label>/, test images in sample_submission order, variety as a target', async () => {
    const root = sharedPath('data', 'paddy-doctor-mini');
    expect(await detectFormat(root)).toBe('kaggle');
    const ds = await readDataset(root);
    expect(ds.records).toHaveLength(30);
    expect(ds.classes).toHaveLength(10);
    expect(ds.extraTargets).toEqual(['variety']);
    expect(ds.records[0]).toMatchObject({ id: '100023.jpg', label: 'bacterial_leaf_blight', targets: { variety: 'ADT45' }, extra: { age: '72' } });
    expect(ds.test?.map((t) => t.id)).toEqual(['200001.jpg', '200002.jpg', '200003.jpg', '200004.jpg']);
    const scan = await scanRecords(ds.records);
    expect(scan.skipped).toEqual([]);
    expect(summarizeScan(scan).sizes.mostCommon).toBe('480×640');
  });
});
