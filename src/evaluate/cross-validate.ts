import type { Classifier } from '../heads/classifier.js';
import { LensembleError } from '../util/errors.js';
import { takeRows, type Matrix } from '../util/matrix.js';
import { createRng, shuffleInPlace } from '../util/rng.js';

export interface Fold {
  /** Sorted row indices. */
  train: Int32Array;
  test: Int32Array;
}

function checkFoldCount(k: number, units: number, what: string): void {
  if (!Number.isInteger(k) || k < 2) throw new LensembleError(`cross-validation needs an integer number of folds ≥ 2, got ${k}`);
  if (k > units) throw new LensembleError(`cannot make ${k} folds from ${units} ${what}`);
}

function foldsFromAssignment(foldOf: Int32Array, k: number): Fold[] {
  return Array.from({ length: k }, (_, fold) => {
    const test: number[] = [];
    const train: number[] = [];
    foldOf.forEach((f, i) => (f === fold ? test : train).push(i));
    return { train: Int32Array.from(train), test: Int32Array.from(test) };
  });
}

function classCount(y: Int32Array): number {
  let max = -1;
  for (const v of y) {
    if (v < 0) throw new LensembleError(`cross-validation: label ${v} is negative`);
    if (v > max) max = v;
  }
  return max + 1;
}

/**
 * Seeded stratified k-fold: each class's rows are shuffled and dealt round-robin, continuing the deal
 * across classes, so every class is spread over the folds within ±1 and fold sizes differ by at most 1.
 */
export function stratifiedKFold(y: Int32Array, k: number, seed: number): Fold[] {
  checkFoldCount(k, y.length, 'rows');
  const rng = createRng(seed);
  const byClass: number[][] = Array.from({ length: classCount(y) }, () => []);
  y.forEach((c, i) => byClass[c].push(i));
  const foldOf = new Int32Array(y.length);
  let dealt = 0;
  for (const rows of byClass) {
    shuffleInPlace(rows, rng);
    for (const i of rows) foldOf[i] = dealt++ % k;
  }
  return foldsFromAssignment(foldOf, k);
}

function populationStd(values: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i];
  mean /= values.length;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i] - mean) ** 2;
  return Math.sqrt(sq / values.length);
}

/**
 * Seeded stratified group k-fold (scikit-learn's StratifiedGroupKFold with shuffle): every group lands
 * in exactly one fold. Groups are shuffled, then taken in order of decreasing class imbalance, each going
 * to the fold that keeps the per-class spread across folds smallest (ties: the smaller fold).
 */
export function stratifiedGroupKFold(y: Int32Array, groups: Int32Array, k: number, seed: number): Fold[] {
  if (groups.length !== y.length) throw new LensembleError(`cross-validation: ${groups.length} group ids for ${y.length} rows`);
  const C = classCount(y);
  const groupIndex = new Map<number, number>();
  groups.forEach((g) => {
    if (!groupIndex.has(g)) groupIndex.set(g, groupIndex.size);
  });
  const G = groupIndex.size;
  checkFoldCount(k, G, 'groups');

  const countsPerGroup = Array.from({ length: G }, () => new Float64Array(C));
  const classTotals = new Float64Array(C);
  y.forEach((c, i) => {
    countsPerGroup[groupIndex.get(groups[i])!][c]++;
    classTotals[c]++;
  });

  const order = Array.from({ length: G }, (_, g) => g);
  shuffleInPlace(order, createRng(seed));
  const imbalance = countsPerGroup.map((counts) => populationStd(counts));
  order.sort((a, b) => imbalance[b] - imbalance[a]); // stable: shuffled order breaks ties

  const countsPerFold = Array.from({ length: k }, () => new Float64Array(C));
  const foldOfGroup = new Int32Array(G);
  const share = new Float64Array(k);
  for (const g of order) {
    let bestFold = 0;
    let bestSpread = Infinity;
    let bestSize = Infinity;
    for (let fold = 0; fold < k; fold++) {
      let spread = 0;
      let classes = 0;
      for (let c = 0; c < C; c++) {
        if (classTotals[c] === 0) continue;
        for (let f = 0; f < k; f++) share[f] = (countsPerFold[f][c] + (f === fold ? countsPerGroup[g][c] : 0)) / classTotals[c];
        spread += populationStd(share);
        classes++;
      }
      spread /= classes;
      const size = countsPerFold[fold].reduce((s, v) => s + v, 0);
      const close = Number.isFinite(bestSpread) && Math.abs(spread - bestSpread) <= 1e-8 + 1e-5 * Math.abs(bestSpread);
      if (spread < bestSpread || (close && size < bestSize)) {
        bestFold = fold;
        bestSpread = spread;
        bestSize = size;
      }
    }
    foldOfGroup[g] = bestFold;
    for (let c = 0; c < C; c++) countsPerFold[bestFold][c] += countsPerGroup[g][c];
  }

  const foldOf = Int32Array.from(groups, (g) => foldOfGroup[groupIndex.get(g)!]);
  const folds = foldsFromAssignment(foldOf, k);
  if (folds.some((f) => f.test.length === 0)) throw new LensembleError(`cross-validation: ${G} groups could not fill ${k} folds`);
  return folds;
}

export interface CrossValidateOptions {
  /** Number of folds (default 5). */
  folds?: number;
  seed?: number;
  /** Group id per row (e.g. near-duplicate clusters, source camera): a group never straddles folds. */
  groups?: Int32Array;
}

export interface FoldScore {
  fold: number;
  accuracy: number;
  trainRows: number;
  testRows: number;
  fitSeconds: number;
}

export interface CrossValidationResult {
  folds: FoldScore[];
  /** Mean of the per-fold accuracies. */
  mean: number;
  /** Population standard deviation (ddof 0, as numpy) of the per-fold accuracies. */
  std: number;
}

/** Fits a fresh classifier per fold and scores accuracy on the held-out fold. */
export function crossValidate(
  makeClassifier: () => Classifier,
  X: Matrix,
  y: Int32Array,
  options: CrossValidateOptions = {},
): CrossValidationResult {
  if (y.length !== X.rows) throw new LensembleError(`cross-validation: ${y.length} labels for ${X.rows} rows`);
  const k = options.folds ?? 5;
  const seed = options.seed ?? 0;
  const splits = options.groups ? stratifiedGroupKFold(y, options.groups, k, seed) : stratifiedKFold(y, k, seed);
  const folds = splits.map(({ train, test }, fold): FoldScore => {
    const classifier = makeClassifier();
    const report = classifier.fit(takeRows(X, train), Int32Array.from(train, (i) => y[i]));
    const predicted = classifier.predict(takeRows(X, test));
    let correct = 0;
    test.forEach((row, j) => {
      if (predicted[j] === y[row]) correct++;
    });
    return { fold, accuracy: correct / test.length, trainRows: train.length, testRows: test.length, fitSeconds: report.seconds };
  });
  const accuracies = folds.map((f) => f.accuracy);
  return { folds, mean: accuracies.reduce((s, a) => s + a, 0) / accuracies.length, std: populationStd(accuracies) };
}
