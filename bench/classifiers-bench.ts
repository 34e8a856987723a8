import { pathToFileURL } from 'node:url';
import { RandomForestClassifier as PeerRandomForest } from 'ml-random-forest';
import type { Classifier } from '../src/heads/classifier.js';
import { createKnn } from '../src/heads/knn.js';
import { createLda } from '../src/heads/lda.js';
import { createRandomForest, featuresPerNode } from '../src/heads/random-forest.js';
import { createSvm } from '../src/heads/svm.js';
import type { Matrix } from '../src/util/matrix.js';
import { createRng, type Rng } from '../src/util/rng.js';

export interface ClassifiersBenchOptions {
  trainRows?: number;
  testRows?: number;
  features?: number;
  /** Trees in our forest (default 100). */
  trees?: number;
  /**
   * Trees ml-random-forest actually grows (default: as many as ours). With fewer, its fit time is
   * extrapolated linearly to our tree count, and its accuracy is that of the smaller forest.
   */
  peerTrees?: number;
  /** Skip ml-random-forest altogether. */
  skipPeer?: boolean;
  /** Time SVM, kNN and LDA too (default true). */
  others?: boolean;
  seed?: number;
  log?: (line: string) => void;
}

export interface TimedResult {
  name: string;
  /** Wall-clock seconds. */
  fitSeconds: number;
  /** CPU seconds of this process (user + system): steadier than wall time on a shared machine. */
  fitCpuSeconds: number;
  predictSeconds: number;
  accuracy: number;
}

export interface ClassifiersBenchResult {
  data: { trainRows: number; testRows: number; features: number; informative: number; redundant: number; classes: number };
  forest: TimedResult & { trees: number };
  peer?: TimedResult & { trees: number; extrapolated: boolean; extrapolatedFitSeconds: number; extrapolatedFitCpuSeconds: number };
  /** Peer fit seconds (extrapolated to our tree count) ÷ ours, wall clock and CPU. */
  speedup?: { wall: number; cpu: number };
  others: TimedResult[];
}

interface Data {
  train: { X: Matrix; y: Int32Array };
  test: { X: Matrix; y: Int32Array };
}

const CLASSES = 3;
const INFORMATIVE = 10;
const REDUNDANT = 10;

/**
 * A scikit-learn `make_classification`-like problem: each class is two Gaussian clusters on vertices of
 * a hypercube in 10 informative dimensions (mixed by a random linear map), 10 redundant features are
 * random combinations of those, the rest is noise, and 3% of labels are flipped.
 */
function makeClassification(rows: number, features: number, rng: Rng): { X: Matrix; y: Int32Array } {
  const random = (r: number, c: number) => Array.from({ length: r * c }, () => rng.uniform(-1, 1));
  const vertices = Array.from({ length: CLASSES * 2 }, () => Array.from({ length: INFORMATIVE }, () => (rng.bernoulli(0.5) ? 1 : -1)));
  const mixes = Array.from({ length: CLASSES * 2 }, () => random(INFORMATIVE, INFORMATIVE));
  const redundancy = random(INFORMATIVE, REDUNDANT);
  const X: Matrix = { rows, cols: features, data: new Float32Array(rows * features) };
  const y = new Int32Array(rows);
  const z = new Float64Array(INFORMATIVE);
  const informative = new Float64Array(INFORMATIVE);
  for (let i = 0; i < rows; i++) {
    const cluster = rng.int(CLASSES * 2);
    y[i] = rng.bernoulli(0.03) ? rng.int(CLASSES) : cluster % CLASSES;
    for (let a = 0; a < INFORMATIVE; a++) z[a] = rng.normal();
    for (let a = 0; a < INFORMATIVE; a++) {
      let v = vertices[cluster][a];
      for (let b = 0; b < INFORMATIVE; b++) v += z[b] * mixes[cluster][b * INFORMATIVE + a];
      informative[a] = v;
    }
    const row = i * features;
    for (let f = 0; f < features; f++) {
      let v: number;
      if (f < INFORMATIVE) v = informative[f];
      else if (f < INFORMATIVE + REDUNDANT) {
        v = 0;
        for (let a = 0; a < INFORMATIVE; a++) v += informative[a] * redundancy[a * REDUNDANT + (f - INFORMATIVE)];
      } else v = rng.normal();
      X.data[row + f] = v;
    }
  }
  return { X, y };
}

function makeData(trainRows: number, testRows: number, features: number, seed: number): Data {
  const { X, y } = makeClassification(trainRows + testRows, features, createRng(seed));
  const part = (from: number, to: number) => ({
    X: { rows: to - from, cols: features, data: X.data.slice(from * features, to * features) },
    y: y.slice(from, to),
  });
  return { train: part(0, trainRows), test: part(trainRows, trainRows + testRows) };
}

function accuracy(predicted: ArrayLike<number>, y: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < y.length; i++) if (predicted[i] === y[i]) correct++;
  return correct / y.length;
}

function timed(run: () => void): { wall: number; cpu: number } {
  const started = performance.now();
  const cpu = process.cpuUsage();
  run();
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

function timeClassifier(name: string, make: () => Classifier, data: Data): TimedResult {
  const clf = make();
  const fit = timed(() => clf.fit(data.train.X, data.train.y));
  let predicted: Int32Array = new Int32Array(0);
  const predict = timed(() => {
    predicted = clf.predict(data.test.X);
  });
  return { name, fitSeconds: fit.wall, fitCpuSeconds: fit.cpu, predictSeconds: predict.wall, accuracy: accuracy(predicted, data.test.y) };
}

function toRows(X: Matrix): number[][] {
  return Array.from({ length: X.rows }, (_, i) => Array.from(X.data.subarray(i * X.cols, (i + 1) * X.cols)));
}

/**
 * ml-random-forest with the closest settings it has: bootstrap rows, √d features, fully grown Gini trees
 * (minNumSamples 1, gainThreshold 0). One difference remains: it draws its √d features once per tree,
 * where scikit-learn and we draw them at every node.
 */
function timePeer(data: Data, trees: number, maxFeatures: number, seed: number): TimedResult & { trees: number } {
  const peer = new PeerRandomForest({
    nEstimators: trees,
    maxFeatures,
    replacement: false,
    useSampleBagging: true,
    noOOB: true,
    seed,
    treeOptions: { maxDepth: Infinity, minNumSamples: 1, gainThreshold: 0 },
  });
  const trainRows = toRows(data.train.X);
  const trainLabels = Array.from(data.train.y);
  const fit = timed(() => peer.train(trainRows, trainLabels));
  let predicted: number[] = [];
  const testRows = toRows(data.test.X);
  const predict = timed(() => {
    predicted = peer.predict(testRows);
  });
  return {
    name: `ml-random-forest (${trees} trees)`,
    fitSeconds: fit.wall,
    fitCpuSeconds: fit.cpu,
    predictSeconds: predict.wall,
    accuracy: accuracy(predicted, data.test.y),
    trees,
  };
}

export function runClassifiersBench(options: ClassifiersBenchOptions = {}): ClassifiersBenchResult {
  const trainRows = options.trainRows ?? 2000;
  const testRows = options.testRows ?? 500;
  const features = options.features ?? 100;
  const trees = options.trees ?? 100;
  const peerTrees = options.peerTrees ?? trees;
  const seed = options.seed ?? 1;
  const log = options.log ?? (() => {});
  const data = makeData(trainRows, testRows, features, seed);
  const result: ClassifiersBenchResult = {
    data: { trainRows, testRows, features, informative: INFORMATIVE, redundant: REDUNDANT, classes: CLASSES },
    forest: { name: 'lensemble random forest', trees, fitSeconds: 0, fitCpuSeconds: 0, predictSeconds: 0, accuracy: 0 },
    others: [],
  };
  log(`data: ${trainRows} train + ${testRows} test rows × ${features} features (${INFORMATIVE} informative, ${REDUNDANT} redundant), ${CLASSES} classes, 3% label noise`);

  // Warm the JIT on a 2-tree forest so the timing below is of steady-state code.
  createRandomForest({ nEstimators: 2, seed }).fit(data.train.X, data.train.y);
  result.forest = { ...timeClassifier('lensemble random forest', () => createRandomForest({ nEstimators: trees, seed }), data), trees };
  const f = result.forest;
  log(`random forest (ours, ${trees} trees): fit ${f.fitSeconds.toFixed(2)} s (CPU ${f.fitCpuSeconds.toFixed(2)} s), predict ${f.predictSeconds.toFixed(3)} s, accuracy ${f.accuracy.toFixed(3)}`);

  if (!options.skipPeer) {
    const peer = timePeer(data, peerTrees, featuresPerNode('sqrt', features), seed);
    const extrapolated = peerTrees !== trees;
    const scale = trees / peerTrees;
    result.peer = { ...peer, extrapolated, extrapolatedFitSeconds: peer.fitSeconds * scale, extrapolatedFitCpuSeconds: peer.fitCpuSeconds * scale };
    result.speedup = { wall: result.peer.extrapolatedFitSeconds / f.fitSeconds, cpu: result.peer.extrapolatedFitCpuSeconds / f.fitCpuSeconds };
    log(
      `ml-random-forest (${peerTrees} trees): fit ${peer.fitSeconds.toFixed(2)} s (CPU ${peer.fitCpuSeconds.toFixed(2)} s)` +
        (extrapolated ? ` → ${result.peer.extrapolatedFitSeconds.toFixed(1)} s (CPU ${result.peer.extrapolatedFitCpuSeconds.toFixed(1)} s) for ${trees} trees, extrapolated linearly` : '') +
        `; predict ${peer.predictSeconds.toFixed(3)} s, accuracy ${peer.accuracy.toFixed(3)}${extrapolated ? ` (of its ${peerTrees}-tree forest)` : ''}`,
    );
    log(`speed-up: ${result.speedup.wall.toFixed(1)}× wall, ${result.speedup.cpu.toFixed(1)}× CPU (ml-random-forest fit time ÷ ours)`);
  }

  if (options.others ?? true) {
    const others: [string, () => Classifier][] = [
      ['SVM (RBF, C=1, gamma=scale, with probabilities)', () => createSvm({ seed })],
      ['SVM (linear, C=1, with probabilities)', () => createSvm({ kernel: 'linear', seed })],
      ['kNN (k=5, uniform)', () => createKnn()],
      ['LDA (Ledoit–Wolf shrinkage)', () => createLda()],
    ];
    for (const [name, make] of others) {
      const r = timeClassifier(name, make, data);
      result.others.push(r);
      log(`${name}: fit ${r.fitSeconds.toFixed(2)} s (CPU ${r.fitCpuSeconds.toFixed(2)} s), predict ${r.predictSeconds.toFixed(3)} s, accuracy ${r.accuracy.toFixed(3)}`);
    }
  }
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const peerArg = process.argv.find((a) => a.startsWith('--peer-trees='));
  runClassifiersBench({
    peerTrees: peerArg ? Number(peerArg.split('=')[1]) : undefined,
    skipPeer: process.argv.includes('--skip-peer'),
    log: (line) => console.log(line),
  });
}
