import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFeatureStore } from '../src/features/feature-store.js';
import { readDataset } from '../src/dataset/read-dataset.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const hash = (n: number) => n.toString(16).padStart(64, '0');

describe('feature store', () => {
  it('appends, reopens, and reads back exactly', () => {
    const root = mkdtempSync(join(tmpdir(), 'lensemble-store-'));
    const key = { backbone: 'x', size: 224 };
    const store = openFeatureStore(root, key);
    expect(store.dim).toBeUndefined();
    store.append([
      { contentHash: hash(1), view: 0, features: Float32Array.from([1, 2, 3]) },
      { contentHash: hash(2), view: 0, features: Float32Array.from([4, 5, 6]) },
    ]);
    store.append([{ contentHash: hash(1), view: 3, features: Float32Array.from([7, 8, 9]) }]);
    const again = openFeatureStore(root, key);
    expect(again.size).toBe(3);
    expect(Array.from(again.get(hash(1), 3)!)).toEqual([7, 8, 9]);
    expect(Array.from(again.get(hash(2), 0)!)).toEqual([4, 5, 6]);
    expect(again.has(hash(2), 1)).toBe(false);
    expect(openFeatureStore(root, { backbone: 'x', size: 256 }).size).toBe(0); // another key, another folder
  });

  it('truncates a torn last record left by a killed writer', () => {
    const root = mkdtempSync(join(tmpdir(), 'lensemble-store-'));
    const store = openFeatureStore(root, 'k');
    store.append([{ contentHash: hash(1), view: 0, features: Float32Array.from([1, 2]) }]);
    const file = join(store.dir, 'features.bin');
    const whole = statSync(file).size;
    appendFileSync(file, Buffer.from([1, 2, 3, 4, 5])); // half a record
    const reopened = openFeatureStore(root, 'k');
    expect(reopened.size).toBe(1);
    expect(statSync(file).size).toBe(whole);
    reopened.append([{ contentHash: hash(2), view: 0, features: Float32Array.from([3, 4]) }]);
    expect(Array.from(openFeatureStore(root, 'k').get(hash(2), 0)!)).toEqual([3, 4]);
  });
});

function runChild(cacheDir: string, paths: string[], killAfterBatches?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/extract-child.ts', cacheDir, ...paths], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let batches = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      batches = (out.match(/^batch /gm) ?? []).length;
      if (killAfterBatches !== undefined && batches >= killAfterBatches) child.kill('SIGKILL');
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code, signal) => (code === 0 || signal === 'SIGKILL' ? resolve(out) : reject(new Error(`child failed (${code}): ${err}`))));
  });
}

describe.skipIf(!SHARED_DIR)('extraction resumes after kill -9 (real backbone)', () => {
  it('a killed run loses and duplicates nothing; a rerun extracts only the rest; a third extracts nothing', async () => {
    const ds = await readDataset(sharedPath('data', 'rice-leaf'));
    const paths = ds.records.filter((_, i) => i % 150 === 0).map((r) => r.path); // 22 images across classes
    const cacheDir = mkdtempSync(join(tmpdir(), 'lensemble-kill-'));
    const first = await runChild(cacheDir, paths, 2);
    expect(first).not.toMatch(/^done/m);
    const second = await runChild(cacheDir, paths);
    const computed = Number(/computed=(\d+)/.exec(second)![1]);
    const reused = Number(/reused=(\d+)/.exec(second)![1]);
    expect(reused).toBeGreaterThanOrEqual(4);
    expect(computed + reused).toBe(paths.length);
    const third = await runChild(cacheDir, paths);
    expect(third).toMatch(/computed=0 reused=22/);
    // Exactly one record per image on disk: nothing duplicated.
    const { readdirSync } = await import('node:fs');
    const [keyDir] = readdirSync(join(cacheDir, 'features'));
    const store = openFeatureStore(cacheDir, JSON.parse((await import('node:fs')).readFileSync(join(cacheDir, 'features', keyDir, 'meta.json'), 'utf8')).key);
    expect(store.size).toBe(paths.length);
    expect(statSync(join(store.dir, 'features.bin')).size).toBe(paths.length * (36 + 4 * 512));
  }, 120_000);
});
