import type { Classifier, FitOptions, FitReport, SerializedClassifier } from './classifier.js';
import { checkFitInput, checkPredictInput } from './fit-input.js';
import { fitStandardizer, standardize, type Standardizer } from './standardizer.js';
import { LensembleError } from '../util/errors.js';
import { argmaxRows, zeros, type Matrix } from '../util/matrix.js';

export const KNN_KIND = 'knn';

export interface KnnOptions {
  /** Neighbours that vote (default 5; fewer if the training set is smaller). */
  k?: number;
  /** 'uniform' (default): one vote each; 'distance': votes weighted by 1/distance (exact matches take all). */
  weights?: 'uniform' | 'distance';
  /** Measure distances on standardised features (default true). */
  standardize?: boolean;
  /** Number of classes; default: largest training label + 1. */
  nClasses?: number;
}

interface ResolvedOptions {
  k: number;
  weights: 'uniform' | 'distance';
  standardize: boolean;
  nClasses: number | null;
}

interface FittedKnn {
  nClasses: number;
  /** Training rows as distances see them (standardised unless turned off). */
  train: Matrix;
  labels: Int32Array;
  /** Per-sample vote multipliers, when fit was given sample weights. */
  sampleWeight?: Float32Array;
  scaler?: Standardizer;
}

export const KNN_DEFAULTS = { k: 5, weights: 'uniform', standardize: true } as const;

function resolveOptions(options: KnnOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    k: options.k ?? KNN_DEFAULTS.k,
    weights: options.weights ?? KNN_DEFAULTS.weights,
    standardize: options.standardize ?? KNN_DEFAULTS.standardize,
    nClasses: options.nClasses ?? null,
  };
  if (!Number.isInteger(resolved.k) || resolved.k < 1) throw new LensembleError(`${KNN_KIND}: k must be an integer ≥ 1, got ${resolved.k}`);
  if (resolved.weights !== 'uniform' && resolved.weights !== 'distance') throw new LensembleError(`${KNN_KIND}: unknown weights '${resolved.weights}'`);
  return resolved;
}

/** The k nearest training rows of `query` (ties: lower index first), by squared Euclidean distance. */
function nearest(train: Matrix, query: Float32Array, k: number, bestIndex: Int32Array, bestDist: Float64Array): number {
  const d = train.cols;
  let found = 0;
  for (let i = 0; i < train.rows; i++) {
    let dist = 0;
    const base = i * d;
    for (let f = 0; f < d; f++) {
      const diff = query[f] - train.data[base + f];
      dist += diff * diff;
    }
    if (found === k && dist >= bestDist[k - 1]) continue;
    let j = found < k ? found++ : k - 1;
    while (j > 0 && bestDist[j - 1] > dist) {
      bestDist[j] = bestDist[j - 1];
      bestIndex[j] = bestIndex[j - 1];
      j--;
    }
    bestDist[j] = dist;
    bestIndex[j] = i;
  }
  return found;
}

function predictKnn(fitted: FittedKnn, opts: ResolvedOptions, X: Matrix): Matrix {
  const C = fitted.nClasses;
  const queries = fitted.scaler ? standardize(X, fitted.scaler) : X;
  const k = Math.min(opts.k, fitted.train.rows);
  const bestIndex = new Int32Array(k);
  const bestDist = new Float64Array(k);
  const votes = new Float64Array(C);
  const out = zeros(X.rows, C);
  for (let q = 0; q < X.rows; q++) {
    const found = nearest(fitted.train, queries.data.subarray(q * X.cols, (q + 1) * X.cols), k, bestIndex, bestDist);
    votes.fill(0);
    const exact = opts.weights === 'distance' && bestDist[0] === 0;
    for (let j = 0; j < found; j++) {
      let w = 1;
      if (opts.weights === 'distance') w = exact ? (bestDist[j] === 0 ? 1 : 0) : 1 / Math.sqrt(bestDist[j]);
      if (fitted.sampleWeight) w *= fitted.sampleWeight[bestIndex[j]];
      votes[fitted.labels[bestIndex[j]]] += w;
    }
    let total = 0;
    for (let c = 0; c < C; c++) total += votes[c];
    for (let c = 0; c < C; c++) out.data[q * C + c] = total > 0 ? votes[c] / total : 1 / C;
  }
  return out;
}

function serialize(opts: ResolvedOptions, fitted: FittedKnn): SerializedClassifier {
  const { train } = fitted;
  const tensors: SerializedClassifier['tensors'] = {
    train: { shape: [train.rows, train.cols], data: train.data.slice() },
    labels: { shape: [train.rows], data: Float32Array.from(fitted.labels) },
  };
  if (fitted.sampleWeight) tensors.sampleWeight = { shape: [train.rows], data: fitted.sampleWeight.slice() };
  if (fitted.scaler) {
    tensors.mean = { shape: [train.cols], data: fitted.scaler.mean.slice() };
    tensors.scale = { shape: [train.cols], data: fitted.scaler.scale.slice() };
  }
  return { kind: KNN_KIND, config: { options: { ...opts }, nClasses: fitted.nClasses }, tensors };
}

function makeKnn(opts: ResolvedOptions, restored?: FittedKnn): Classifier {
  let fitted = restored;
  const predictProba = (X: Matrix): Matrix => {
    checkPredictInput(KNN_KIND, X, fitted?.train.cols);
    return predictKnn(fitted!, opts, X);
  };
  return {
    kind: KNN_KIND,
    get nClasses() {
      return fitted?.nClasses ?? opts.nClasses ?? 0;
    },
    fit(X: Matrix, y: Int32Array, fitOptions?: FitOptions): FitReport {
      const started = performance.now();
      const sampleWeight = fitOptions?.sampleWeight;
      const nClasses = checkFitInput(KNN_KIND, X, y, opts.nClasses ?? undefined, sampleWeight);
      const scaler = opts.standardize ? fitStandardizer(X) : undefined;
      fitted = {
        nClasses,
        train: scaler ? standardize(X, scaler) : { rows: X.rows, cols: X.cols, data: X.data.slice() },
        labels: y.slice(),
        sampleWeight: sampleWeight?.slice(),
        scaler,
      };
      return { seconds: (performance.now() - started) / 1000 };
    },
    predictProba,
    predict: (X: Matrix) => argmaxRows(predictProba(X)),
    toJSON: () => {
      if (!fitted) throw new LensembleError(`${KNN_KIND}: not fitted yet`);
      return serialize(opts, fitted);
    },
  };
}

export function createKnn(options: KnnOptions = {}): Classifier {
  return makeKnn(resolveOptions(options));
}

export function fromJSON(s: SerializedClassifier): Classifier {
  if (s.kind !== KNN_KIND) throw new LensembleError(`${KNN_KIND}: cannot restore a '${s.kind}' model`);
  const config = s.config as { options: KnnOptions & { nClasses: number | null }; nClasses: number };
  const opts = resolveOptions({ ...config.options, nClasses: config.options.nClasses ?? undefined });
  const { train, labels, sampleWeight, mean, scale } = s.tensors;
  if (!train || !labels) throw new LensembleError(`${KNN_KIND}: serialized model lacks its training data`);
  if (opts.standardize && (!mean || !scale)) throw new LensembleError(`${KNN_KIND}: serialized model lacks mean/scale`);
  return makeKnn(opts, {
    nClasses: config.nClasses,
    train: { rows: train.shape[0], cols: train.shape[1], data: train.data.slice() },
    labels: Int32Array.from(labels.data),
    sampleWeight: sampleWeight?.data.slice(),
    scaler: opts.standardize ? { mean: mean!.data.slice(), scale: scale!.data.slice() } : undefined,
  });
}
