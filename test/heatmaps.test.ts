import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Grid } from '../src/explain/grad-cam.js';
import { toPhotoFrame } from '../src/explain/photo-frame.js';
import { affineForm, affineLogits, logitGradient } from '../src/heads/affine-form.js';
import { defaultPreprocess } from '../src/images/preprocess-spec.js';
import { createLda, createMlpHead, loadModel, parseMemberString, train, type Model } from '../src/index.js';
import { createRng } from '../src/util/rng.js';
import { runCli } from './support/cli.js';
import { patternPixels } from './support/images.js';
import { SHARED_DIR } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-heatmap-test-'));
const cacheDir = join(work, 'cache');
afterAll(() => (process.env.KEEP_WORK ? console.log("kept", work) : rmSync(work, { recursive: true, force: true })));

const SIZE = 160;
/** The patch that is class "corner"'s only signal: a red/white checkerboard in the top-left quarter. */
const PATCH = { left: 14, top: 14, size: 44 };

async function writeImage(path: string, seed: number, patch: boolean): Promise<void> {
  const pixels = patternPixels(SIZE, SIZE, seed);
  if (patch) {
    for (let y = PATCH.top; y < PATCH.top + PATCH.size; y++) {
      for (let x = PATCH.left; x < PATCH.left + PATCH.size; x++) {
        const white = (Math.floor(x / 6) + Math.floor(y / 6)) % 2 === 0;
        pixels.set(white ? [255, 255, 255] : [220, 20, 20], (y * SIZE + x) * 3);
      }
    }
  }
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toBuffer());
}

/** Where the heat is: its peak cell, and the mean inside the patch over the mean elsewhere. */
function heatAt(grid: { width: number; height: number; values: ArrayLike<number> }) {
  let best = 0;
  for (let i = 1; i < grid.values.length; i++) if (grid.values[i] > grid.values[best]) best = i;
  const peak = { x: ((best % grid.width) + 0.5) / grid.width, y: (Math.floor(best / grid.width) + 0.5) / grid.height };
  let inside = 0, nIn = 0, outside = 0, nOut = 0;
  for (let y = 0; y < grid.height; y++) {
    for (let x = 0; x < grid.width; x++) {
      const px = ((x + 0.5) / grid.width) * SIZE;
      const py = ((y + 0.5) / grid.height) * SIZE;
      const v = grid.values[y * grid.width + x];
      if (px >= PATCH.left && px < PATCH.left + PATCH.size && py >= PATCH.top && py < PATCH.top + PATCH.size) (inside += v), nIn++;
      else (outside += v), nOut++;
    }
  }
  return { peak, contrast: inside / nIn / (outside / nOut + 1e-9) };
}

describe('head gradients', () => {
  it("the MLP's logit gradient (through ReLU and standardisation) matches finite differences; LDA's is its coefficients", () => {
    const rng = createRng(3);
    const X = { rows: 120, cols: 6, data: Float32Array.from({ length: 720 }, () => rng.normal() * 3 + 1) };
    const y = Int32Array.from({ length: 120 }, (_, i) => (X.data[i * 6] + X.data[i * 6 + 1] > 2 ? 1 : 0) + (X.data[i * 6 + 2] > 1 ? 1 : 0));
    for (const head of [createMlpHead(3, { hidden: [16], epochs: 5, lr: 0.01, seed: 1 }), createLda()]) {
      head.fit(X, y);
      const form = affineForm(head)!;
      const x = X.data.slice(6, 12);
      for (let c = 0; c < 3; c++) {
        const g = logitGradient(form, x, c);
        for (let f = 0; f < 6; f++) {
          const h = 1e-3;
          const up = x.slice(); up[f] += h;
          const down = x.slice(); down[f] -= h;
          const numeric = (affineLogits(form, up)[c] - affineLogits(form, down)[c]) / (2 * h);
          expect(g[f]).toBeCloseTo(numeric, 2);
        }
      }
      // The affine form is the head: its softmax is predictProba.
      const logits = affineLogits(form, x);
      const exp = Array.from(logits, (l) => Math.exp(l - Math.max(...logits)));
      const proba = head.predictProba({ rows: 1, cols: 6, data: x }).data;
      exp.forEach((e, c) => expect(e / exp.reduce((a, b) => a + b)).toBeCloseTo(proba[c], 5));
    }
  });

  it('a member map lands where the member saw it: squish, centre crop (outside the crop: 0) and pad', () => {
    const map: Grid = { width: 4, height: 4, values: Float32Array.from({ length: 16 }, (_, i) => (i === 0 ? 1 : 0)) };
    const out = { width: 40, height: 20 };
    for (const resize of ['squish', 'crop', 'pad'] as const) {
      const framed = toPhotoFrame(map, { ...defaultPreprocess, width: 64, height: 64, resize, cropPct: 1 }, 200, 100, out);
      let best = 0;
      for (let i = 1; i < framed.values.length; i++) if (framed.values[i] > framed.values[best]) best = i;
      const bx = best % out.width;
      const by = Math.floor(best / out.width);
      // squish and pad: the map's top-left cell is the photo's top-left; crop keeps the middle half of the width.
      if (resize === 'crop') {
        expect(bx).toBeGreaterThanOrEqual(10);
        expect(bx).toBeLessThan(14);
        expect(framed.values[0]).toBe(0);
      } else {
        expect(bx).toBeLessThan(resize === 'pad' ? 6 : 6);
      }
      expect(by).toBeLessThan(resize === 'pad' ? 10 : 6);
    }
  });
});

describe.skipIf(!SHARED_DIR)('Grad-CAM heatmaps where the evidence is known', () => {
  let model: Model;
  const probes: string[] = [];

  beforeAll(async () => {
    const data = join(work, 'data');
    for (let i = 0; i < 24; i++) {
      await writeImage(join(data, 'corner', `c${i}.png`), 1000 + i, true);
      await writeImage(join(data, 'plain', `p${i}.png`), 2000 + i, false);
    }
    for (let i = 0; i < 4; i++) {
      const path = join(work, 'probe', `probe${i}.png`);
      await writeImage(path, 5000 + i, true);
      probes.push(path);
    }
    // Two backbones, two resize rules (squish, and a centre crop that keeps the patch), a linear and an MLP head.
    await train({
      data,
      members: [parseMemberString('mobilenetv2_100,size=160,resize=squish,views=0,tta=none,head=linear'), parseMemberString('squeezenet1_1,size=192,resize=crop,views=0,tta=none,head=mlp')],
      weights: 'mean',
      out: join(work, 'model'),
      cacheDir,
      progress: false,
    });
    model = await loadModel(join(work, 'model'), { cacheDir, tta: false });
  }, 300_000);
  afterAll(() => model?.close());

  it('peaks on the corner patch, for each member alone and for the ensemble', async () => {
    const result = await model.explain(probes);
    expect(result.predictions.map((p) => p.label)).toEqual(probes.map(() => 'corner'));
    expect(result.heatmaps.members.map((m) => m.weight)).toEqual([0.5, 0.5]);
    for (const [i, p] of result.predictions.entries()) {
      expect(p.explanation.label).toBe('corner');
      const heat = heatAt(result.heatmaps.heatmaps[i]!);
      expect(heat.peak.x, p.name).toBeLessThan(0.5);
      expect(heat.peak.y, p.name).toBeLessThan(0.5);
      expect(heat.contrast, p.name).toBeGreaterThan(2);
    }
    // Each member on its own (the other weighted 0) finds the patch too.
    const images = (await import('../src/dataset/identify.js')).identifyImages;
    const identified = (await images(probes.map((path) => ({ id: path, path })))).ok;
    for (const k of [0, 1]) {
      const alone = await model.ensemble.explain(identified, { tta: false });
      const single = await (await import('../src/explain/explain-images.js')).explainPredictions(model.ensemble.members, k === 0 ? [1, 0] : [0, 1], alone.predictions);
      expect(single.members.map((m) => m.name)).toEqual([model.ensemble.members[k].name]);
      for (const grid of single.heatmaps) {
        const heat = heatAt(grid!);
        expect(heat.peak.x).toBeLessThan(0.5);
        expect(heat.peak.y).toBeLessThan(0.5);
      }
    }
  }, 120_000);

  it('lensemble predict --explain writes the photo and its heatmap beside the label, per image', async () => {
    const dir = join(work, 'explained');
    const run = await runCli(['predict', '--model', join(work, 'model'), '--cache-dir', cacheDir, '--no-tta', '--explain', dir, '--json', probes[0], probes[1]]);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.predictions).toHaveLength(2);
    for (const p of out.predictions) {
      expect(p.label).toBe('corner');
      expect(existsSync(p.explanation.file)).toBe(true);
      const meta = await sharp(readFileSync(p.explanation.file)).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBeGreaterThan(2 * 150);
      expect(p.explanation.heatmap.width * p.explanation.heatmap.height).toBe(p.explanation.heatmap.values.length);
    }
  }, 120_000);
});
