import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { boundedMemoryStores } from '../src/features/store-provider.js';
import { train } from '../src/pipeline/train.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { heldOutRice, riceSubset } from './support/rice.js';
import { SHARED_DIR } from './support/shared.js';

const row = (v: number) => Float32Array.of(v, v + 1);

describe('a bounded memory of feature rows', () => {
  it('keeps the most recently used rows across keys, and drops the oldest past its bound', () => {
    const stores = boundedMemoryStores(3);
    const a = stores({ model: 'a' });
    const b = stores({ model: 'b' });
    a.append([{ contentHash: 'x', view: 0, features: row(1) }, { contentHash: 'y', view: 0, features: row(2) }]);
    b.append([{ contentHash: 'x', view: 0, features: row(3) }]);
    expect(stores.rows).toBe(3);
    expect(Array.from(a.get('x', 0)!)).toEqual([1, 2]); // touched: now the most recent
    b.append([{ contentHash: 'z', view: 1, features: row(4) }]);
    expect(stores.rows).toBe(3);
    expect(a.has('y', 0)).toBe(false); // the least recently used went
    expect(a.has('x', 0) && b.has('x', 0) && b.has('z', 1)).toBe(true);
    expect(stores({ model: 'a' })).toBe(a);
    expect(() => a.append([{ contentHash: 'w', view: 0, features: Float32Array.of(1, 2, 3) }])).toThrow(/does not match/);
  });
});

/** Every file under a folder and its size: what the disk cache holds. */
function cacheFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, statSync(p).size);
    }
  };
  walk(dir);
  return out;
}

describe.skipIf(!SHARED_DIR)('lensemble serve keeps a bounded feature memory of its own', () => {
  const work = mkdtempSync(join(tmpdir(), 'lensemble-serve-cache-'));
  const cacheDir = join(work, 'cache');
  const model = join(work, 'model');
  let server: RunningServer;
  beforeAll(async () => {
    await train({ data: riceSubset(join(work, 'data'), 8), members: [parseMemberString('squeezenet1_1,size=96,views=0,tta=flip,head=linear')], out: model, cacheDir, progress: false });
    server = await startServer({ model, port: 0, cacheDir, cacheRows: 8 });
  }, 300_000);
  afterAll(async () => {
    await server?.close();
  });

  it('unique uploads add nothing to the shared disk cache, and a repeated one is still answered the same', async () => {
    const before = cacheFiles(join(cacheDir, 'features'));
    const answers = [];
    for (let k = 0; k < 6; k++) {
      const r = await fetch(`${server.url}/api/predict?name=leaf-${k}.jpg`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: heldOutRice('blast', k) });
      expect(r.status).toBe(200);
      answers.push(((await r.json()) as { predictions: unknown[] }).predictions[0]);
    }
    expect(cacheFiles(join(cacheDir, 'features'))).toEqual(before);
    // 6 images × (plain + flip) rows through a memory of 8: the first image's rows are gone, so it is computed again.
    const again = await fetch(`${server.url}/api/predict?name=leaf-0.jpg`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: heldOutRice('blast', 0) });
    expect(((await again.json()) as { predictions: unknown[] }).predictions[0]).toEqual(answers[0]);
  }, 120_000);
});
