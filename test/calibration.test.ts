import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/bundle/load-model.js';
import { assess, calibrate, noveltyScore } from '../src/ensemble/calibration.js';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { train } from '../src/pipeline/train.js';
import { fromRows } from '../src/util/matrix.js';
import { heldOutRice, riceSubset } from './support/rice.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

describe('calibration from the validation split', () => {
  it('flags confidences below the 5% quantile and features past the 99% quantile of validation distances', () => {
    const probabilities = fromRows(Array.from({ length: 100 }, (_, i) => [0.5 + i / 200, 0.5 - i / 200]));
    const calibration = calibrate(probabilities, [{ name: 'm', centroids: [Float32Array.of(1, 0)], validScores: Array.from({ length: 100 }, (_, i) => i / 1000) }]);
    expect(calibration.confidence.threshold).toBeCloseTo(0.52, 2);
    expect(calibration.novelty![0].threshold).toBeCloseTo(0.098, 3);
    expect(assess(calibration, 0.9, 0.5)).toEqual({ lowConfidence: false, unfamiliar: false });
    expect(assess(calibration, 0.51, 0.5)).toMatchObject({ lowConfidence: true, unfamiliar: false, warning: expect.stringMatching(/low confidence \(51\.0% is below 52\.0%/) });
    expect(assess(calibration, 0.99, 1.5)).toMatchObject({ unfamiliar: true, warning: expect.stringMatching(/unlike the training images/) });
    expect(noveltyScore(Float32Array.of(0, 3), [Float32Array.of(1, 0), Float32Array.of(0, 1)])).toBeCloseTo(0, 6);
    expect(noveltyScore(Float32Array.of(-1, 0), [Float32Array.of(1, 0)])).toBeCloseTo(2, 6);
  });
});

describe.skipIf(!SHARED_DIR)('a rice model shown a face and a red square', () => {
  const work = mkdtempSync(join(tmpdir(), 'lensemble-calibration-'));
  const cacheDir = join(work, 'cache');
  const out = join(work, 'model');
  beforeAll(async () => {
    await train({ data: riceSubset(join(work, 'data'), 30), members: [parseMemberString('squeezenet1_1,size=128,views=1,tta=flip,head=linear')], out, cacheDir, progress: false });
  }, 300_000);

  it('warns that they are unlike the training images, and leaves rice photos alone', async () => {
    const odd = join(work, 'odd');
    mkdirSync(odd, { recursive: true });
    await sharp({ create: { width: 300, height: 300, channels: 3, background: { r: 230, g: 20, b: 20 } } }).png().toFile(join(odd, 'red.png'));
    const faces = readdirSync(sharedPath('data', 'fake-faces', 'real')).sort().slice(0, 3).map((f) => sharedPath('data', 'fake-faces', 'real', f));
    const rice = join(work, 'rice');
    mkdirSync(rice, { recursive: true });
    const leaves = ['blast', 'tungro', 'brown_spot', 'bacterial_leaf_blight'].flatMap((label) => [0, 1, 2].map((k) => ({ label, k })));
    for (const { label, k } of leaves) await sharp(heldOutRice(label, k)).toFile(join(rice, `${label}-${k}.png`));

    const model = await loadModel(out, { cacheDir });
    const strange = await model.predict([join(odd, 'red.png'), ...faces]);
    const leavesPredicted = await model.predict([rice]);
    await model.close();
    expect(strange.predictions.map((p) => p.unfamiliar)).toEqual([true, true, true, true]);
    expect(strange.predictions[0].warning).toMatch(/^check this one: unlike the training images/);
    const flagged = leavesPredicted.predictions.filter((p) => p.unfamiliar).length;
    expect(flagged).toBeLessThanOrEqual(2); // held-out rice photos: measured 0 of 12
  }, 120_000);
});
