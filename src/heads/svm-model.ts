import { LensembleError } from '../util/errors.js';

/**
 * A trained libsvm C-SVC model with probability estimates, as plain float32 arrays, and libsvm's own
 * prediction (`svm_predict_probability`: one-vs-one decision values, Platt sigmoids, Wu–Lin–Weng pairwise
 * coupling) re-implemented in TypeScript. Predicting here rather than in libsvm-js avoids its emscripten
 * heap (which is never garbage-collected and leaks one node array per probability prediction) and lets a
 * restored model predict without loading libsvm at all.
 */
export interface SvmModel {
  kernel: 'rbf' | 'linear';
  gamma: number;
  nFeatures: number;
  /** libsvm's class order (first appearance in the training data), as our class indices. */
  labels: number[];
  /** Support vectors per class, in `labels` order. */
  nSv: number[];
  /** totalSv × nFeatures. */
  supportVectors: Float32Array;
  /** (nr_class − 1) × totalSv dual coefficients, row-major. */
  dualCoef: Float32Array;
  /** One per class pair (i < j in `labels` order). */
  rho: Float32Array;
  probA: Float32Array;
  probB: Float32Array;
}

function numbersAfter(header: Map<string, string>, key: string): number[] {
  const value = header.get(key);
  if (value === undefined) throw new LensembleError(`libsvm model text lacks '${key}'`);
  return value.trim().split(/\s+/).map(Number);
}

/** Parses the text of libsvm's `svm_save_model` (what libsvm-js `serializeModel()` returns). */
export function parseLibsvmModel(text: string, nFeatures: number): SvmModel {
  const lines = text.split('\n');
  const header = new Map<string, string>();
  let i = 0;
  for (; i < lines.length && lines[i].trim() !== 'SV'; i++) {
    const line = lines[i].trim();
    const space = line.indexOf(' ');
    header.set(space < 0 ? line : line.slice(0, space), space < 0 ? '' : line.slice(space + 1));
  }
  if (header.get('svm_type') !== 'c_svc') throw new LensembleError(`libsvm model: expected c_svc, got ${header.get('svm_type')}`);
  const kernel = header.get('kernel_type');
  if (kernel !== 'rbf' && kernel !== 'linear') throw new LensembleError(`libsvm model: unsupported kernel ${kernel}`);
  const nClass = numbersAfter(header, 'nr_class')[0];
  const totalSv = numbersAfter(header, 'total_sv')[0];
  const labels = numbersAfter(header, 'label');
  const nSv = numbersAfter(header, 'nr_sv');
  const pairs = (nClass * (nClass - 1)) / 2;
  const model: SvmModel = {
    kernel,
    gamma: kernel === 'rbf' ? numbersAfter(header, 'gamma')[0] : 0,
    nFeatures,
    labels,
    nSv,
    supportVectors: new Float32Array(totalSv * nFeatures),
    dualCoef: new Float32Array((nClass - 1) * totalSv),
    rho: Float32Array.from(numbersAfter(header, 'rho')),
    probA: Float32Array.from(numbersAfter(header, 'probA')),
    probB: Float32Array.from(numbersAfter(header, 'probB')),
  };
  if (model.rho.length !== pairs || model.probA.length !== pairs || labels.length !== nClass) {
    throw new LensembleError('libsvm model text is inconsistent (rho/probA/label counts)');
  }
  for (let sv = 0; sv < totalSv; sv++) {
    const fields = (lines[i + 1 + sv] ?? '').trim().split(/\s+/);
    if (fields.length < nClass - 1) throw new LensembleError(`libsvm model text: support vector ${sv} is missing`);
    for (let c = 0; c < nClass - 1; c++) model.dualCoef[c * totalSv + sv] = Number(fields[c]);
    for (let f = nClass - 1; f < fields.length; f++) {
      const colon = fields[f].indexOf(':');
      const index = Number(fields[f].slice(0, colon)) - 1;
      if (index >= 0 && index < nFeatures) model.supportVectors[sv * nFeatures + index] = Number(fields[f].slice(colon + 1));
    }
  }
  return model;
}

function sigmoidPredict(decision: number, A: number, B: number): number {
  const fApB = decision * A + B;
  return fApB >= 0 ? Math.exp(-fApB) / (1 + Math.exp(-fApB)) : 1 / (1 + Math.exp(fApB));
}

/** Wu, Lin & Weng (2004) method 2, exactly as libsvm's `multiclass_probability`. */
function multiclassProbability(k: number, r: Float64Array, p: Float64Array): void {
  const Q = new Float64Array(k * k);
  const Qp = new Float64Array(k);
  const maxIter = Math.max(100, k);
  const eps = 0.005 / k;
  for (let t = 0; t < k; t++) {
    p[t] = 1 / k;
    Q[t * k + t] = 0;
    for (let j = 0; j < t; j++) {
      Q[t * k + t] += r[j * k + t] * r[j * k + t];
      Q[t * k + j] = Q[j * k + t];
    }
    for (let j = t + 1; j < k; j++) {
      Q[t * k + t] += r[j * k + t] * r[j * k + t];
      Q[t * k + j] = -r[j * k + t] * r[t * k + j];
    }
  }
  for (let iter = 0; iter < maxIter; iter++) {
    let pQp = 0;
    for (let t = 0; t < k; t++) {
      Qp[t] = 0;
      for (let j = 0; j < k; j++) Qp[t] += Q[t * k + j] * p[j];
      pQp += p[t] * Qp[t];
    }
    let maxError = 0;
    for (let t = 0; t < k; t++) maxError = Math.max(maxError, Math.abs(Qp[t] - pQp));
    if (maxError < eps) break;
    for (let t = 0; t < k; t++) {
      const diff = (-Qp[t] + pQp) / Q[t * k + t];
      p[t] += diff;
      pQp = (pQp + diff * (diff * Q[t * k + t] + 2 * Qp[t])) / (1 + diff) / (1 + diff);
      for (let j = 0; j < k; j++) {
        Qp[j] = (Qp[j] + diff * Q[t * k + j]) / (1 + diff);
        p[j] /= 1 + diff;
      }
    }
  }
}

/**
 * Class probabilities in libsvm's label order for one (already standardised) sample, written into `out`.
 * `kernelValues` is scratch of length totalSv.
 */
export function svmProbabilities(model: SvmModel, x: ArrayLike<number>, kernelValues: Float64Array, out: Float64Array): void {
  const { nFeatures: d, supportVectors: sv, dualCoef, nSv, rho, probA, probB, gamma } = model;
  const k = nSv.length;
  const totalSv = kernelValues.length;
  for (let s = 0; s < totalSv; s++) {
    let acc = 0;
    const base = s * d;
    if (model.kernel === 'rbf') {
      for (let f = 0; f < d; f++) {
        const diff = x[f] - sv[base + f];
        acc += diff * diff;
      }
      kernelValues[s] = Math.exp(-gamma * acc);
    } else {
      for (let f = 0; f < d; f++) acc += x[f] * sv[base + f];
      kernelValues[s] = acc;
    }
  }
  const start = new Int32Array(k);
  for (let c = 1; c < k; c++) start[c] = start[c - 1] + nSv[c - 1];

  const minProb = 1e-7;
  const pairwise = new Float64Array(k * k);
  let p = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      let sum = 0;
      const coef1 = (j - 1) * totalSv;
      const coef2 = i * totalSv;
      for (let s = start[i]; s < start[i] + nSv[i]; s++) sum += dualCoef[coef1 + s] * kernelValues[s];
      for (let s = start[j]; s < start[j] + nSv[j]; s++) sum += dualCoef[coef2 + s] * kernelValues[s];
      const decision = sum - rho[p];
      const rij = Math.min(Math.max(sigmoidPredict(decision, probA[p], probB[p]), minProb), 1 - minProb);
      pairwise[i * k + j] = rij;
      pairwise[j * k + i] = 1 - rij;
      p++;
    }
  }
  if (k === 2) {
    out[0] = pairwise[1];
    out[1] = pairwise[k];
  } else {
    multiclassProbability(k, pairwise, out);
  }
}
