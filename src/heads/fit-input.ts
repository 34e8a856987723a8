import { LensembleError } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';

function assertFinite(kind: string, X: Matrix): void {
  const { data, cols } = X;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new LensembleError(`${kind}: feature ${i % cols} of row ${Math.floor(i / cols)} is ${data[i]}; features must be finite`);
    }
  }
}

/**
 * Checks what a classical classifier's `fit` receives and returns the number of classes: the one
 * configured, or else the largest label + 1.
 */
export function checkFitInput(
  kind: string,
  X: Matrix,
  y: Int32Array,
  nClasses: number | undefined,
  sampleWeight?: Float32Array,
): number {
  if (X.rows === 0 || X.cols === 0) throw new LensembleError(`${kind}: cannot fit on an empty ${X.rows}×${X.cols} matrix`);
  if (X.data.length !== X.rows * X.cols) throw new LensembleError(`${kind}: matrix data holds ${X.data.length} values, not ${X.rows}×${X.cols}`);
  if (y.length !== X.rows) throw new LensembleError(`${kind}: ${y.length} labels for ${X.rows} rows`);
  if (sampleWeight && sampleWeight.length !== X.rows) throw new LensembleError(`${kind}: ${sampleWeight.length} sample weights for ${X.rows} rows`);
  if (sampleWeight?.some((w) => !(w >= 0) || !Number.isFinite(w))) throw new LensembleError(`${kind}: sample weights must be finite and ≥ 0`);
  if (sampleWeight?.every((w) => w === 0)) throw new LensembleError(`${kind}: all sample weights are zero`);
  let maxLabel = -1;
  for (let i = 0; i < y.length; i++) {
    if (y[i] < 0) throw new LensembleError(`${kind}: label ${y[i]} at row ${i} is negative`);
    if (y[i] > maxLabel) maxLabel = y[i];
  }
  const classes = nClasses ?? maxLabel + 1;
  if (!Number.isInteger(classes) || classes < 1) throw new LensembleError(`${kind}: nClasses must be an integer ≥ 1, got ${classes}`);
  if (maxLabel >= classes) throw new LensembleError(`${kind}: label ${maxLabel} is out of range for ${classes} classes`);
  assertFinite(kind, X);
  return classes;
}

export function checkPredictInput(kind: string, X: Matrix, nFeatures: number | undefined): void {
  if (nFeatures === undefined) throw new LensembleError(`${kind}: predict called before fit`);
  if (X.cols !== nFeatures) throw new LensembleError(`${kind}: fitted on ${nFeatures} features, got ${X.cols}`);
  assertFinite(kind, X);
}
