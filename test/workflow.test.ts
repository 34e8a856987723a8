import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-workflow-'));
const env = { LENSEMBLE_CACHE: join(work, 'cache') };

/** A small real subset of rice-leaf: every `step`-th image per class, skipping `offset`. */
function riceSubset(name: string, step: number, offset: number): string {
  const root = join(work, name);
  for (const label of readdirSync(sharedPath('data', 'rice-leaf'))) {
    mkdirSync(join(root, label), { recursive: true });
    readdirSync(sharedPath('data', 'rice-leaf', label))
      .sort()
      .filter((_, i) => i % step === offset)
      .forEach((f) => copyFileSync(sharedPath('data', 'rice-leaf', label, f), join(root, label, f)));
  }
  return root;
}

describe('command-line errors', () => {
  it('ends with a one-line reason and a non-zero exit code', async () => {
    const r = await runCli(['train', '--data', join(work, 'nope'), '--backbone', 'squeezenet1_1', '--out', join(work, 'x')], env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^lensemble: .*nope: dataset not found$/);
    const bad = await runCli(['train', '--data', work, '--out', join(work, 'x'), '--views', 'many'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--views must be an integer/);
    const noBundle = await runCli(['predict', '--model', work, 'a.jpg'], env);
    expect(noBundle.stderr).toMatch(/not a lensemble model/);
  });
});

describe.skipIf(!SHARED_DIR)('train → evaluate → predict from the command line (real images, real backbone)', () => {
  let train: string;
  let heldOut: string;
  const model = join(work, 'rice-model');
  beforeAll(() => {
    train = riceSubset('rice-train', 16, 0);
    heldOut = riceSubset('rice-held-out', 40, 7);
    writeFileSync(join(train, 'blast', 'corrupt.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70])); // truncated JPEG
  });

  it('trains a member with augmented views and TTA, skipping the corrupt file', async () => {
    const r = await runCli(['train', '--data', train, '--backbone', 'squeezenet1_1', '--size', '160', '--views', '2', '--out', model, '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.n).toBeGreaterThan(20);
    expect(out.accuracy).toBeGreaterThan(0.6);
    expect(out.members).toHaveLength(1);
    expect(out.members[0]).toMatchObject({ arch: 'squeezenet1_1', imageSize: '160', views: 2 });
    const skipped = JSON.parse(readFileSync(join(model, 'skipped.json'), 'utf8'));
    expect(skipped).toEqual([expect.objectContaining({ id: 'blast/corrupt.jpg', reason: expect.stringMatching(/corrupt or truncated/) })]);
    for (const f of ['lensemble.json', 'heads.safetensors', 'report.md', 'metrics.json', 'split.json']) expect(existsSync(join(model, f))).toBe(true);
  }, 300_000);

  it('evaluates on held-out images with --json', async () => {
    const r = await runCli(['evaluate', '--model', model, '--data', heldOut, '--json'], env);
    expect(r.code).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.n).toBeGreaterThan(60);
    expect(e.accuracy).toBeGreaterThan(0.6);
    expect(e.errorRate).toBeCloseTo(1 - e.accuracy, 10);
    expect(e.perClass).toHaveLength(4);
    expect(e.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(e.n);
  }, 300_000);

  it('predicts files and folders from any working directory', async () => {
    const blast = join(heldOut, 'blast');
    const [first] = readdirSync(blast);
    const r = await runCli(['predict', '--model', model, join(blast, first), join(heldOut, 'tungro'), '--json'], env, tmpdir());
    expect(r.code).toBe(0);
    const { predictions } = JSON.parse(r.stdout);
    expect(predictions.length).toBe(1 + readdirSync(join(heldOut, 'tungro')).length);
    for (const p of predictions) {
      expect(['bacterial_leaf_blight', 'blast', 'brown_spot', 'tungro']).toContain(p.label);
      const total = Object.values(p.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(total).toBeCloseTo(1, 4);
    }
    const tungro = predictions.slice(1);
    expect(tungro.filter((p: { label: string }) => p.label === 'tungro').length / tungro.length).toBeGreaterThan(0.7);
  }, 300_000);
});

describe.skipIf(!SHARED_DIR)('Kaggle Paddy Doctor layout end to end', () => {
  const kaggle = join(work, 'paddy');
  const model = join(work, 'paddy-model');
  beforeAll(() => {
    const src = sharedPath('data', 'paddy-doctor-mini');
    const copy = (rel: string) => {
      mkdirSync(join(kaggle, rel, '..'), { recursive: true });
      copyFileSync(join(src, rel), join(kaggle, rel));
    };
    copy('train.csv');
    for (const label of readdirSync(join(src, 'train_images'))) for (const f of readdirSync(join(src, 'train_images', label))) copy(join('train_images', label, f));
    for (const f of readdirSync(join(src, 'test_images'))) copy(join('test_images', f));
    // A sample submission in a non-sorted order, to prove the order is kept.
    writeFileSync(join(kaggle, 'sample_submission.csv'), 'image_id,label\n200003.jpg,\n200001.jpg,\n200004.jpg,\n200002.jpg,\n');
  });

  it('trains disease + variety heads (multi-target) and reports the variety error', async () => {
    const r = await runCli(['train', '--data', kaggle, '--backbone', 'squeezenet1_1', '--size', '128', '--views', '1', '--tta', 'flip', '--targets', 'variety', '--valid-pct', '0.34', '--out', model, '--json'], env);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.extraTargets).toEqual([expect.objectContaining({ name: 'variety', errorRate: expect.any(Number) })]);
    const manifest = JSON.parse(readFileSync(join(model, 'lensemble.json'), 'utf8'));
    expect(manifest.labels).toHaveLength(10);
    expect(Object.keys(manifest.extraTargets)).toEqual(['variety']);
  }, 300_000);

  it('writes submission.csv in sample_submission order with known labels', async () => {
    const out = join(work, 'submission.csv');
    const r = await runCli(['submit', '--model', model, '--data', kaggle, '--out', out], env);
    expect(r.code).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('image_id,label');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['200003.jpg', '200001.jpg', '200004.jpg', '200002.jpg']);
    const labels = JSON.parse(readFileSync(join(model, 'lensemble.json'), 'utf8')).labels;
    for (const l of lines.slice(1)) expect(labels).toContain(l.split(',')[1]);
  }, 300_000);

  it('refuses to write a partial submission when a test image is missing', async () => {
    rmSync(join(kaggle, 'test_images', '200004.jpg'));
    const out = join(work, 'partial.csv');
    const r = await runCli(['submit', '--model', model, '--data', kaggle, '--out', out], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to write a partial submission: 1 test image unreadable — .*200004\.jpg: file not found/);
    expect(existsSync(out)).toBe(false);
  }, 300_000);
});
