import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportModel } from '../src/export/export-model.js';
import { loadModel, parseMemberString, train, type Predictions } from '../src/index.js';
import { HAVE_CHROMIUM, launchChromium, type LaunchedBrowser } from './support/browser.js';
import { heldOutRice, RICE_LABELS, riceSubset } from './support/rice.js';
import { SHARED_DIR } from './support/shared.js';
import { serveFolder, type StaticServer } from './support/static-server.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-browser-export-'));
const cacheDir = join(work, 'cache');
const PER_CLASS = 8;

describe.skipIf(!SHARED_DIR || !HAVE_CHROMIUM)('the exported page in Chromium, from a static server', () => {
  let chromium: LaunchedBrowser;
  let site: StaticServer;
  let expected: Predictions;
  const photos: string[] = [];

  beforeAll(async () => {
    const modelDir = join(work, 'model');
    // The demo's member (MobileNetV2 at 224, centre crop, MLP head) on a small real training set.
    await train({ data: riceSubset(join(work, 'data'), 12), members: [parseMemberString('mobilenetv2_100,views=0,tta=none')], out: modelDir, cacheDir, progress: false });
    await exportModel(modelDir, join(work, 'site'), { cacheDir });
    mkdirSync(join(work, 'photos'));
    for (const label of RICE_LABELS) {
      for (let k = 0; k < PER_CLASS; k++) {
        const path = join(work, 'photos', `${label}-${k}.jpg`);
        writeFileSync(path, heldOutRice(label, k));
        photos.push(path);
      }
    }
    const model = await loadModel(modelDir, { cacheDir });
    expected = await model.predict(photos, { tta: false }); // lensemble predict --no-tta
    await model.close();
    site = await serveFolder(join(work, 'site'));
    chromium = await launchChromium();
  }, 300_000);
  afterAll(async () => {
    await chromium?.close();
    await site?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('classifies held-out rice photos in the browser with the labels of lensemble predict --no-tta', async () => {
    const page = await chromium.newPage({ width: 390, height: 844 });
    const external: string[] = [];
    page.on('request', (r) => !r.url().startsWith(site.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:') && external.push(r.url()));
    await page.goto(site.url);
    await page.waitForFunction(() => (globalThis as any).document.body.dataset.state !== 'loading', null, { timeout: 60_000 });
    expect(await page.getAttribute('body', 'data-state'), await page.textContent('#status') ?? '').toBe('ready');
    expect(await page.getAttribute('#camera', 'capture')).toBe('environment');

    await page.setInputFiles('#files', photos);
    const done = (n: number) => (globalThis as any).document.querySelectorAll('#results .card[data-state="done"], #results .card[data-state="error"]').length === n;
    await page.waitForFunction(done, photos.length, { timeout: 180_000 });
    const cards: { name: string; label: string; probabilities: Record<string, number> }[] = await page.$$eval('#results .card', (els: any[]) =>
      els.map((e) => ({ name: e.dataset.name, label: e.dataset.label, probabilities: JSON.parse(e.dataset.probabilities ?? '{}') })),
    );
    expect(cards).toHaveLength(photos.length);

    const differing: { name: string; margin: number }[] = [];
    const gaps: number[] = [];
    for (const p of expected.predictions) {
      const card = cards.find((c) => p.name.endsWith(`/${c.name}`))!;
      expect(card, p.name).toBeDefined();
      for (const l of RICE_LABELS) gaps.push(Math.abs(card.probabilities[l] - p.probabilities[l]));
      if (card.label !== p.label) {
        const sorted = Object.values(p.probabilities).sort((a, b) => b - a);
        differing.push({ name: card.name, margin: sorted[0] - sorted[1] });
      }
    }
    // The browser decodes JPEGs itself (and reduces large photos with a box filter where lensemble uses JPEG
    // shrink-on-load), so probabilities move a little; a label may flip only on a borderline photo.
    expect(differing.length, JSON.stringify(differing)).toBeLessThanOrEqual(1);
    for (const d of differing) expect(d.margin, d.name).toBeLessThan(0.1);
    gaps.sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThan(0.01);
    expect(external).toEqual([]);
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.close();
  }, 240_000);

  it('names an unreadable file on its card', async () => {
    const page = await chromium.newPage();
    await page.goto(site.url);
    await page.waitForFunction(() => (globalThis as any).document.body.dataset.state === 'ready', null, { timeout: 60_000 });
    await page.setInputFiles('#files', [{ name: 'broken.jpg', mimeType: 'image/jpeg', buffer: readFileSync(photos[0]).subarray(0, 300) }]);
    await page.waitForSelector('#results .card[data-state="error"]');
    expect(await page.getAttribute('#results .card', 'data-name')).toBe('broken.jpg');
    expect(await page.textContent('#results .card .error')).toMatch(/Not classified/);
    await page.close();
  }, 60_000);
});
