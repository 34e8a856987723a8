import { zeros, type Matrix } from '../util/matrix.js';

/** Per-feature mean and scale (population std; 1 where a feature is constant), as scikit-learn's StandardScaler. */
export interface Standardizer {
  mean: Float32Array;
  scale: Float32Array;
}

export function fitStandardizer(X: Matrix): Standardizer {
  const { rows: n, cols: d, data } = X;
  const sum = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let f = 0; f < d; f++) sum[f] += data[i * d + f];
  const mean = Float64Array.from(sum, (s) => s / n);
  const sq = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < d; f++) {
      const diff = data[i * d + f] - mean[f];
      sq[f] += diff * diff;
    }
  }
  // Stored as float32 and always applied from the float32 copy, so a restored model transforms identically.
  return {
    mean: Float32Array.from(mean),
    scale: Float32Array.from(sq, (s) => {
      const std = Math.sqrt(s / n);
      return std > 1e-12 ? std : 1;
    }),
  };
}

export function standardize(X: Matrix, s: Standardizer): Matrix {
  const out = zeros(X.rows, X.cols);
  const d = X.cols;
  for (let i = 0; i < X.rows; i++) {
    for (let f = 0; f < d; f++) out.data[i * d + f] = (X.data[i * d + f] - s.mean[f]) / s.scale[f];
  }
  return out;
}
