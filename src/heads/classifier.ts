import type { Matrix } from '../util/matrix.js';

/** A named float32 tensor: how estimator weights travel into a bundle (stored as safetensors). */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** What `toJSON()` returns: a kind, plain JSON config/state, and bulk numeric tensors. */
export interface SerializedClassifier {
  kind: string;
  config: Record<string, unknown>;
  tensors: Record<string, NamedTensor>;
}

export interface FitOptions {
  /** Optional validation data, used by heads that stop early or pick a learning rate. */
  valid?: { X: Matrix; y: Int32Array };
  /** Per-sample weights (e.g. to down-weight augmented views). */
  sampleWeight?: Float32Array;
  /** Called with (done, total, info) as fitting progresses. */
  onProgress?: (done: number, total: number, info?: Record<string, number>) => void;
}

/** What a fit reports back: at least how long it took; heads add curves (loss per epoch, etc.). */
export interface FitReport {
  seconds: number;
  [key: string]: unknown;
}

/**
 * The scikit-learn estimator contract every head and classical classifier honours.
 * Labels are class indices 0..nClasses-1; `predictProba` rows sum to 1.
 */
export interface Classifier {
  readonly kind: string;
  readonly nClasses: number;
  fit(X: Matrix, y: Int32Array, options?: FitOptions): FitReport;
  predictProba(X: Matrix): Matrix;
  predict(X: Matrix): Int32Array;
  toJSON(): SerializedClassifier;
}
