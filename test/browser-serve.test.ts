import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { HAVE_CHROMIUM, launchChromium, type LaunchedBrowser } from './support/browser.js';
import { heldOutRice, RICE_LABELS, trainSmallRiceModel } from './support/rice.js';
import { SHARED_DIR } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-browser-serve-'));
const cacheDir = join(work, 'cache');

/** Waits until every card has its answer (a label or an error) and returns what each shows. */
async function cards(page: Page, count: number) {
  const answered = (n: number) => (globalThis as any).document.querySelectorAll('#results .card[data-state="done"], #results .card[data-state="error"]').length === n;
  await page.waitForFunction(answered, count, { timeout: 60_000 });
  return page.$$eval('#results .card', (els: any[]) => els.map((e) => ({ name: e.getAttribute('data-name'), state: e.getAttribute('data-state'), label: e.getAttribute('data-label'), error: e.getAttribute('data-error'), text: e.textContent ?? '' })));
}

// Real photos of 300×300 (90 000 pixels): with a request budget of 200 000 pixels, two fit in one request.
const photo = (label: string, k: number, name = `${label}-${k}.jpg`) => ({ name, mimeType: 'image/jpeg', buffer: heldOutRice(label, k) });
const photos = [photo('blast', 0), photo('blast', 1), photo('brown_spot', 0, 'lá lúa.jpg'), photo('bacterial_leaf_blight', 0), photo('brown_spot', 1), photo('bacterial_leaf_blight', 1), photo('blast', 2)];

describe.skipIf(!SHARED_DIR || !HAVE_CHROMIUM)('the serve page in Chromium', () => {
  let server: RunningServer;
  let chromium: LaunchedBrowser;
  let modelDir: string;

  beforeAll(async () => {
    modelDir = await trainSmallRiceModel(work, cacheDir);
    server = await startServer({ model: modelDir, port: 0, cacheDir, maxPixels: 200_000, maxRequestPixels: 200_000 });
    chromium = await launchChromium();
  }, 300_000);
  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('classifies several uploads, more than one request can carry, shows errors, and keeps a non-ASCII name', async () => {
    const page = await chromium.newPage({ width: 390, height: 844 });
    const posts: string[] = [];
    page.on('request', (r) => r.url().includes('/api/predict') && posts.push(r.url()));
    await page.goto(server.url);
    await page.waitForSelector('#model p:not(.muted)');
    const broken = { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: heldOutRice('blast', 3).subarray(0, 600) };
    const notImage = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image at all') };
    await page.setInputFiles('#files', [...photos, broken, notImage]);
    const shown = await cards(page, photos.length + 2);

    // Every photo classified, as lensemble itself classifies it; the budget made the page send several requests.
    const model = await loadModel(modelDir, { cacheDir });
    const expected = await model.predict(photos.map((p, i) => {
      const path = join(work, `upload-${i}.jpg`);
      writeFileSync(path, p.buffer);
      return path;
    }));
    await model.close();
    for (const [i, p] of photos.entries()) {
      const card = shown.find((c) => c.name === p.name)!;
      expect(card, p.name).toBeDefined();
      expect(card.state, `${p.name}: ${card.error}`).toBe('done');
      expect(RICE_LABELS).toContain(card.label);
      expect(card.label).toBe(expected.predictions[i].label);
    }
    expect(posts.length).toBeGreaterThanOrEqual(Math.ceil(photos.length / 2));
    // The non-ASCII name came back as sent: its card got an answer, not "no answer for this file".
    expect(shown.find((c) => c.name === 'lá lúa.jpg')!.text).not.toMatch(/no answer/);
    // Unreadable files are shown as such, with their reason.
    for (const name of ['broken.jpg', 'notes.txt']) {
      const card = shown.find((c) => c.name === name)!;
      expect(card.state).toBe('error');
      expect(card.text).toMatch(/Not classified: .+/);
    }
    // The page fits a 390 px wide phone screen.
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.close();
  }, 120_000);

  it('shows a heatmap on a card when asked, and flips back to the photo', async () => {
    const page = await chromium.newPage();
    await page.goto(server.url);
    await page.waitForSelector('#explain-box:not([hidden])');
    await page.check('#explain');
    await page.setInputFiles('#files', [photos[0]]);
    const [card] = await cards(page, 1);
    expect(card.state).toBe('done');
    const img = page.locator('#results .card img');
    expect(await page.locator('#results .card').getAttribute('data-heatmap')).toBe('shown');
    expect(await img.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await img.evaluate((i: any) => i.complete && i.naturalWidth > 0)).toBe(true);
    await page.click('#results .card .flip');
    expect(await page.locator('#results .card').getAttribute('data-heatmap')).toBe('hidden');
    expect(await img.getAttribute('src')).toMatch(/^blob:/);
    await page.close();
  }, 60_000);
});
