import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { classSeparation, positiveClass, topFeatures } from '../src/forensics/class-separation.js';
import { createHead } from '../src/heads/registry.js';
import { train } from '../src/pipeline/train.js';
import { createRng } from '../src/util/rng.js';
import { zeros } from '../src/util/matrix.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

/** Two classes whose traces differ only at "G k(1,0)" (by 3 std) and, less, at "R sigma" (by 1 std). */
function syntheticTraces(n: number) {
  const names = ['R k(-1,0)', 'R k(1,0)', 'G k(-1,0)', 'G k(1,0)', 'R sigma', 'R iterations'];
  const rng = createRng(3);
  const X = zeros(n, names.length);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let j = 0; j < names.length; j++) X.data[i * names.length + j] = rng.normal() * (j === 5 ? 10 : 0.1) + (j === 5 ? 20 : 0);
    if (y[i] === 0) {
      X.data[i * names.length + 3] += 0.3;
      X.data[i * names.length + 4] += 0.1;
    }
  }
  return { names, X, y, labels: ['fake', 'real'] };
}

describe('class separation of trace features', () => {
  const { names, X, y, labels } = syntheticTraces(400);

  it('points toward the class that names generated images', () => {
    expect(positiveClass(['fake', 'real'])).toBe(0);
    expect(positiveClass(['camera', 'gan'])).toBe(1);
    expect(positiveClass(['Real', 'StyleGAN2-fakes'])).toBe(1);
    expect(positiveClass(['cat', 'dog'])).toBe(1);
  });

  it('ranks the separating position first by forest importance, and by the LDA direction for other heads', () => {
    const forest = createHead('random-forest', 2, { seed: 1, params: { nEstimators: 30 } });
    forest.fit(X, y);
    const byForest = classSeparation(names, X, y, labels, forest);
    expect(byForest.hasImportance).toBe(true);
    expect(byForest.ldaSource).toBe('fitted');
    expect(topFeatures(byForest, 2).map((f) => f.feature)).toEqual(['G k(1,0)', 'R sigma']);
    const g = byForest.features[3];
    expect(g.means[0]).toBeCloseTo(0.3, 1);
    expect(g.stds[1]).toBeCloseTo(0.1, 1);
    expect(g.effectSize).toBeGreaterThan(2.5);
    expect(g.ldaWeight).toBeGreaterThan(1);

    const knn = createHead('knn', 2, { params: {} });
    knn.fit(X, y);
    const byLda = classSeparation(names, X, y, labels, knn);
    expect(byLda.hasImportance).toBe(false);
    expect(topFeatures(byLda, 1)[0].feature).toBe('G k(1,0)');
    // standardised: the iteration count's large scale does not make its weight large
    expect(Math.abs(byLda.features[5].ldaWeight)).toBeLessThan(0.5);

    const lda = createHead('lda', 2, { params: {} });
    lda.fit(X, y);
    expect(classSeparation(names, X, y, labels, lda).ldaSource).toBe('head');
  });

  it('names the problem when a class has too few rows', () => {
    const forest = createHead('random-forest', 2, { params: { nEstimators: 5 } });
    forest.fit(X, y);
    expect(() => classSeparation(names, X, Int32Array.from(y, () => 0), labels, forest)).toThrow(/at least 2 training images.*real 0/);
  });
});

describe.skipIf(!SHARED_DIR)('the traces page of the run report', () => {
  const work = mkdtempSync(join(tmpdir(), 'lensemble-traces-page-'));
  const data = join(work, 'faces');
  for (const label of ['fake', 'real']) {
    mkdirSync(join(data, label), { recursive: true });
    readdirSync(sharedPath('data', 'fake-faces', label))
      .sort()
      .slice(0, 24)
      .forEach((f) => copyFileSync(sharedPath('data', 'fake-faces', label, f), join(data, label, f)));
  }

  it('exists, is linked from report.md, names the top positions and its pictures render', async () => {
    const out = join(work, 'run');
    await train({ data, members: [parseMemberString('traces,kernelSize=3,head=random-forest,nEstimators=50')], out, cacheDir: join(work, 'cache'), progress: false });
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\[traces-n3-random-forest: what the traces detector relies on[^\]]*\]\(traces\.md\)/);
    const page = readFileSync(join(out, 'traces.md'), 'utf8');
    expect(page).toContain('N = 3');
    expect(page).toMatch(/\*\*The detector leans most on\*\* `[RGB] (k\(-?\d,-?\d\)|sigma|iterations)`/);
    // the table lists 8 ranked features, each a feature the member has
    const ranked = [...page.matchAll(/^\| (\d) \| `([^`]+)` \|/gm)].map((m) => m[2]);
    expect(ranked).toHaveLength(8);
    for (const f of ranked) expect(f).toMatch(/^[RGB] (k\(-?1|0,-?1|0\)|k\(-?\d,-?\d\)|sigma|iterations)$/);
    expect(page).toContain(`\`${ranked[0]}\``);
    expect(page).toContain('forest importance');
    for (const plot of ['kernels', 'spread', 'separation']) {
      expect(page).toContain(`(traces-${plot}.png)`);
      const png = join(out, `traces-${plot}.png`);
      expect(existsSync(png)).toBe(true);
      const { width, height } = await sharp(png).metadata();
      expect(width).toBeGreaterThan(200);
      expect(height).toBeGreaterThan(100);
      // not blank: the heat-map cells are coloured
      const stats = await sharp(png).stats();
      expect(stats.channels[0].stdev).toBeGreaterThan(5);
    }
    const svg = readFileSync(join(out, 'traces-kernels.svg'), 'utf8');
    for (const label of ['mean of fake', 'mean of real', 'fake − real']) expect(svg).toContain(label);
    expect(readFileSync(join(out, 'traces-separation.svg'), 'utf8')).toContain('LDA weight');
  }, 300_000);
});
