import { describe, expect, it } from 'vitest';
import type { Classifier, SerializedClassifier } from '../src/heads/classifier.js';
import { createKnn, fromJSON as knnFromJSON } from '../src/heads/knn.js';
import { createLda, fromJSON as ldaFromJSON } from '../src/heads/lda.js';
import { createLibsvm } from '../src/heads/libsvm-runtime.js';
import { createRandomForest, fromJSON as forestFromJSON } from '../src/heads/random-forest.js';
import { createSvm, fromJSON as svmFromJSON } from '../src/heads/svm.js';
import { parseLibsvmModel, svmProbabilities } from '../src/heads/svm-model.js';
import { fromRows, takeRows, type Matrix } from '../src/util/matrix.js';
import { createRng } from '../src/util/rng.js';

interface Dataset {
  X: Matrix;
  y: Int32Array;
}

/** Three Gaussian blobs in d dimensions, centres 4 apart on the first two axes. */
function blobs(seed: number, perClass: number, d = 4): Dataset {
  const rng = createRng(seed);
  const centres = [
    [0, 0],
    [4, 0],
    [0, 4],
  ];
  const rows: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < perClass * 3; i++) {
    const c = i % 3;
    rows.push(Array.from({ length: d }, (_, f) => (centres[c][f] ?? 0) + rng.normal()));
    y.push(c);
  }
  return { X: fromRows(rows), y: Int32Array.from(y) };
}

/** Points in [−1, 1]², labelled by the sign of x·y: no line separates the classes. */
function xor(seed: number, n: number): Dataset {
  const rng = createRng(seed);
  const rows: number[][] = [];
  const y: number[] = [];
  while (rows.length < n) {
    const a = rng.uniform(-1, 1);
    const b = rng.uniform(-1, 1);
    if (Math.abs(a) < 0.1 || Math.abs(b) < 0.1) continue; // a margin, so flexible models can be near perfect
    rows.push([a, b]);
    y.push(a * b > 0 ? 1 : 0);
  }
  return { X: fromRows(rows), y: Int32Array.from(y) };
}

function split(data: Dataset, trainFraction: number): { train: Dataset; test: Dataset } {
  const cut = Math.round(data.X.rows * trainFraction);
  const idx = (from: number, to: number) => Int32Array.from({ length: to - from }, (_, i) => from + i);
  const part = (rows: Int32Array): Dataset => ({ X: takeRows(data.X, rows), y: Int32Array.from(rows, (i) => data.y[i]) });
  return { train: part(idx(0, cut)), test: part(idx(cut, data.X.rows)) };
}

function accuracy(predicted: Int32Array, y: Int32Array): number {
  let correct = 0;
  predicted.forEach((p, i) => {
    if (p === y[i]) correct++;
  });
  return correct / y.length;
}

/** Through a JSON string and back, tensors as base64 float32 bytes (as a bundle would carry them). */
function jsonRoundTrip(s: SerializedClassifier): SerializedClassifier {
  const text = JSON.stringify({
    ...s,
    tensors: Object.fromEntries(
      Object.entries(s.tensors).map(([name, t]) => [name, { shape: t.shape, base64: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64') }]),
    ),
  });
  const parsed = JSON.parse(text) as { kind: string; config: Record<string, unknown>; tensors: Record<string, { shape: number[]; base64: string }> };
  return {
    kind: parsed.kind,
    config: parsed.config,
    tensors: Object.fromEntries(
      Object.entries(parsed.tensors).map(([name, t]) => {
        const bytes = Buffer.from(t.base64, 'base64');
        return [name, { shape: t.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) }];
      }),
    ),
  };
}

interface Candidate {
  name: string;
  make: (seed: number) => Classifier;
  restore: (s: SerializedClassifier) => Classifier;
  linear: boolean;
}

const candidates: Candidate[] = [
  { name: 'random forest', make: (seed) => createRandomForest({ nEstimators: 50, seed }), restore: forestFromJSON, linear: false },
  { name: 'RBF SVM', make: (seed) => createSvm({ seed }), restore: svmFromJSON, linear: false },
  { name: 'linear SVM', make: (seed) => createSvm({ kernel: 'linear', seed }), restore: svmFromJSON, linear: true },
  { name: 'kNN uniform', make: () => createKnn({ k: 5 }), restore: knnFromJSON, linear: false },
  { name: 'kNN distance', make: () => createKnn({ k: 7, weights: 'distance' }), restore: knnFromJSON, linear: false },
  { name: 'LDA', make: () => createLda(), restore: ldaFromJSON, linear: true },
];

const blobData = split(blobs(11, 80), 0.6);
const xorData = split(xor(12, 400), 0.7);

describe.each(candidates)('$name', ({ make, restore, linear }) => {
  it('separates three Gaussian blobs', () => {
    const clf = make(1);
    const report = clf.fit(blobData.train.X, blobData.train.y);
    expect(report.seconds).toBeGreaterThanOrEqual(0);
    expect(clf.nClasses).toBe(3);
    expect(accuracy(clf.predict(blobData.test.X), blobData.test.y)).toBeGreaterThanOrEqual(0.93);
  });

  it(linear ? 'cannot learn XOR' : 'learns XOR', () => {
    const clf = make(2);
    clf.fit(xorData.train.X, xorData.train.y);
    const acc = accuracy(clf.predict(xorData.test.X), xorData.test.y);
    if (linear) expect(acc).toBeLessThan(0.7);
    else expect(acc).toBeGreaterThanOrEqual(0.9);
  });

  it('returns probability rows that sum to 1, and predicts their argmax', () => {
    const clf = make(3);
    clf.fit(blobData.train.X, blobData.train.y);
    const proba = clf.predictProba(blobData.test.X);
    expect(proba.rows).toBe(blobData.test.X.rows);
    expect(proba.cols).toBe(3);
    const predicted = clf.predict(blobData.test.X);
    for (let i = 0; i < proba.rows; i++) {
      const row = Array.from(proba.data.subarray(i * 3, i * 3 + 3));
      row.forEach((p) => expect(p).toBeGreaterThanOrEqual(0));
      expect(row.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
      expect(row[predicted[i]]).toBe(Math.max(...row));
    }
  });

  it('restores from JSON with identical probabilities', () => {
    const clf = make(4);
    clf.fit(blobData.train.X, blobData.train.y);
    const serialized = clf.toJSON();
    expect(JSON.parse(JSON.stringify(serialized.config))).toEqual(serialized.config);
    for (const t of Object.values(serialized.tensors)) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    const restored = restore(jsonRoundTrip(serialized));
    expect(restored.kind).toBe(clf.kind);
    expect(restored.nClasses).toBe(3);
    expect(restored.predictProba(blobData.test.X).data).toEqual(clf.predictProba(blobData.test.X).data);
    expect(restored.predict(blobData.test.X)).toEqual(clf.predict(blobData.test.X));
  });

  it('is reproducible: two fits with the same seed agree exactly', () => {
    const a = make(5);
    const b = make(5);
    a.fit(xorData.train.X, xorData.train.y);
    b.fit(xorData.train.X, xorData.train.y);
    expect(b.predictProba(xorData.test.X).data).toEqual(a.predictProba(xorData.test.X).data);
  });

  it('rejects predicting before fit, and the wrong number of features', () => {
    const clf = make(6);
    expect(() => clf.predictProba(blobData.test.X)).toThrow(/before fit/);
    clf.fit(blobData.train.X, blobData.train.y);
    expect(() => clf.predict(xorData.test.X)).toThrow(/features/);
  });

  it('rejects non-finite features', () => {
    const X = { ...blobData.train.X, data: blobData.train.X.data.slice() };
    X.data[7] = NaN;
    expect(() => make(7).fit(X, blobData.train.y)).toThrow(/finite/);
  });
});

describe('random forest', () => {
  it('depends on its seed', () => {
    const a = createRandomForest({ nEstimators: 20, seed: 1 });
    const b = createRandomForest({ nEstimators: 20, seed: 2 });
    a.fit(xorData.train.X, xorData.train.y);
    b.fit(xorData.train.X, xorData.train.y);
    expect(b.predictProba(xorData.test.X).data).not.toEqual(a.predictProba(xorData.test.X).data);
  });

  it('puts its feature importance on the informative features', () => {
    // Blob features 0 and 1 carry the class; 2..9 are noise.
    const { X, y } = blobs(21, 100, 10);
    const rf = createRandomForest({ nEstimators: 60, seed: 3 });
    rf.fit(X, y);
    const importances = rf.featureImportances();
    expect(importances.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    expect(importances[0] + importances[1]).toBeGreaterThan(0.6);
    for (let f = 2; f < 10; f++) expect(importances[f]).toBeLessThan(Math.min(importances[0], importances[1]) / 3);
    expect(forestFromJSON(jsonRoundTrip(rf.toJSON())).featureImportances()).toEqual(importances);
  });

  it('chooses the root split that exhaustive Gini search finds', () => {
    const { X, y } = blobs(31, 30, 3);
    const rf = createRandomForest({ nEstimators: 1, bootstrap: false, maxFeatures: 'all', maxDepth: 1 });
    rf.fit(X, y);
    const { feature, threshold } = rf.toJSON().tensors;

    const gini = (rows: number[]) => {
      const counts = [0, 0, 0];
      rows.forEach((i) => counts[y[i]]++);
      return 1 - counts.reduce((s, c) => s + (c / rows.length) ** 2, 0);
    };
    let best = { score: Infinity, feature: -1, threshold: 0 };
    for (let f = 0; f < X.cols; f++) {
      const values = [...new Set(Array.from({ length: X.rows }, (_, i) => X.data[i * X.cols + f]))].sort((a, b) => a - b);
      for (let v = 0; v + 1 < values.length; v++) {
        const t = (values[v] + values[v + 1]) / 2;
        const left: number[] = [];
        const right: number[] = [];
        for (let i = 0; i < X.rows; i++) (X.data[i * X.cols + f] <= t ? left : right).push(i);
        const score = left.length * gini(left) + right.length * gini(right);
        if (score < best.score - 1e-9) best = { score, feature: f, threshold: t };
      }
    }
    expect(feature.data[0]).toBe(best.feature);
    expect(threshold.data[0]).toBeCloseTo(best.threshold, 5);
  });

  it('honours maxDepth and minSamplesLeaf', () => {
    const { X, y } = blobs(41, 50);
    const stump = createRandomForest({ nEstimators: 5, maxDepth: 1, seed: 1 });
    expect(stump.fit(X, y).maxDepth).toBe(1);
    const leafy = createRandomForest({ nEstimators: 1, bootstrap: false, minSamplesLeaf: 40, maxFeatures: 'all' });
    leafy.fit(X, y);
    // 150 rows with ≥ 40 per leaf: at most 3 leaves, so at most 5 nodes.
    expect(leafy.toJSON().tensors.feature.data.length).toBeLessThanOrEqual(5);
  });

  it('ignores rows with zero sample weight', () => {
    const { train, test } = blobData;
    const weight = Float32Array.from(train.y, (c) => (c === 2 ? 0 : 1));
    const rf = createRandomForest({ nEstimators: 10, seed: 1 });
    rf.fit(train.X, train.y, { sampleWeight: weight });
    const proba = rf.predictProba(test.X);
    for (let i = 0; i < proba.rows; i++) expect(proba.data[i * 3 + 2]).toBe(0);
  });
});

describe('SVM', () => {
  it('predicts what libsvm itself predicts for the same model', () => {
    const { train, test } = blobData;
    const SVM = createLibsvm();
    const svm = new SVM({
      type: SVM.SVM_TYPES.C_SVC,
      kernel: SVM.KERNEL_TYPES.RBF,
      gamma: 0.3,
      cost: 2,
      tolerance: 1e-3,
      cacheSize: 100,
      shrinking: true,
      probabilityEstimates: true,
      quiet: true,
    });
    const rowsOf = (X: Matrix) => Array.from({ length: X.rows }, (_, i) => Array.from(X.data.subarray(i * X.cols, (i + 1) * X.cols)));
    svm.train(rowsOf(train.X), Array.from(train.y));
    const text = svm.serializeModel();
    const model = parseLibsvmModel(text, train.X.cols);
    const reference = SVM.load(text);
    const kernelValues = new Float64Array(model.supportVectors.length / model.nFeatures);
    const ours = new Float64Array(3);
    for (const x of rowsOf(test.X).slice(0, 40)) {
      svmProbabilities(model, x, kernelValues, ours);
      const theirs = reference.predictOneProbability(x).estimates.map((e) => e.probability);
      theirs.forEach((p, c) => expect(ours[c]).toBeCloseTo(p, 5));
    }
    svm.free();
    reference.free();
  });

  it('gets the same model from the wasm and asm builds', () => {
    const a = createSvm({ libsvmBuild: 'wasm', seed: 1 });
    const b = createSvm({ libsvmBuild: 'asm', seed: 1 });
    a.fit(xorData.train.X, xorData.train.y);
    b.fit(xorData.train.X, xorData.train.y);
    const [fromWasm, fromAsm] = [a.toJSON(), b.toJSON()];
    expect(fromAsm.tensors).toEqual(fromWasm.tensors);
    expect({ ...fromAsm.config, options: null }).toEqual({ ...fromWasm.config, options: null });
  });

  it("uses gamma 'scale' = 1/(d·var) on standardised features", () => {
    const svm = createSvm();
    const report = svm.fit(blobData.train.X, blobData.train.y);
    expect(report.gamma).toBeCloseTo(1 / blobData.train.X.cols, 5); // standardised: var(X) = 1
  });

  it('leaves process-wide handlers alone', () => {
    const before = process.listenerCount('unhandledRejection');
    createSvm().fit(xorData.train.X, xorData.train.y);
    expect(process.listenerCount('unhandledRejection')).toBe(before);
  });

  it('refuses sample weights rather than ignoring them', () => {
    expect(() => createSvm().fit(xorData.train.X, xorData.train.y, { sampleWeight: new Float32Array(xorData.train.y.length).fill(1) })).toThrow(/sample weights/);
  });

  it('predicts the only class it was trained on', () => {
    const y = new Int32Array(xorData.train.y.length).fill(1);
    const svm = createSvm({ nClasses: 2 });
    svm.fit(xorData.train.X, y);
    expect(Array.from(svm.predict(xorData.test.X)).every((c) => c === 1)).toBe(true);
    expect(svmFromJSON(jsonRoundTrip(svm.toJSON())).predictProba(xorData.test.X).data).toEqual(svm.predictProba(xorData.test.X).data);
  });
});

describe('kNN', () => {
  it('with k = 1 reproduces its training labels', () => {
    const knn = createKnn({ k: 1 });
    knn.fit(blobData.train.X, blobData.train.y);
    expect(knn.predict(blobData.train.X)).toEqual(blobData.train.y);
  });

  it('gives vote shares as probabilities', () => {
    const X = fromRows([[0], [1], [2], [10], [11]]);
    const y = Int32Array.from([0, 0, 1, 1, 1]);
    const knn = createKnn({ k: 3, standardize: false });
    knn.fit(X, y);
    expect(Array.from(knn.predictProba(fromRows([[0.9]])).data)).toEqual([Math.fround(2 / 3), Math.fround(1 / 3)]);
    const weighted = createKnn({ k: 3, weights: 'distance', standardize: false });
    weighted.fit(X, y);
    // An exact match takes the whole vote.
    expect(Array.from(weighted.predictProba(fromRows([[2]])).data)).toEqual([0, 1]);
  });
});

describe('LDA', () => {
  it('survives a singular covariance without shrinkage', () => {
    const { X, y } = blobData.train;
    const duplicated = fromRows(Array.from({ length: X.rows }, (_, i) => [X.data[i * 4], X.data[i * 4 + 1], X.data[i * 4]]));
    const lda = createLda({ shrinkage: 0 });
    const report = lda.fit(duplicated, y);
    expect(report.jitter).toBeGreaterThan(0);
    expect(accuracy(lda.predict(duplicated), y)).toBeGreaterThan(0.9);
  });

  it('shrinks more when samples are few relative to features (Ledoit–Wolf)', () => {
    // Two classes whose shared covariance is far from a multiple of the identity (a common factor and
    // unequal scales), so the shrinkage that suits it falls towards 0 as the sample grows.
    const shrinkage = (perClass: number) => {
      const rng = createRng(51);
      const d = 30;
      const rows: number[][] = [];
      const y: number[] = [];
      for (let i = 0; i < 2 * perClass; i++) {
        const factor = rng.normal();
        rows.push(Array.from({ length: d }, (_, f) => (1 + f / 5) * (factor + 0.5 * rng.normal()) + (i % 2) * (f === 0 ? 1 : 0)));
        y.push(i % 2);
      }
      return (createLda().fit(fromRows(rows), Int32Array.from(y)).shrinkage as number[])[0];
    };
    const few = shrinkage(20);
    const many = shrinkage(2000);
    expect(few).toBeGreaterThan(0);
    expect(few).toBeLessThan(1);
    expect(many).toBeLessThan(few / 5);
  });

  it('shrinks fully when the classes really have identity covariance', () => {
    const { X, y } = blobs(52, 500, 20);
    for (const alpha of createLda().fit(X, y).shrinkage as number[]) expect(alpha).toBeGreaterThan(0.9);
  });

  it('never predicts a class absent from training', () => {
    const { train, test } = blobData;
    const keep = Int32Array.from(train.y.keys()).filter((i) => train.y[i] !== 1);
    const lda = createLda({ nClasses: 3 });
    lda.fit(takeRows(train.X, keep), Int32Array.from(keep, (i) => train.y[i]));
    const proba = ldaFromJSON(jsonRoundTrip(lda.toJSON())).predictProba(test.X);
    for (let i = 0; i < proba.rows; i++) expect(proba.data[i * 3 + 1]).toBe(0);
  });
});
