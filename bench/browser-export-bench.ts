// The exported page against lensemble itself: label agreement with `lensemble predict --no-tta` on the rice
// validation photos (never trained on), with the page's own port of lensemble's resampling and with the
// canvas's drawImage smoothing; browser inference speed (headless Debian chromium, WebAssembly, one thread).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { exportModel } from '../src/export/export-model.js';
import { loadModel } from '../src/bundle/load-model.js';
import { train } from '../src/pipeline/train.js';
import { defaultCacheDir } from '../src/util/paths.js';
import { HAVE_CHROMIUM, launchChromium } from '../test/support/browser.js';
import { serveFolder } from '../test/support/static-server.js';

export interface BrowserExportResult {
  photos: number;
  exportSeconds: number;
  modelBytes: number;
  modes: { resize: string; agree: number; differing: { name: string; margin: number }[]; medianGap: number; maxGap: number; imagesPerSecond: number }[];
}

export async function runBrowserExportBench(options: { log?: (l: string) => void; limit?: number } = {}): Promise<BrowserExportResult | undefined> {
  const log = options.log ?? console.log;
  if (!HAVE_CHROMIUM) {
    log('no chromium: skipped');
    return undefined;
  }
  const work = mkdtempSync(join(tmpdir(), 'lensemble-browser-bench-'));
  try {
    const cacheDir = defaultCacheDir();
    const modelDir = join(work, 'model');
    // The demo's model: MobileNetV2 224 crop, MLP head, 4 augmented views, fastai TTA, honest split.
    await train({ data: '../shared/data/rice-leaf', members: [parseMemberString('mobilenetv2_100')], out: modelDir, cacheDir, progress: false });
    const split = JSON.parse(readFileSync(join(modelDir, 'split.json'), 'utf8')) as { valid: string[] };
    const photos = split.valid.slice(0, options.limit ?? split.valid.length).map((id) => join('../shared/data/rice-leaf', id));
    const started = performance.now();
    await exportModel(modelDir, join(work, 'site'), { cacheDir });
    const exportSeconds = (performance.now() - started) / 1000;
    const modelBytes = statSync(join(work, 'site', 'model.onnx')).size;
    const model = await loadModel(modelDir, { cacheDir });
    const expected = await model.predict(photos, { tta: false });
    await model.close();
    log(`${photos.length} validation photos; export ${exportSeconds.toFixed(1)} s, model.onnx ${(modelBytes / 1048576).toFixed(1)} MB`);

    const site = await serveFolder(join(work, 'site'));
    const chromium = await launchChromium();
    const modes: BrowserExportResult['modes'] = [];
    try {
      for (const resize of ['lensemble', 'canvas']) {
        const page = await chromium.newPage();
        await page.goto(site.url + (resize === 'canvas' ? '?resize=canvas' : ''));
        await page.waitForFunction(() => (globalThis as any).document.body.dataset.state === 'ready', null, { timeout: 120_000 });
        const t0 = performance.now();
        await page.setInputFiles('#files', photos);
        await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll('#results .card[data-state="done"], #results .card[data-state="error"]').length === n, photos.length, { timeout: 1_200_000, polling: 500 });
        const seconds = (performance.now() - t0) / 1000;
        const cards: { name: string; label: string; probabilities: Record<string, number> }[] = await page.$$eval('#results .card', (els: any[]) =>
          els.map((e) => ({ name: e.dataset.name, label: e.dataset.label, probabilities: JSON.parse(e.dataset.probabilities ?? '{}') })),
        );
        const byName = new Map(cards.map((c) => [c.name, c]));
        let agree = 0;
        const differing: { name: string; margin: number }[] = [];
        const gaps: number[] = [];
        for (const p of expected.predictions) {
          const card = byName.get(p.name.split('/').pop()!)!;
          const g = Math.max(...Object.keys(p.probabilities).map((l) => Math.abs(card.probabilities[l] - p.probabilities[l])));
          gaps.push(g);
          if (card.label === p.label) agree++;
          else {
            const sorted = Object.values(p.probabilities).sort((a, b) => b - a);
            differing.push({ name: p.name, margin: sorted[0] - sorted[1] });
          }
        }
        gaps.sort((a, b) => a - b);
        const row = { resize, agree, differing, medianGap: gaps[Math.floor(gaps.length / 2)], maxGap: gaps[gaps.length - 1], imagesPerSecond: photos.length / seconds };
        modes.push(row);
        log(
          `resize=${resize}: ${agree}/${photos.length} labels equal to lensemble predict --no-tta (${((100 * (photos.length - agree)) / photos.length).toFixed(2)}% differ` +
            `${differing.length ? `; top-2 margins of those: ${differing.map((d) => d.margin.toFixed(3)).join(', ')}` : ''}); ` +
            `max |Δp| per photo: median ${row.medianGap.toFixed(4)}, worst ${row.maxGap.toFixed(3)}; ${row.imagesPerSecond.toFixed(1)} photos/s in the browser`,
        );
        await page.close();
      }
    } finally {
      await chromium.close();
      await site.close();
    }
    return { photos: photos.length, exportSeconds, modelBytes, modes };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await runBrowserExportBench();
