/**
 * What the float32 EM passes share (em-wasm32.ts in WebAssembly SIMD, em-native.ts in a native
 * addon): which channels and iterations they take, and how their centre-difference sums become the
 * weighted normal equations. With y the centre pixel and d_i = x_i − y,
 *
 *   Σw·x_i·x_j = S + T_i + T_j + D_ij,   Σw·x_i·y = S + T_i,
 *   S = Σw·y²,  T_i = Σw·y·d_i,  D_ij = Σw·d_i·d_j.
 *
 * em-wasm32.ts explains why these sums, kept short in float32 and added in float64, are accurate.
 */
import type { ChannelView, PixelGrid } from './em-channel.js';
import type { EStepParams, NormalEquationSums } from './em-normal-equations.js';

/**
 * One float32 pass; false (sums untouched or partial) where float32 would not be accurate enough
 * for this iteration, and the float64 pass must do it instead.
 */
export type Float32PassFunction = (kernel: Float64Array, params: EStepParams, sums: NormalEquationSums) => boolean;

/** Largest N the float32 passes are built for (as em-wasm.ts). */
export const maxFloat32KernelSize = 7;
/** Channels up to this size fit the passes' 32-bit indexing with room to spare. */
export const maxFloat32Pixels = 2 ** 27;
/**
 * Below this σ a residual's float32 rounding (~1e-6 grey levels) starts to matter to the weights
 * (relative error ≈ 3·δR/σ), so such iterations run in float64. Photos stay far above it.
 */
export const minFloat32Sigma = 0.25;
/**
 * A float32 weight is 0 once u = −R²/2σ² · log2(e) < −100 (w < 2⁻¹⁰⁰·density/p0); all those
 * together weigh < 1e-20 of Σw when Σw is at least this, so the float32 sums stand. Below it (every
 * pixel far out in the tail), the iteration runs in float64.
 */
export const minFloat32WeightSum = 1e-3;

/** Whether a float32 pass takes this channel: 8-bit values, N ≤ 7, a channel that fits. */
export function float32PassApplies(channel: ChannelView, grid: PixelGrid, n: number): boolean {
  return channel.data instanceof Uint8Array && n <= maxFloat32KernelSize && grid.width * grid.height <= maxFloat32Pixels;
}

/** Whether this iteration must run in float64 before any float32 work (σ too small, uniform weights). */
export function float32Declines(params: EStepParams): boolean {
  return params.uniformWeights || !(params.sigma >= minFloat32Sigma);
}

/** The E-step's constants as the float32 passes take them: u = R²·log2eOver2Var, P1 = 2^u·density. */
export function float32EStepConstants(sigma: number): { log2eOver2Var: number; density: number } {
  return { log2eOver2Var: (-0.5 * Math.LOG2E) / (sigma * sigma), density: 1 / (sigma * Math.sqrt(2 * Math.PI)) };
}

/** The kernel's m weights into `out`, then 1 − Σk (the centre's coefficient in R = y·(1 − Σk) − Σk_i·d_i). */
export function writeFloat32Kernel(kernel: Float64Array, out: Float32Array): void {
  const m = kernel.length;
  let sumK = 0;
  for (let i = 0; i < m; i++) {
    out[i] = kernel[i];
    sumK += kernel[i];
  }
  out[m] = 1 - sumK;
}

/** f64 accumulators: D_ij (upper triangle with diagonal) row by row, T_i, then Σw, Σw·R², S. */
export function float32AccumulatorCount(m: number): number {
  return (m * (m + 1)) / 2 + m + 3;
}

/**
 * The normal equations from a pass's totals (`total(q)`: accumulator q in the order above); false
 * when Σw is too small for the float32 sums to stand.
 */
export function sumsFromFloat32Totals(total: (q: number) => number, m: number, sums: NormalEquationSums): boolean {
  const tri = (m * (m + 1)) / 2;
  const sumW = total(tri + m);
  if (!(sumW >= minFloat32WeightSum)) return false;
  const s = total(tri + m + 2);
  for (let i = 0, q = 0; i < m; i++) {
    const ti = total(tri + i);
    for (let j = i; j < m; j++) sums.gram[i * m + j] = s + ti + total(tri + j) + total(q++);
    sums.rhs[i] = s + ti;
  }
  sums.sumW = sumW;
  sums.sumWR2 = total(tri + m + 1);
  return true;
}
