import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/bundle/load-model.js';
import { identifyImages } from '../src/dataset/identify.js';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { fineTuneRecipeSchema } from '../src/finetune/recipe.js';
import { unfrozenHyperparameters } from '../src/finetune/schedule.js';
import { train } from '../src/pipeline/train.js';
import { sha256File } from '../src/util/hash.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-finetune-'));

describe("fastai's fine_tune schedule", () => {
  const recipe = fineTuneRecipeSchema.parse({ finetune: 5, lr: 2e-3, lrGroups: 2 });
  it('one cycle per layer group: lr/2 at the head, lr/2/lrMult at the first group, div 5, pct_start 0.3', () => {
    const start = unfrozenHyperparameters(recipe, 2, 0);
    expect(start.lr[1]).toBeCloseTo(1e-3 / 5, 12);
    expect(start.lr[0]).toBeCloseTo(1e-5 / 5, 14);
    expect(start.beta1).toBeCloseTo(0.95, 12);
    const peak = unfrozenHyperparameters(recipe, 2, 0.3);
    expect(peak.lr).toEqual([expect.closeTo(1e-5, 14), expect.closeTo(1e-3, 12)]);
    expect(peak.beta1).toBeCloseTo(0.85, 12);
    const end = unfrozenHyperparameters(recipe, 2, 1);
    expect(end.lr[1]).toBeCloseTo(1e-3 / 1e5, 14);
    expect(end.beta1).toBeCloseTo(0.95, 12);
    const three = unfrozenHyperparameters({ ...recipe, lrGroups: 3 }, 3, 0.3);
    expect(three.lr[1] / three.lr[0]).toBeCloseTo(10, 6);
  });
  it('rejects trainable values it cannot mean', () => {
    expect(() => parseMemberString('mobilenetv2_100,finetune=2,trainable=first:3')).toThrow(/trainable/);
    expect(parseMemberString('mobilenetv2_100,finetune=2,trainable=last:2,lr=0.004')).toMatchObject({ source: { kind: 'finetune', finetune: 2, trainable: 'last:2', lr: 0.004 }, head: { kind: 'linear' } });
    expect(parseMemberString('mobilenetv2_100', { finetune: 3 }).source).toMatchObject({ kind: 'finetune', finetune: 3 });
    expect(parseMemberString('traces', { finetune: 3 }).source.kind).toBe('traces');
  });
});

/** Two rice classes, a few photos each: enough for two fine-tuning epochs of SqueezeNet at 96². */
function riceSubset(name: string, perClass: number): string {
  const root = join(work, name);
  for (const label of ['blast', 'tungro']) {
    mkdirSync(join(root, label), { recursive: true });
    readdirSync(sharedPath('data', 'rice-leaf', label))
      .sort()
      .filter((_, i) => i % 40 === 0)
      .slice(0, perClass)
      .forEach((f) => copyFileSync(sharedPath('data', 'rice-leaf', label, f), join(root, label, f)));
  }
  return root;
}

describe.skipIf(!SHARED_DIR)('a fine-tuned member (real SqueezeNet, real photos)', () => {
  let data: string;
  const cacheDir = join(work, 'cache');
  beforeAll(() => {
    data = riceSubset('rice', 24);
  });

  for (const trainable of ['all', 'last:2']) {
    it(`trainable=${trainable}: trains, keeps the fine-tuned ONNX in the bundle, predicts with it, and a rerun reuses it`, async () => {
      const out = join(work, `model-${trainable.replace(':', '')}`);
      // 48 photos, ten steps: the default lr 0.01 (right for the whole rice set, BENCHMARKS.md) is too high here.
      const member = `squeezenet1_1,size=96,finetune=2,batchSize=8,lr=0.002,trainable=${trainable},tta=flip`;
      const lines: string[] = [];
      const result = await train({ data, out, cacheDir, members: [parseMemberString(member)], progress: false, log: (l) => lines.push(l) });
      expect(lines.filter((l) => /fine-tune epoch \d\/2: train loss [\d.]+, valid loss [\d.]+, accuracy [\d.]+ \([\d.]+ img\/s, peak [\d.]+ GB\)/.test(l))).toHaveLength(2);
      expect(result.rows[0]).toMatchObject({ arch: 'squeezenet1_1 fine-tuned', head: 'linear', epochs: expect.stringMatching(/^[12]\/2$/) });
      expect(result.evaluation.accuracy).toBeGreaterThan(0.7); // blast vs tungro; measured 0.9+

      const manifest = JSON.parse(readFileSync(join(out, 'lensemble.json'), 'utf8'));
      const source = manifest.members[0].source;
      expect(source).toMatchObject({ kind: 'finetune', recipe: { finetune: 2, trainable }, history: [{ epoch: 1 }, { epoch: 2 }] });
      expect(await sha256File(join(out, source.finetuned.file))).toBe(source.finetuned.sha256);
      expect(source.finetuned.sha256).not.toBe(source.backbone.sha256);

      const model = await loadModel(out, { cacheDir: join(work, `fresh-cache-${trainable.replace(':', '')}`) });
      // The kept epoch's validation loss is fastai's valid_loss: the training loss (label-smoothed CE, ε 0.1) of the
      // saved model on the plain validation images.
      const split = JSON.parse(readFileSync(join(out, 'split.json'), 'utf8')) as { valid: string[] };
      const { ok: validImages } = await identifyImages(split.valid.map((id) => ({ id, path: join(data, id), label: id.split('/')[0] })));
      const proba = await model.predictProba(validImages, { tta: false });
      const smoothed = proba.images.map((image, i) => {
        const p = proba.probabilitiesPlain.data.subarray(i * model.labels.length, (i + 1) * model.labels.length);
        const nll = Array.from(p, (q) => -Math.log(q));
        return 0.9 * nll[model.labels.indexOf(image.record.label!)] + (0.1 / nll.length) * nll.reduce((a, b) => a + b, 0);
      });
      const kept = source.history[source.bestEpoch - 1];
      expect(proba.images).toHaveLength(split.valid.length);
      expect(kept.validLoss).toBeCloseTo(smoothed.reduce((a, b) => a + b, 0) / smoothed.length, 3);
      expect(source.history.every((e: { validLoss: number }) => e.validLoss >= kept.validLoss)).toBe(true);

      const images = readdirSync(join(data, 'tungro')).slice(0, 4).map((f) => join(data, 'tungro', f));
      const { predictions } = await model.predict(images);
      expect(predictions).toHaveLength(4);
      const explained = await model.explain(images.slice(0, 1));
      expect(explained.heatmaps.members.map((m) => m.name)).toEqual([manifest.members[0].name]); // its feature map is the fine-tuned one's
      expect(explained.heatmaps.heatmaps[0]).not.toBeNull();
      await model.close();

      const again: string[] = [];
      const rerun = await train({ data, out, force: true, cacheDir, members: [parseMemberString(member)], progress: false, log: (l) => again.push(l) });
      expect(again.some((l) => /fine-tuned before with the same images and settings — reusing/.test(l))).toBe(true);
      expect(rerun.evaluation.accuracy).toBe(result.evaluation.accuracy);
    }, 600_000);
  }
});

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** `lensemble train` in a child process; resolves with its stderr, killing it with SIGKILL once `killWhen` matches. */
function trainInChild(args: string[], cacheDir: string, killWhen?: RegExp, env: Record<string, string> = {}): Promise<{ stderr: string; killed: boolean }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, resolve('test/support/cli-entry.ts'), 'train', ...args], {
      env: { ...process.env, LENSEMBLE_QUIET: '1', LENSEMBLE_CACHE: cacheDir, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (killWhen && !killed && killWhen.test(stderr)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', fail);
    child.on('exit', () => done({ stderr, killed }));
  });
}

describe.skipIf(!SHARED_DIR)('fine-tuning survives kill -9', () => {
  it('a killed run resumes after its last finished epoch and ends where an uninterrupted run ends; render threads train alike', async () => {
    const data = riceSubset('rice-kill', 16);
    const member = 'squeezenet1_1,size=64,finetune=3,batchSize=8';
    const killedCache = join(work, 'cache-killed');
    const first = await trainInChild(['--data', data, '--member', member, '--out', join(work, 'killed')], killedCache, /fine-tune epoch 1\/3: train loss/);
    expect(first.killed).toBe(true);
    const [workDir] = readdirSync(join(killedCache, 'finetune'));
    expect(existsSync(join(killedCache, 'finetune', workDir, 'checkpoint.bin'))).toBe(true);
    const resumed = await trainInChild(['--data', data, '--member', member, '--out', join(work, 'killed')], killedCache);
    expect(resumed.stderr).toMatch(/resuming fine-tuning after epoch 1 of 3/);
    expect(resumed.stderr).not.toMatch(/epoch 1\/3: train loss/);
    expect(resumed.stderr).toMatch(/epoch 3\/3: train loss/);

    const cleanCache = join(work, 'cache-clean');
    await trainInChild(['--data', data, '--member', member, '--out', join(work, 'clean')], cleanCache, undefined, { LENSEMBLE_RENDER_THREADS: '0' });
    const result = (cache: string) => JSON.parse(readFileSync(join(cache, 'finetune', workDir, 'result.json'), 'utf8'));
    const [a, b] = [result(killedCache), result(cleanCache)];
    expect(a.history.map((e: { trainLoss: number }) => e.trainLoss)).toEqual(b.history.map((e: { trainLoss: number }) => e.trainLoss));
    expect(a.head.weight).toEqual(b.head.weight);

    // Batches rendered on render threads (ahead of each step) train exactly as batches rendered on the main thread.
    const threadedCache = join(work, 'cache-threaded');
    await trainInChild(['--data', data, '--member', member, '--out', join(work, 'threaded')], threadedCache, undefined, { LENSEMBLE_RENDER_THREADS: '2' });
    const c = result(threadedCache);
    expect(c.history.map((e: { trainLoss: number; validLoss: number }) => [e.trainLoss, e.validLoss])).toEqual(b.history.map((e: { trainLoss: number; validLoss: number }) => [e.trainLoss, e.validLoss]));
    expect(c.head.weight).toEqual(b.head.weight);
  }, 600_000);
});
