/**
 * One EM pass over a channel, in plain TypeScript: the E-step weights of every interior pixel
 * folded straight into the weighted normal equations, without ever building X.
 * This is the readable reference; em-wasm.ts does the same pass with SIMD.
 */

import type { PixelGrid } from './em-channel.js';

/** The sums one pass produces. `gram` is m×m row-major; only its upper triangle is filled. */
export interface NormalEquationSums {
  gram: Float64Array;
  rhs: Float64Array;
  sumW: number;
  sumWR2: number;
}

export interface EStepParams {
  sigma: number;
  p0: number;
  /** Give every pixel weight 1 (plain least squares): the fallback when no weight survives. */
  uniformWeights: boolean;
}

export function createSums(m: number): NormalEquationSums {
  return { gram: new Float64Array(m * m), rhs: new Float64Array(m), sumW: 0, sumWR2: 0 };
}

/**
 * E-step residuals R = y − Xk, weights w = P1/(P1+p0) with P1 = N(R; 0, σ²), and the M-step sums
 * XᵀWX (upper triangle), XᵀWy, Σw and Σw·R², all in one pass. `sums` is overwritten.
 */
export function accumulateNormalEquations(
  pixels: Float64Array,
  grid: PixelGrid,
  kernel: Float64Array,
  params: EStepParams,
  sums: NormalEquationSums,
): void {
  const offsets = grid.neighbourOffsets;
  const m = offsets.length;
  const { gram, rhs } = sums;
  gram.fill(0);
  rhs.fill(0);
  const neighbours = new Float64Array(m);
  const negHalfInvVar = -0.5 / (params.sigma * params.sigma);
  const density = 1 / (params.sigma * Math.sqrt(2 * Math.PI));
  const { p0, uniformWeights } = params;
  let sumW = 0;
  let sumWR2 = 0;
  for (let y = grid.y0; y < grid.y1; y++) {
    const rowStart = y * grid.width;
    for (let x = grid.x0; x < grid.x1; x++) {
      const p = rowStart + x;
      let predicted = 0;
      for (let i = 0; i < m; i++) {
        const v = pixels[p + offsets[i]];
        neighbours[i] = v;
        predicted += kernel[i] * v;
      }
      const centre = pixels[p];
      const r = centre - predicted;
      let w = 1;
      if (!uniformWeights) {
        const p1 = Math.exp(r * r * negHalfInvVar) * density;
        w = p1 / (p1 + p0);
      }
      sumW += w;
      sumWR2 += w * r * r;
      for (let i = 0; i < m; i++) {
        const wx = w * neighbours[i];
        rhs[i] += wx * centre;
        const rowOffset = i * m;
        for (let j = i; j < m; j++) gram[rowOffset + j] += wx * neighbours[j];
      }
    }
  }
  sums.sumW = sumW;
  sums.sumWR2 = sumWR2;
}
