import { LensembleError } from '../util/errors.js';

/** A spatial map over a member's model input: `values` is height × width, row-major. */
export interface Grid {
  width: number;
  height: number;
  values: Float32Array;
  /** On a photo's frame: 1 where some member saw that part of the photo (a centre crop leaves the edges unseen). */
  seen?: Uint8Array;
}

/**
 * Grad-CAM (Selvaraju et al. 2017) of one image: ReLU(Σ_k α_k A_k) over the feature map A (C × H × W). When the
 * pooled feature the head sees is the map's global average, α_k = mean_ij ∂y/∂A_kij = ∂y/∂f_k / (H·W): the
 * gradient of the class score with respect to the pooled feature — so only the head needs differentiating, and
 * for a linear head this is exactly CAM (Zhou et al. 2016).
 */
export function gradCam(map: Float32Array, channels: number, height: number, width: number, gradient: ArrayLike<number>): Grid {
  const plane = height * width;
  const acc = new Float64Array(plane);
  for (let k = 0; k < channels; k++) {
    const g = gradient[k];
    if (g === 0) continue;
    const base = k * plane;
    for (let p = 0; p < plane; p++) acc[p] += g * map[base + p];
  }
  const values = new Float32Array(plane);
  for (let p = 0; p < plane; p++) values[p] = acc[p] > 0 ? acc[p] : 0;
  return { width, height, values };
}

/**
 * Checks that `pooled` is the global average of `map` (C × H × W), the premise of Grad-CAM's weights being the
 * pooled feature's gradient; a backbone whose features are computed otherwise is refused by name.
 */
export function checkAveragePooled(map: Float32Array, channels: number, plane: number, pooled: ArrayLike<number>, what: string): void {
  let worst = 0;
  let largest = 1e-6;
  for (let k = 0; k < channels; k++) {
    let s = 0;
    for (let p = 0; p < plane; p++) s += map[k * plane + p];
    worst = Math.max(worst, Math.abs(s / plane - pooled[k]));
    largest = Math.max(largest, Math.abs(pooled[k]));
  }
  if (worst > 1e-3 * largest) throw new LensembleError(`${what}: its pooled features are not the average of its feature map, so Grad-CAM's channel weights are not the head's gradient`);
}

/** The grid divided by its largest value (all zeros stay zeros). */
export function normaliseGrid(grid: Grid): Grid {
  let max = 0;
  for (const v of grid.values) if (v > max) max = v;
  return { ...grid, values: max > 0 ? grid.values.map((v) => v / max) : grid.values.slice() };
}
