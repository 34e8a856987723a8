import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDataConfig } from '../src/backbone/data-config.js';
import { resolveBackbone } from '../src/backbone/resolve.js';
import { openBackbone, type BackboneSession } from '../src/backbone/session.js';
import { sha256File } from '../src/util/hash.js';
import { augmentedViews } from '../src/features/augmented-views.js';
import { extractFeatures, type ExtractItem } from '../src/features/extract.js';
import { recipeFromKey } from '../src/features/recipes.js';
import { createRenderPool, type RenderPool } from '../src/features/render-pool.js';
import { plainViews } from '../src/features/view-recipe.js';
import { fastaiDefaults } from '../src/images/augment-spec.js';
import { defaultPreprocess } from '../src/images/preprocess-spec.js';
import { patternImage } from './support/images.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

describe('recipes rebuilt from their keys (what a render thread does)', () => {
  it('rebuilds the built-in recipes and nothing else', () => {
    const augment = augmentedViews(fastaiDefaults, 7);
    expect(recipeFromKey(plainViews.key)).toBe(plainViews);
    expect(recipeFromKey(augment.key)?.key).toEqual(augment.key);
    expect(recipeFromKey({ kind: 'cached' })).toBeUndefined();
    expect(recipeFromKey({ kind: 'augment', seed: 1 })).toBeUndefined();
  });

  it('the plain view rendered beside augmented ones (one decode) equals the plain recipe’s', async () => {
    const preprocess = { ...defaultPreprocess, width: 64, height: 64 };
    const recipe = augmentedViews(fastaiDefaults, 5);
    for (const [w, h] of [[100, 80], [600, 400]]) {
      const bytes = await patternImage(w, h, 9).jpeg().toBuffer();
      const [plainView] = await recipe.renderViews!(bytes, 'x.jpg', 'h', [0, 1], preprocess);
      const alone = await plainViews.render(bytes, 'x.jpg', 'h', 0, preprocess);
      expect(Buffer.from(plainView.data).equals(Buffer.from(alone.data))).toBe(true);
    }
  });
});

describe.skipIf(!SHARED_DIR)('extraction on render threads', () => {
  let session: BackboneSession;
  let pool: RenderPool;
  const items: ExtractItem[] = [];
  beforeAll(async () => {
    session = await openBackbone(await resolveBackbone(sharedPath('models', 'squeezenet1.1', 'model.onnx')));
    pool = createRenderPool(2);
    const dir = sharedPath('data', 'rice-leaf', 'brown_spot');
    for (const name of readdirSync(dir).slice(0, 9)) items.push({ id: name, path: join(dir, name), contentHash: await sha256File(join(dir, name)) });
    const broken = join(mkdtempSync(join(tmpdir(), 'lensemble-broken-')), 'broken.jpg');
    writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
    items.push({ id: 'broken', path: broken, contentHash: 'f'.repeat(64) });
  });
  afterAll(async () => {
    await pool.close();
    await session.close();
  });

  it('gives the same features and the same skipped-file reasons as decoding on this thread', async () => {
    const preprocess = resolveDataConfig(session.spec);
    const recipe = augmentedViews(fastaiDefaults, 3);
    const run = (renderPool: RenderPool) =>
      extractFeatures({ session, preprocess, items, recipe, views: [0, 1, 2], cacheRoot: mkdtempSync(join(tmpdir(), 'lensemble-x-')), batchSize: 8, renderPool, progress: false });
    const [threaded, here] = [await run(pool), await run(createRenderPool(0))];
    expect(threaded.computed).toBe(27);
    expect(here.computed).toBe(27);
    expect(threaded.failures).toEqual(here.failures);
    expect(threaded.failures).toHaveLength(1);
    expect(threaded.failures[0]).toMatchObject({ id: 'broken' });
    for (const item of items.slice(0, 9))
      for (const view of [0, 1, 2]) {
        const a = threaded.store.get(item.contentHash, view)!;
        const b = here.store.get(item.contentHash, view)!;
        for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
      }
  });
});
