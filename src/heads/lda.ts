import type { Classifier, FitOptions, FitReport, SerializedClassifier } from './classifier.js';
import { checkFitInput, checkPredictInput } from './fit-input.js';
import { LensembleError } from '../util/errors.js';
import { argmaxRows, zeros, type Matrix } from '../util/matrix.js';

export const LDA_KIND = 'lda';

export interface LdaOptions {
  /**
   * Covariance shrinkage towards a scaled identity, as scikit-learn's `solver='lsqr'`: 'auto' (default,
   * Ledoit–Wolf per class on standardised features), a fixed amount in [0, 1], or 0 for none.
   */
  shrinkage?: 'auto' | number;
  /** Number of classes; default: largest training label + 1. */
  nClasses?: number;
}

interface ResolvedOptions {
  shrinkage: 'auto' | number;
  nClasses: number | null;
}

interface FittedLda {
  nClasses: number;
  nFeatures: number;
  /** nClasses × nFeatures. */
  coef: Float32Array;
  intercept: Float32Array;
  /** Classes without training samples: never predicted. */
  absentClasses: number[];
}

export const LDA_DEFAULTS = { shrinkage: 'auto' } as const;

function resolveOptions(options: LdaOptions): ResolvedOptions {
  const shrinkage = options.shrinkage ?? LDA_DEFAULTS.shrinkage;
  if (shrinkage !== 'auto' && !(typeof shrinkage === 'number' && shrinkage >= 0 && shrinkage <= 1)) {
    throw new LensembleError(`${LDA_KIND}: shrinkage must be 'auto' or in [0, 1], got ${shrinkage}`);
  }
  return { shrinkage, nClasses: options.nClasses ?? null };
}

/** Weighted covariance (1/W normalisation) of the rows of X labelled `label`, around `mean`; d × d. */
function classCovariance(X: Matrix, y: Int32Array, w: Float64Array, label: number, mean: Float64Array, W: number): Float64Array {
  const d = X.cols;
  const S = new Float64Array(d * d);
  const z = new Float64Array(d);
  for (let i = 0; i < X.rows; i++) {
    if (y[i] !== label || w[i] === 0) continue;
    for (let f = 0; f < d; f++) z[f] = X.data[i * d + f] - mean[f];
    for (let a = 0; a < d; a++) {
      const za = w[i] * z[a];
      if (za === 0) continue;
      const row = a * d;
      for (let b = a; b < d; b++) S[row + b] += za * z[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      S[a * d + b] /= W;
      S[b * d + a] = S[a * d + b];
    }
  }
  return S;
}

/**
 * Ledoit–Wolf shrinkage of the class's standardised data (scikit-learn's `ledoit_wolf_shrinkage`, with
 * sample weights as repeat counts), returned with the shrunk covariance rescaled to the original units.
 */
function ledoitWolf(X: Matrix, y: Int32Array, w: Float64Array, label: number, mean: Float64Array, W: number, S: Float64Array): { cov: Float64Array; alpha: number } {
  const d = X.cols;
  const sigma = new Float64Array(d);
  for (let f = 0; f < d; f++) {
    const s = Math.sqrt(S[f * d + f]);
    sigma[f] = s > 1e-12 ? s : 1;
  }
  let frobenius = 0;
  let trace = 0;
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      const r = S[a * d + b] / (sigma[a] * sigma[b]);
      frobenius += r * r;
      if (a === b) trace += r;
    }
  }
  let fourth = 0;
  for (let i = 0; i < X.rows; i++) {
    if (y[i] !== label || w[i] === 0) continue;
    let norm2 = 0;
    for (let f = 0; f < d; f++) norm2 += ((X.data[i * d + f] - mean[f]) / sigma[f]) ** 2;
    fourth += w[i] * norm2 * norm2;
  }
  const mu = trace / d;
  const delta = (frobenius - d * mu * mu) / d;
  const beta = Math.min((fourth / W - frobenius) / (d * W), delta);
  const alpha = delta > 0 && beta > 0 ? Math.min(1, beta / delta) : 0;
  const cov = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      cov[a * d + b] = (1 - alpha) * S[a * d + b] + (a === b ? alpha * mu * sigma[a] * sigma[b] : 0);
    }
  }
  return { cov, alpha };
}

function shrinkTowardsIdentity(S: Float64Array, d: number, alpha: number): Float64Array {
  let trace = 0;
  for (let f = 0; f < d; f++) trace += S[f * d + f];
  const out = Float64Array.from(S, (v) => (1 - alpha) * v);
  for (let f = 0; f < d; f++) out[f * d + f] += (alpha * trace) / d;
  return out;
}

/** Lower Cholesky factor of a symmetric d × d matrix, or null if it is not positive definite. */
function cholesky(A: Float64Array, d: number): Float64Array | null {
  const L = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let diag = A[j * d + j];
    for (let k = 0; k < j; k++) diag -= L[j * d + k] * L[j * d + k];
    if (!(diag > 0)) return null;
    const ljj = Math.sqrt(diag);
    L[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let s = A[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = s / ljj;
    }
  }
  return L;
}

/**
 * Solves Σ x = b for each right-hand side via Cholesky. A singular Σ (no shrinkage, collinear features)
 * gets the smallest diagonal jitter (from 1e-10 of its mean variance up) that makes it positive definite,
 * where scikit-learn's lstsq would return the minimum-norm solution.
 */
function solveSymmetric(Sigma: Float64Array, d: number, rhs: Float64Array[]): { solutions: Float64Array[]; jitter: number } {
  let trace = 0;
  for (let f = 0; f < d; f++) trace += Sigma[f * d + f];
  const unit = trace > 0 ? trace / d : 1;
  let jitter = 0;
  let L = cholesky(Sigma, d);
  for (let attempt = 0; !L; attempt++) {
    if (attempt > 12) throw new LensembleError(`${LDA_KIND}: covariance is not positive definite even with jitter`);
    jitter = unit * 10 ** (attempt - 10);
    const A = Sigma.slice();
    for (let f = 0; f < d; f++) A[f * d + f] += jitter;
    L = cholesky(A, d);
  }
  const solutions = rhs.map((b) => {
    const z = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = b[i];
      for (let k = 0; k < i; k++) s -= L![i * d + k] * z[k];
      z[i] = s / L![i * d + i];
    }
    const x = new Float64Array(d);
    for (let i = d - 1; i >= 0; i--) {
      let s = z[i];
      for (let k = i + 1; k < d; k++) s -= L![k * d + i] * x[k];
      x[i] = s / L![i * d + i];
    }
    return x;
  });
  return { solutions, jitter };
}

function fitLda(X: Matrix, y: Int32Array, opts: ResolvedOptions, sampleWeight?: Float32Array) {
  const nClasses = checkFitInput(LDA_KIND, X, y, opts.nClasses ?? undefined, sampleWeight);
  const { rows: n, cols: d } = X;
  const w = sampleWeight ? Float64Array.from(sampleWeight) : new Float64Array(n).fill(1);
  const classWeight = new Float64Array(nClasses);
  const means = Array.from({ length: nClasses }, () => new Float64Array(d));
  for (let i = 0; i < n; i++) {
    classWeight[y[i]] += w[i];
    for (let f = 0; f < d; f++) means[y[i]][f] += w[i] * X.data[i * d + f];
  }
  const total = classWeight.reduce((s, v) => s + v, 0);
  if (!(total > 0)) throw new LensembleError(`${LDA_KIND}: all sample weights are zero`);
  const present: number[] = [];
  for (let c = 0; c < nClasses; c++) {
    if (classWeight[c] > 0) {
      present.push(c);
      for (let f = 0; f < d; f++) means[c][f] /= classWeight[c];
    }
  }

  const Sigma = new Float64Array(d * d);
  const shrinkageUsed: number[] = [];
  for (const c of present) {
    const S = classCovariance(X, y, w, c, means[c], classWeight[c]);
    let cov: Float64Array;
    if (opts.shrinkage === 'auto') {
      const lw = ledoitWolf(X, y, w, c, means[c], classWeight[c], S);
      cov = lw.cov;
      shrinkageUsed.push(lw.alpha);
    } else {
      cov = opts.shrinkage > 0 ? shrinkTowardsIdentity(S, d, opts.shrinkage) : S;
      shrinkageUsed.push(opts.shrinkage);
    }
    const prior = classWeight[c] / total;
    for (let i = 0; i < d * d; i++) Sigma[i] += prior * cov[i];
  }

  const { solutions, jitter } = solveSymmetric(Sigma, d, present.map((c) => means[c]));
  const coef = new Float32Array(nClasses * d);
  const intercept = new Float32Array(nClasses);
  present.forEach((c, j) => {
    let dot = 0;
    for (let f = 0; f < d; f++) {
      coef[c * d + f] = solutions[j][f];
      dot += means[c][f] * solutions[j][f];
    }
    intercept[c] = -0.5 * dot + Math.log(classWeight[c] / total);
  });
  const absentClasses = [...Array(nClasses).keys()].filter((c) => classWeight[c] === 0);
  const fitted: FittedLda = { nClasses, nFeatures: d, coef, intercept, absentClasses };
  return { fitted, shrinkageUsed, jitter };
}

/** Softmax of the discriminant scores x·coef_c + intercept_c over the classes seen in training. */
function predictLda(fitted: FittedLda, X: Matrix): Matrix {
  const { nClasses: C, nFeatures: d, coef, intercept } = fitted;
  const absent = new Set(fitted.absentClasses);
  const out = zeros(X.rows, C);
  const scores = new Float64Array(C);
  for (let i = 0; i < X.rows; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      if (absent.has(c)) continue;
      let s = intercept[c];
      for (let f = 0; f < d; f++) s += X.data[i * d + f] * coef[c * d + f];
      scores[c] = s;
      if (s > max) max = s;
    }
    let total = 0;
    for (let c = 0; c < C; c++) {
      scores[c] = absent.has(c) ? 0 : Math.exp(scores[c] - max);
      total += scores[c];
    }
    for (let c = 0; c < C; c++) out.data[i * C + c] = scores[c] / total;
  }
  return out;
}

function makeLda(opts: ResolvedOptions, restored?: FittedLda): Classifier {
  let fitted = restored;
  const predictProba = (X: Matrix): Matrix => {
    checkPredictInput(LDA_KIND, X, fitted?.nFeatures);
    return predictLda(fitted!, X);
  };
  return {
    kind: LDA_KIND,
    get nClasses() {
      return fitted?.nClasses ?? opts.nClasses ?? 0;
    },
    fit(X: Matrix, y: Int32Array, fitOptions?: FitOptions): FitReport {
      const started = performance.now();
      const result = fitLda(X, y, opts, fitOptions?.sampleWeight);
      fitted = result.fitted;
      return { seconds: (performance.now() - started) / 1000, shrinkage: result.shrinkageUsed, jitter: result.jitter };
    },
    predictProba,
    predict: (X: Matrix) => argmaxRows(predictProba(X)),
    toJSON: (): SerializedClassifier => {
      if (!fitted) throw new LensembleError(`${LDA_KIND}: not fitted yet`);
      const { nClasses, nFeatures, coef, intercept, absentClasses } = fitted;
      return {
        kind: LDA_KIND,
        config: { options: { ...opts }, nClasses, nFeatures, absentClasses },
        tensors: {
          coef: { shape: [nClasses, nFeatures], data: coef.slice() },
          intercept: { shape: [nClasses], data: intercept.slice() },
        },
      };
    },
  };
}

export function createLda(options: LdaOptions = {}): Classifier {
  return makeLda(resolveOptions(options));
}

export function fromJSON(s: SerializedClassifier): Classifier {
  if (s.kind !== LDA_KIND) throw new LensembleError(`${LDA_KIND}: cannot restore a '${s.kind}' model`);
  const config = s.config as { options: LdaOptions & { nClasses: number | null }; nClasses: number; nFeatures: number; absentClasses: number[] };
  const { coef, intercept } = s.tensors;
  if (!coef || !intercept) throw new LensembleError(`${LDA_KIND}: serialized model lacks coef/intercept`);
  return makeLda(resolveOptions({ ...config.options, nClasses: config.options.nClasses ?? undefined }), {
    nClasses: config.nClasses,
    nFeatures: config.nFeatures,
    coef: coef.data.slice(),
    intercept: intercept.data.slice(),
    absentClasses: config.absentClasses,
  });
}
