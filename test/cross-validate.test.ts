import { describe, expect, it } from 'vitest';
import { crossValidate, stratifiedGroupKFold, stratifiedKFold, type Fold } from '../src/evaluate/cross-validate.js';
import type { Classifier } from '../src/heads/classifier.js';
import { createLda } from '../src/heads/lda.js';
import { fromRows, zeros, type Matrix } from '../src/util/matrix.js';
import { createRng } from '../src/util/rng.js';

/** Imbalanced labels: 50 / 30 / 17 rows of classes 0 / 1 / 2, interleaved. */
function labels(): Int32Array {
  const y: number[] = [];
  for (let i = 0; i < 50; i++) y.push(0);
  for (let i = 0; i < 30; i++) y.push(1);
  for (let i = 0; i < 17; i++) y.push(2);
  const rng = createRng(3);
  for (let i = y.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [y[i], y[j]] = [y[j], y[i]];
  }
  return Int32Array.from(y);
}

function expectPartition(folds: Fold[], n: number): void {
  const seen = new Int32Array(n);
  for (const { train, test } of folds) {
    expect(train.length + test.length).toBe(n);
    const inTest = new Set(test);
    for (const i of train) expect(inTest.has(i)).toBe(false);
    for (const i of test) seen[i]++;
    expect(Array.from(train)).toEqual([...train].sort((a, b) => a - b));
  }
  // Every row is tested exactly once.
  expect(Array.from(seen).every((c) => c === 1)).toBe(true);
}

function classCounts(y: Int32Array, rows: Int32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const i of rows) counts[y[i]]++;
  return counts;
}

describe('stratifiedKFold', () => {
  const y = labels();

  it('partitions the rows into k test folds', () => {
    expectPartition(stratifiedKFold(y, 5, 1), y.length);
  });

  it('keeps every class spread evenly and fold sizes within one row', () => {
    const folds = stratifiedKFold(y, 5, 1);
    const perFold = folds.map((f) => classCounts(y, f.test, 3));
    for (let c = 0; c < 3; c++) {
      const counts = perFold.map((p) => p[c]);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    const sizes = folds.map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('balances fold sizes even when every class leaves a remainder', () => {
    const small = Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]); // 7 of each
    const sizes = stratifiedKFold(small, 5, 3).map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('is determined by its seed', () => {
    expect(stratifiedKFold(y, 4, 7)).toEqual(stratifiedKFold(y, 4, 7));
    expect(stratifiedKFold(y, 4, 8)).not.toEqual(stratifiedKFold(y, 4, 7));
  });

  it('rejects impossible fold counts', () => {
    expect(() => stratifiedKFold(y, 1, 0)).toThrow(/≥ 2/);
    expect(() => stratifiedKFold(Int32Array.from([0, 1, 0]), 4, 0)).toThrow(/4 folds from 3 rows/);
  });
});

describe('stratifiedGroupKFold', () => {
  // 40 groups of 1–5 rows; each group mostly one class, as photos from one camera or one scene would be.
  const rng = createRng(9);
  const y: number[] = [];
  const groups: number[] = [];
  for (let g = 0; g < 40; g++) {
    const size = 1 + rng.int(5);
    const main = g % 3;
    for (let r = 0; r < size; r++) {
      y.push(rng.bernoulli(0.8) ? main : rng.int(3));
      groups.push(1000 + g * 7); // arbitrary, non-contiguous ids
    }
  }
  const Y = Int32Array.from(y);
  const G = Int32Array.from(groups);

  it('partitions the rows and never splits a group across folds', () => {
    const folds = stratifiedGroupKFold(Y, G, 5, 2);
    expectPartition(folds, Y.length);
    for (const { train, test } of folds) {
      const testGroups = new Set(Array.from(test, (i) => G[i]));
      for (const i of train) expect(testGroups.has(G[i])).toBe(false);
    }
  });

  it('keeps the class balance close to stratified', () => {
    const folds = stratifiedGroupKFold(Y, G, 4, 2);
    const overall = classCounts(Y, Int32Array.from(Y.keys()), 3).map((c) => c / Y.length);
    for (const f of folds) {
      const counts = classCounts(Y, f.test, 3);
      counts.forEach((c, k) => expect(Math.abs(c / f.test.length - overall[k])).toBeLessThan(0.06));
    }
  });

  it('is determined by its seed', () => {
    expect(stratifiedGroupKFold(Y, G, 5, 3)).toEqual(stratifiedGroupKFold(Y, G, 5, 3));
    expect(stratifiedGroupKFold(Y, G, 5, 4)).not.toEqual(stratifiedGroupKFold(Y, G, 5, 3));
  });

  it('refuses more folds than groups', () => {
    expect(() => stratifiedGroupKFold(Int32Array.from([0, 1, 0, 1]), Int32Array.from([1, 1, 2, 2]), 3, 0)).toThrow(/3 folds from 2 groups/);
  });
});

describe('crossValidate', () => {
  function separable(): { X: Matrix; y: Int32Array } {
    const rng = createRng(5);
    const y = labels();
    return { X: fromRows(Array.from(y, (c) => [c * 5 + rng.normal(), rng.normal()])), y };
  }

  it('fits a fresh classifier per fold and reports mean ± std of accuracy', () => {
    const { X, y } = separable();
    let made = 0;
    const result = crossValidate(
      () => {
        made++;
        return createLda();
      },
      X,
      y,
      { folds: 5, seed: 1 },
    );
    expect(made).toBe(5);
    expect(result.folds).toHaveLength(5);
    expect(result.folds.reduce((s, f) => s + f.testRows, 0)).toBe(y.length);
    const accuracies = result.folds.map((f) => f.accuracy);
    const mean = accuracies.reduce((s, a) => s + a, 0) / 5;
    expect(result.mean).toBeCloseTo(mean, 12);
    expect(result.std).toBeCloseTo(Math.sqrt(accuracies.reduce((s, a) => s + (a - mean) ** 2, 0) / 5), 12);
    expect(result.mean).toBeGreaterThan(0.95);
  });

  it('scores a constant guesser at the majority rate, and trains only on the training folds', () => {
    const { X, y } = separable();
    const trainSizes: number[] = [];
    const majority = (): Classifier => ({
      kind: 'majority',
      nClasses: 3,
      fit: (Xtrain) => {
        trainSizes.push(Xtrain.rows);
        return { seconds: 0 };
      },
      predictProba: (Xp) => zeros(Xp.rows, 3),
      predict: (Xp) => new Int32Array(Xp.rows),
      toJSON: () => ({ kind: 'majority', config: {}, tensors: {} }),
    });
    const result = crossValidate(majority, X, y, { folds: 4, seed: 2 });
    expect(result.mean).toBeCloseTo(50 / 97, 2);
    result.folds.forEach((f, i) => expect(trainSizes[i]).toBe(y.length - f.testRows));
  });

  it('uses group folds when given groups', () => {
    const { X, y } = separable();
    const groups = Int32Array.from(y.keys(), (i) => Math.floor(i / 4));
    const result = crossValidate(() => createLda(), X, y, { folds: 3, seed: 1, groups });
    expect(result.folds).toHaveLength(3);
    const expected = stratifiedGroupKFold(y, groups, 3, 1).map((f) => f.test.length);
    expect(result.folds.map((f) => f.testRows)).toEqual(expected);
  });
});
