import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionCache } from '../src/backbone/session.js';
import { identifyImages } from '../src/dataset/identify.js';
import { createEnsemble } from '../src/ensemble/ensemble.js';
import { runExportedModel } from '../src/export/check-onnx.js';
import { ensembleToOnnx } from '../src/export/ensemble-onnx.js';
import { RESIZE_SCRIPT } from '../src/export/page-resize.js';
import { decodeImage } from '../src/images/decode.js';
import { fitToModel, resizeForModel } from '../src/images/preprocess.js';
import type { PreprocessSpec } from '../src/images/preprocess-spec.js';
import { defaultPreprocess } from '../src/images/preprocess-spec.js';
import { resample } from '../src/images/resample.js';
import { loadModel, parseMemberString, train, type Model } from '../src/index.js';
import { tracesSource } from '../src/sources/traces-source.js';
import { runCli } from './support/cli.js';
import { patternPixels } from './support/images.js';
import { heldOutRice, RICE_LABELS, riceSubset } from './support/rice.js';
import { SHARED_DIR } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-export-test-'));
const cacheDir = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Resizer = { toModel(image: { data: Uint8Array; width: number; height: number; channels: number }, spec: PreprocessSpec): { data: Uint8Array; width: number; height: number } };
const pageResizer = (): Resizer => runInNewContext(`${RESIZE_SCRIPT}; lensembleResize()`, {}) as Resizer;

describe("the exported page's resize is lensemble's", () => {
  const rgb = { data: Uint8Array.from(patternPixels(173, 119, 4)), width: 173, height: 119, channels: 3 };
  // All scale by more than ½, so lensemble decodes them unreduced (the next test covers the reduction).
  const specs: PreprocessSpec[] = [
    { ...defaultPreprocess, width: 64, height: 64, resize: 'crop', cropPct: 0.875 },
    { ...defaultPreprocess, width: 96, height: 48, resize: 'squish', interpolation: 'bicubic' },
    { ...defaultPreprocess, width: 120, height: 120, resize: 'pad', interpolation: 'lanczos3' },
    { ...defaultPreprocess, width: 200, height: 150, resize: 'crop', cropPct: 1 },
  ];

  it('gives the same bytes as the TypeScript resampler, and the WebAssembly one to ±1, for squish, crop and pad', () => {
    const page = pageResizer();
    for (const spec of specs) {
      const mine = page.toModel(rgb, spec);
      const theirs = fitToModel(rgb, spec);
      expect([mine.width, mine.height]).toEqual([spec.width, spec.height]);
      let worst = 0;
      for (let i = 0; i < mine.data.length; i++) worst = Math.max(worst, Math.abs(mine.data[i] - theirs.data[i]));
      expect(worst).toBeLessThanOrEqual(1);
    }
    // Exactly the TypeScript path (what the page was ported from), on the RGBA a canvas gives.
    const rgba = new Uint8Array(rgb.width * rgb.height * 4);
    for (let i = 0; i < rgb.width * rgb.height; i++) rgba.set([...rgb.data.subarray(i * 3, i * 3 + 3), 255], i * 4);
    const fromRgba = page.toModel({ data: rgba, width: rgb.width, height: rgb.height, channels: 4 }, specs[1]);
    expect(Buffer.from(fromRgba.data).equals(Buffer.from(resample(rgb, 96, 48, 'bicubic', undefined, { backend: 'js' }).data))).toBe(true);
  });

  it('reduces a photo at least twice the size needed before resampling, as lensemble decodes it', async () => {
    const page = pageResizer();
    const big = { data: Uint8Array.from(patternPixels(640, 480, 9)), width: 640, height: 480, channels: 3 };
    const spec = { ...defaultPreprocess, width: 96, height: 96 };
    const path = join(work, 'big.png');
    const sharp = (await import('sharp')).default;
    writeFileSync(path, await sharp(Buffer.from(big.data), { raw: { width: 640, height: 480, channels: 3 } }).png().toBuffer());
    const lensemble = await resizeForModel(readFileSync(path), path, spec);
    const mine = page.toModel(big, spec);
    let sum = 0;
    for (let i = 0; i < mine.data.length; i++) sum += Math.abs(mine.data[i] - lensemble.data[i]);
    // libvips' shrink and the page's box filter differ only in rounding and block edges.
    expect(sum / mine.data.length).toBeLessThan(1.5);
  });
});

describe.skipIf(!SHARED_DIR)('lensemble export', () => {
  let modelDir: string;
  let model: Model;
  const heldOut: string[] = [];

  beforeAll(async () => {
    modelDir = join(work, 'model');
    const data = riceSubset(join(work, 'data'), 12);
    // Two backbones at different sizes and resize rules, an MLP and an LDA head, unequal weights.
    await train({
      data,
      members: [parseMemberString('mobilenetv2_100,size=160,views=0,tta=none,head=mlp,weight=3'), parseMemberString('squeezenet1_1,size=128,resize=squish,views=0,tta=none,head=lda,weight=1')],
      weights: 'mean',
      out: modelDir,
      cacheDir,
      progress: false,
    });
    model = await loadModel(modelDir, { cacheDir, tta: false });
    mkdirSync(join(work, 'held-out'));
    for (const label of RICE_LABELS) {
      for (let k = 0; k < 4; k++) {
        const path = join(work, 'held-out', `${label}-${k}.jpg`);
        writeFileSync(path, heldOutRice(label, k));
        heldOut.push(path);
      }
    }
  }, 300_000);
  afterAll(() => model?.close());

  it("the run folder interprets the validation split: top losses (PNG grid, linked from report.md) and most-confused pairs", async () => {
    const interpretation = JSON.parse(readFileSync(join(modelDir, 'interpretation.json'), 'utf8'));
    const metrics = JSON.parse(readFileSync(join(modelDir, 'metrics.json'), 'utf8'));
    const n = metrics.valid.n;
    expect(interpretation.topLosses).toHaveLength(Math.min(12, n));
    const losses = interpretation.topLosses.map((t: { loss: number }) => t.loss);
    expect(losses).toEqual([...losses].sort((a, b) => b - a));
    for (const t of interpretation.topLosses) {
      expect(t.loss).toBeCloseTo(-Math.log(t.probabilityActual), 5);
      expect(t.predicted === t.actual).toBe(t.probability === t.probabilityActual);
    }
    // The confused pairs are the confusion matrix's off-diagonal: as many images as the validation errors.
    const errors = interpretation.mostConfused.reduce((s: number, p: { count: number }) => s + p.count, 0);
    expect(errors).toBe(Math.round(metrics.valid.errorRate * n));
    expect(interpretation.heatmapMembers).toEqual(model.ensemble.members.map((m) => m.name));
    const png = readFileSync(join(modelDir, 'top-losses.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const report = readFileSync(join(modelDir, 'report.md'), 'utf8');
    expect(report).toContain('![top losses](top-losses.png)');
    expect(report).toMatch(/Most confused pairs/);
  });

  it("gives the bundle's probabilities within 1e-4 when run by onnxruntime-node on lensemble's own pixels", async () => {
    const exported = await ensembleToOnnx(model.ensemble);
    const { metadata } = exported;
    expect(metadata.labels).toEqual(RICE_LABELS);
    expect(metadata.inputs.map((i) => [i.name, i.width, i.height, i.resize])).toEqual([
      ['pixels_160x160_crop', 160, 160, 'crop'],
      ['pixels_128x128_squish', 128, 128, 'squish'],
    ]);
    expect(metadata.members.map((m) => m.weight)).toEqual([0.75, 0.25]);

    const identified = await identifyImages(heldOut.map((path) => ({ id: path, path })));
    const reference = await model.predictProba(identified.ok, { tta: false });
    expect(reference.images).toHaveLength(heldOut.length);
    const specOf = (name: string) => model.ensemble.members.find((m) => `pixels_${m.source.network!.preprocess.width}x${m.source.network!.preprocess.height}_${m.source.network!.preprocess.resize}` === name)!.source.network!.preprocess;
    // One batch of all images per input, pixels made by lensemble's own pipeline.
    const pixels: Record<string, Uint8Array> = {};
    for (const input of metadata.inputs) {
      const spec = specOf(input.name);
      const batch = new Uint8Array(heldOut.length * spec.width * spec.height * 3);
      for (const [i, path] of reference.images.map((img) => img.record.path).entries()) batch.set((await resizeForModel(readFileSync(path), path, spec)).data, i * spec.width * spec.height * 3);
      pixels[input.name] = batch;
    }
    const probabilities = await runExportedModel(exported.bytes, metadata, pixels, heldOut.length);
    let worst = 0;
    for (let i = 0; i < reference.probabilities.data.length; i++) worst = Math.max(worst, Math.abs(probabilities[i] - reference.probabilities.data[i]));
    expect(worst).toBeLessThan(1e-4);
  }, 120_000);

  it('refuses members without an ONNX form by name, or leaves them out with --drop-unexportable and renormalises', async () => {
    const sessions = createSessionCache();
    const traces = await tracesSource.load({ kind: 'traces', traces: {}, featureNames: [], classMeans: {}, overallMean: [] } as never, { cacheDir, sessions, bundleDir: modelDir });
    const mlp = model.ensemble.members[0];
    const ensemble = createEnsemble({
      labels: model.labels,
      members: [mlp, { name: 'faces-traces', source: traces, tta: mlp.tta, head: mlp.head, extraHeads: {} }],
      weights: [0.4, 0.6],
    });
    await expect(ensembleToOnnx(ensemble)).rejects.toThrow(/member faces-traces: its em-traces N=5 features are computed in TypeScript.*--drop-unexportable/);
    const dropped = await ensembleToOnnx(ensemble, { dropUnexportable: true });
    expect(dropped.metadata.dropped.map((d) => d.name)).toEqual(['faces-traces']);
    expect(dropped.metadata.members.map((m) => [m.name, m.weight])).toEqual([[mlp.name, 1]]);
    await sessions.closeAll();
  }, 60_000);

  it('writes the static folder and the lone ONNX file from the command line', async () => {
    const site = join(work, 'site');
    const run = await runCli(['export', '--model', modelDir, '--out', site, '--cache-dir', cacheDir]);
    expect(run.code, run.stderr).toBe(0);
    for (const f of ['index.html', 'model.onnx', 'model.json', 'ort/ort.wasm.min.mjs', 'ort/ort-wasm-simd-threaded.wasm', 'ort/ort.webgpu.min.mjs', 'ort/ort-wasm-simd-threaded.asyncify.wasm']) expect(existsSync(join(site, f)), f).toBe(true);
    const html = readFileSync(join(site, 'index.html'), 'utf8');
    expect(html).toContain('"labels":["bacterial_leaf_blight","blast","brown_spot","tungro"]');
    expect(html).not.toMatch(/https?:\/\/(?!localhost)/); // nothing fetched from elsewhere
    expect(run.stderr).toMatch(/python3 -m http.server/);

    const file = join(work, 'alone', 'rice.onnx');
    const alone = await runCli(['export', '--model', modelDir, '--out', file, '--format', 'onnx', '--cache-dir', cacheDir, '-q']);
    expect(alone.code, alone.stderr).toBe(0);
    expect(readFileSync(file).equals(readFileSync(join(site, 'model.onnx')))).toBe(true);

    const notEmpty = await runCli(['export', '--model', modelDir, '--out', work, '--cache-dir', cacheDir]);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toMatch(/not empty and not a lensemble export/);
  }, 120_000);
});
