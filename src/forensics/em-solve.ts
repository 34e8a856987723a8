/** The M-step's small linear solve for EM traces (em-trace.ts). */
import { LensembleError } from '../util/errors.js';
import type { NormalEquationSums } from './em-normal-equations.js';

/**
 * The M-step solve k = (XᵀWX + λI)⁻¹XᵀWy, on the sums divided by Σw (same solution, numbers of
 * order pixel², whatever the weights' scale), with λ = relativeRidge·trace/m (1 if the trace is 0).
 * Cholesky: the matrix is symmetric positive definite once ridged.
 */
export function solveWeightedLeastSquares(sums: NormalEquationSums, m: number, relativeRidge: number, out: Float64Array): void {
  const scale = 1 / sums.sumW;
  const a = new Float64Array(m * m);
  let trace = 0;
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) a[i * m + j] = sums.gram[i * m + j] * scale;
    trace += a[i * m + i];
  }
  let ridge = trace > 0 ? (relativeRidge * trace) / m : 1;
  // A ridged PSD matrix cannot fail Cholesky unless rounding beats the ridge; grow it if so.
  for (let attempt = 0; attempt < 8; attempt++, ridge *= 1000) {
    if (choleskySolve(a, m, ridge, sums.rhs, scale, out)) return;
  }
  throw new LensembleError('EM trace: the weighted normal equations could not be solved');
}

/** Solves (A + ridge·I)·x = rhs·scale using A's upper triangle; false if not positive definite. */
function choleskySolve(
  a: Float64Array,
  m: number,
  ridge: number,
  rhs: Float64Array,
  scale: number,
  out: Float64Array,
): boolean {
  // L is stored in its lower triangle (row-major), built from A's upper triangle.
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[j * m + i] + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) s -= l[i * m + k] * l[j * m + k];
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return false;
        l[i * m + i] = Math.sqrt(s);
      } else {
        l[i * m + j] = s / l[j * m + j];
      }
    }
  }
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = rhs[i] * scale;
    for (let k = 0; k < i; k++) s -= l[i * m + k] * z[k];
    z[i] = s / l[i * m + i];
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < m; k++) s -= l[k * m + i] * out[k];
    out[i] = s / l[i * m + i];
  }
  return true;
}
