import type { Classifier, FitOptions, FitReport, SerializedClassifier } from './classifier.js';
import { checkFitInput, checkPredictInput } from './fit-input.js';
import { createLibsvm, type LibsvmBuild } from './libsvm-runtime.js';
import { fitStandardizer, standardize, type Standardizer } from './standardizer.js';
import { parseLibsvmModel, svmProbabilities, type SvmModel } from './svm-model.js';
import { LensembleError } from '../util/errors.js';
import { argmaxRows, zeros, type Matrix } from '../util/matrix.js';
import { createRng, permutation } from '../util/rng.js';

export const SVM_KIND = 'svm';

export interface SvmOptions {
  /** 'rbf' (default) or 'linear'. */
  kernel?: 'rbf' | 'linear';
  /** Soft-margin cost (default 1). */
  C?: number;
  /** RBF width: a number, 'scale' = 1/(d·var(X)) (default, as scikit-learn) or 'auto' = 1/d; on standardised X. */
  gamma?: number | 'scale' | 'auto';
  /** libsvm stopping tolerance (default 1e-3). */
  tolerance?: number;
  /** libsvm kernel cache in MB (default 100). */
  cacheSizeMb?: number;
  /** Number of classes; default: largest training label + 1. */
  nClasses?: number;
  /**
   * Shuffles the training rows before libsvm sees them; libsvm's internal 5-fold cross-validation for
   * Platt scaling (the probability estimates) takes its folds from that order.
   */
  seed?: number;
  /** libsvm-js build used for training (default 'wasm'; 'asm' is the pure-JS fallback, half as fast). */
  libsvmBuild?: LibsvmBuild;
}

interface ResolvedOptions {
  kernel: 'rbf' | 'linear';
  C: number;
  gamma: number | 'scale' | 'auto';
  tolerance: number;
  cacheSizeMb: number;
  nClasses: number | null;
  seed: number;
  libsvmBuild: LibsvmBuild;
}

interface FittedSvm {
  nClasses: number;
  nFeatures: number;
  scaler: Standardizer;
  /** Absent when training saw a single class, which is then always predicted. */
  model?: SvmModel;
  onlyClass?: number;
}

export const SVM_DEFAULTS = { kernel: 'rbf', C: 1, gamma: 'scale', tolerance: 1e-3, cacheSizeMb: 100 } as const;

function resolveOptions(options: SvmOptions): ResolvedOptions {
  const d = SVM_DEFAULTS;
  const resolved: ResolvedOptions = {
    kernel: options.kernel ?? d.kernel,
    C: options.C ?? d.C,
    gamma: options.gamma ?? d.gamma,
    tolerance: options.tolerance ?? d.tolerance,
    cacheSizeMb: options.cacheSizeMb ?? d.cacheSizeMb,
    nClasses: options.nClasses ?? null,
    seed: options.seed ?? 0,
    libsvmBuild: options.libsvmBuild ?? 'wasm',
  };
  if (resolved.kernel !== 'rbf' && resolved.kernel !== 'linear') throw new LensembleError(`${SVM_KIND}: unknown kernel '${resolved.kernel}'`);
  if (!(resolved.C > 0)) throw new LensembleError(`${SVM_KIND}: C must be > 0, got ${resolved.C}`);
  const g = resolved.gamma;
  if (g !== 'scale' && g !== 'auto' && !(typeof g === 'number' && g > 0)) throw new LensembleError(`${SVM_KIND}: gamma must be > 0, 'scale' or 'auto'`);
  return resolved;
}

function resolveGamma(gamma: ResolvedOptions['gamma'], Z: Matrix): number {
  if (typeof gamma === 'number') return gamma;
  if (gamma === 'auto') return 1 / Z.cols;
  let sum = 0;
  for (let i = 0; i < Z.data.length; i++) sum += Z.data[i];
  const mean = sum / Z.data.length;
  let sq = 0;
  for (let i = 0; i < Z.data.length; i++) sq += (Z.data[i] - mean) ** 2;
  const variance = sq / Z.data.length;
  return variance > 0 ? 1 / (Z.cols * variance) : 1;
}

function trainLibsvm(Z: Matrix, y: Int32Array, opts: ResolvedOptions, gamma: number): SvmModel {
  const order = permutation(Z.rows, createRng(opts.seed));
  const samples: number[][] = [];
  const labels: number[] = [];
  for (const i of order) {
    samples.push(Array.from(Z.data.subarray(i * Z.cols, (i + 1) * Z.cols)));
    labels.push(y[i]);
  }
  const SVM = createLibsvm(opts.libsvmBuild);
  const svm = new SVM({
    type: SVM.SVM_TYPES.C_SVC,
    kernel: opts.kernel === 'rbf' ? SVM.KERNEL_TYPES.RBF : SVM.KERNEL_TYPES.LINEAR,
    gamma,
    cost: opts.C,
    tolerance: opts.tolerance,
    cacheSize: opts.cacheSizeMb,
    shrinking: true,
    probabilityEstimates: true,
    quiet: true,
  });
  let text: string;
  let svIndices: number[];
  try {
    svm.train(samples, labels);
    text = svm.serializeModel();
    svIndices = svm.getSVIndices();
  } finally {
    svm.free();
  }
  // The model text keeps gamma (and rho, probA, probB) to 6 digits and support vectors to 8: take gamma
  // and the support vectors themselves from what libsvm was given.
  const model = parseLibsvmModel(text, Z.cols);
  if (svIndices.length * Z.cols !== model.supportVectors.length) throw new LensembleError(`${SVM_KIND}: libsvm support vector count mismatch`);
  svIndices.forEach((index, k) => {
    const row = order[index];
    model.supportVectors.set(Z.data.subarray(row * Z.cols, (row + 1) * Z.cols), k * Z.cols);
  });
  return { ...model, gamma: opts.kernel === 'rbf' ? gamma : 0 };
}

function predictSvm(fitted: FittedSvm, X: Matrix): Matrix {
  const C = fitted.nClasses;
  const out = zeros(X.rows, C);
  const { model } = fitted;
  if (!model) {
    for (let i = 0; i < X.rows; i++) out.data[i * C + fitted.onlyClass!] = 1;
    return out;
  }
  const Z = standardize(X, fitted.scaler);
  const kernelValues = new Float64Array(model.supportVectors.length / model.nFeatures);
  const probs = new Float64Array(model.labels.length);
  for (let i = 0; i < X.rows; i++) {
    svmProbabilities(model, Z.data.subarray(i * Z.cols, (i + 1) * Z.cols), kernelValues, probs);
    let total = 0;
    for (let c = 0; c < probs.length; c++) total += probs[c];
    for (let c = 0; c < probs.length; c++) out.data[i * C + model.labels[c]] = probs[c] / total;
  }
  return out;
}

function serialize(opts: ResolvedOptions, fitted: FittedSvm): SerializedClassifier {
  const { model, scaler, nFeatures } = fitted;
  const totalSv = model ? model.supportVectors.length / nFeatures : 0;
  const pairs = model ? model.rho.length : 0;
  return {
    kind: SVM_KIND,
    config: {
      options: { ...opts },
      nClasses: fitted.nClasses,
      nFeatures,
      onlyClass: fitted.onlyClass ?? null,
      gamma: model?.gamma ?? null,
      labels: model?.labels ?? [],
      nSv: model?.nSv ?? [],
    },
    tensors: {
      mean: { shape: [nFeatures], data: scaler.mean.slice() },
      scale: { shape: [nFeatures], data: scaler.scale.slice() },
      supportVectors: { shape: [totalSv, nFeatures], data: model ? model.supportVectors.slice() : new Float32Array(0) },
      dualCoef: { shape: [model ? model.labels.length - 1 : 0, totalSv], data: model ? model.dualCoef.slice() : new Float32Array(0) },
      rho: { shape: [pairs], data: model ? model.rho.slice() : new Float32Array(0) },
      probA: { shape: [pairs], data: model ? model.probA.slice() : new Float32Array(0) },
      probB: { shape: [pairs], data: model ? model.probB.slice() : new Float32Array(0) },
    },
  };
}

function makeSvm(opts: ResolvedOptions, restored?: FittedSvm): Classifier {
  let fitted = restored;
  const predictProba = (X: Matrix): Matrix => {
    checkPredictInput(SVM_KIND, X, fitted?.nFeatures);
    return predictSvm(fitted!, X);
  };
  return {
    kind: SVM_KIND,
    get nClasses() {
      return fitted?.nClasses ?? opts.nClasses ?? 0;
    },
    fit(X: Matrix, y: Int32Array, fitOptions?: FitOptions): FitReport {
      const started = performance.now();
      if (fitOptions?.sampleWeight) throw new LensembleError(`${SVM_KIND}: libsvm does not support per-sample weights`);
      const nClasses = checkFitInput(SVM_KIND, X, y, opts.nClasses ?? undefined);
      const scaler = fitStandardizer(X);
      const present = [...new Set(y)];
      if (present.length < 2) {
        fitted = { nClasses, nFeatures: X.cols, scaler, onlyClass: present[0] };
      } else {
        const Z = standardize(X, scaler);
        fitted = { nClasses, nFeatures: X.cols, scaler, model: trainLibsvm(Z, y, opts, resolveGamma(opts.gamma, Z)) };
      }
      return {
        seconds: (performance.now() - started) / 1000,
        supportVectors: fitted.model ? fitted.model.supportVectors.length / X.cols : 0,
        gamma: fitted.model?.gamma ?? null,
      };
    },
    predictProba,
    predict: (X: Matrix) => argmaxRows(predictProba(X)),
    toJSON: () => {
      if (!fitted) throw new LensembleError(`${SVM_KIND}: not fitted yet`);
      return serialize(opts, fitted);
    },
  };
}

export function createSvm(options: SvmOptions = {}): Classifier {
  return makeSvm(resolveOptions(options));
}

function tensorData(s: SerializedClassifier, name: string): Float32Array {
  const t = s.tensors[name];
  if (!t) throw new LensembleError(`${SVM_KIND}: serialized model lacks tensor '${name}'`);
  return t.data.slice();
}

export function fromJSON(s: SerializedClassifier): Classifier {
  if (s.kind !== SVM_KIND) throw new LensembleError(`${SVM_KIND}: cannot restore a '${s.kind}' model`);
  const config = s.config as {
    options: SvmOptions & { nClasses: number | null };
    nClasses: number;
    nFeatures: number;
    onlyClass: number | null;
    gamma: number | null;
    labels: number[];
    nSv: number[];
  };
  const opts = resolveOptions({ ...config.options, nClasses: config.options.nClasses ?? undefined });
  const fitted: FittedSvm = {
    nClasses: config.nClasses,
    nFeatures: config.nFeatures,
    scaler: { mean: tensorData(s, 'mean'), scale: tensorData(s, 'scale') },
  };
  if (config.onlyClass !== null) {
    fitted.onlyClass = config.onlyClass;
  } else {
    fitted.model = {
      kernel: opts.kernel,
      gamma: config.gamma ?? 0,
      nFeatures: config.nFeatures,
      labels: config.labels,
      nSv: config.nSv,
      supportVectors: tensorData(s, 'supportVectors'),
      dualCoef: tensorData(s, 'dualCoef'),
      rho: tensorData(s, 'rho'),
      probA: tensorData(s, 'probA'),
      probB: tensorData(s, 'probB'),
    };
  }
  return makeSvm(opts, fitted);
}
