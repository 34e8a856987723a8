/**
 * Convolutional traces (Guarnera, Giudice & Battiato 2020, "Fighting deepfake by exposing the
 * convolutional traces on images"): per colour channel, EM estimates the N×N kernel k that best
 * predicts each pixel from its neighbours, I(x,y) = Σ k(s,t)·I(x+s,y+t) + n, with the pixels split
 * into a correlated class M1 (Gaussian residual, σ) and an outlier class M2 (uniform, p0).
 * The kernels of all channels, concatenated, are the image's feature vector.
 */
import type { RawImage } from '../images/raw-image.js';
import { LensembleError } from '../util/errors.js';
import { createRng, deriveSeed } from '../util/rng.js';
import { copyChannel, kernelOffsets, type ChannelView, type PixelGrid, type ValueRange } from './em-channel.js';
import { accumulateNormalEquations, createSums } from './em-normal-equations.js';
import { solveWeightedLeastSquares } from './em-solve.js';
import { bindWasmPass, maxWasmKernelSize, maxWasmPixels, wasmSimdAvailable, type BoundPass, type PassFunction } from './em-wasm.js';
import { float32PassApplies, type Float32PassFunction } from './em-float32.js';
import { bindNativePass, nativeEmStatus } from './em-native.js';
import { bindFloat32Pass } from './em-wasm32.js';

export { kernelOffsets };

export interface TraceOptions {
  /** N: the kernel is N×N (centre weight fixed at 0). Even N uses offsets −⌊N/2⌋ … N−⌊N/2⌋−1. */
  kernelSize: number;
  /** Initial standard deviation of the M1 (Gaussian) residual. */
  sigma0: number;
  /** Density of the M2 (outlier) class: uniform over 256 grey levels. */
  p0: number;
  /** Stop once max|k_new − k_old| < tolerance. */
  tolerance: number;
  maxIterations: number;
  /** Seeds the random initial kernel; each channel derives its own seed from it. */
  seed: number;
  /** Append each channel's final σ to the features. */
  appendSigma: boolean;
  /** Append each channel's iteration count to the features. */
  appendIterations: boolean;
}

export const defaultTraceOptions: TraceOptions = Object.freeze({
  kernelSize: 3,
  sigma0: 0.75,
  p0: 1 / 256,
  tolerance: 1e-3,
  maxIterations: 100,
  seed: 0,
  appendSigma: false,
  appendIterations: false,
});

/**
 * Numerical guards, not part of the paper's model (bench/em_reference.py mirrors them).
 * - relativeRidge: XᵀWX is singular when the neighbours are linearly dependent (flat regions,
 *   a two-level image): we always add relativeRidge·trace/m to its diagonal (1 if the trace is 0,
 *   i.e. all neighbours are black). At 1e-10 of the mean diagonal it moves real kernels by ~1e-7.
 * - sigmaFloor: σ = 0 (a perfect fit) would make the next E-step 0/0, so σ never drops below it.
 * - minWeightSum: when Σw falls below it no pixel is explained by the Gaussian class (all weights
 *   underflowed); that iteration then weighs every pixel 1 (plain least squares) so EM can recover.
 */
export const emGuards = Object.freeze({ relativeRidge: 1e-10, sigmaFloor: 1e-6, minWeightSum: 1e-200 });

/** What EM found for one channel. */
export interface ChannelTrace {
  /** N×N, row-major (index (dy−lo)·N + (dx−lo)), centre 0. */
  kernel: Float64Array;
  /** The σ of the Gaussian class estimated by the last M-step. */
  sigma: number;
  /** EM iterations run (0 for a constant channel). */
  iterations: number;
  /** Whether it stopped on the tolerance rather than on maxIterations. */
  converged: boolean;
}

export interface ImageTrace {
  features: Float32Array;
  channels: ChannelTrace[];
}

export function resolveTraceOptions(options: Partial<TraceOptions> = {}): TraceOptions {
  const o = { ...defaultTraceOptions, ...options };
  const fail = (what: string) => {
    throw new LensembleError(`EM trace option ${what}`);
  };
  if (!Number.isInteger(o.kernelSize) || o.kernelSize < 2 || o.kernelSize > 15)
    fail(`kernelSize must be an integer in 2..15, got ${o.kernelSize}`);
  if (!(o.sigma0 > 0) || !Number.isFinite(o.sigma0)) fail(`sigma0 must be a positive number, got ${o.sigma0}`);
  if (!(o.p0 > 0) || !Number.isFinite(o.p0)) fail(`p0 must be a positive number, got ${o.p0}`);
  if (!(o.tolerance >= 0) || !Number.isFinite(o.tolerance)) fail(`tolerance must be >= 0, got ${o.tolerance}`);
  if (!Number.isInteger(o.maxIterations) || o.maxIterations < 1)
    fail(`maxIterations must be a positive integer, got ${o.maxIterations}`);
  if (!Number.isInteger(o.seed)) fail(`seed must be an integer, got ${o.seed}`);
  return o;
}

/** The seed channel `channel` of an image starts from, derived from options.seed. */
export function channelSeed(seed: number, channel: number): number {
  return deriveSeed(seed, 'em-trace', channel);
}

/** The random initial kernel (the N²−1 non-centre weights, raster order), normalised to sum 1. */
export function initialKernel(kernelSize: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const k = new Float64Array(kernelSize * kernelSize - 1);
  let sum = 0;
  for (let i = 0; i < k.length; i++) {
    k[i] = rng.next();
    sum += k[i];
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

function pixelGrid(width: number, height: number, n: number): PixelGrid {
  const offs = kernelOffsets(n);
  const lo = offs[0];
  const hi = offs[n - 1];
  if (width + lo - hi <= 0 || height + lo - hi <= 0) {
    throw new LensembleError(
      `EM trace: the image is ${width}×${height}, smaller than the ${n}×${n} kernel, so no pixel has a full neighbourhood`,
    );
  }
  const neighbourOffsets: number[] = [];
  for (const dy of offs) for (const dx of offs) if (dx !== 0 || dy !== 0) neighbourOffsets.push(dy * width + dx);
  const interior = { x0: -lo, x1: width - hi, y0: -lo, y1: height - hi };
  return { width, height, ...interior, neighbourOffsets: Int32Array.from(neighbourOffsets) };
}

/** Larger values would overflow R² (∞·0 = NaN in the sums); pixels are meant to be 0–255. */
const MAX_PIXEL_MAGNITUDE = 1e100;

function checkRange({ min, max }: ValueRange): void {
  if (!(min >= -MAX_PIXEL_MAGNITUDE && max <= MAX_PIXEL_MAGNITUDE)) {
    const bad = Number.isNaN(min) ? NaN : min < -MAX_PIXEL_MAGNITUDE ? min : max;
    throw new LensembleError(`EM trace: the channel holds ${bad}; values must be finite, within ±${MAX_PIXEL_MAGNITUDE}`);
  }
}

/**
 * Which implementation of the per-iteration pass to use. 'auto': a float32 pass for 8-bit channels
 * — the native addon's (em-native.ts) where it loaded, else WebAssembly SIMD's (em-wasm32.ts) —
 * with the float64 pass for the iterations it declines; 'native' and 'wasm32': that float32 pass
 * (and the float64 one where it declines); 'wasm': the float64 WebAssembly SIMD pass throughout;
 * 'js': the TypeScript float64 pass. LENSEMBLE_EM_BACKEND (native, wasm32 or wasm) replaces 'auto'.
 */
export type EmBackend = 'auto' | 'native' | 'wasm32' | 'wasm' | 'js';

const forcibleBackends: readonly EmBackend[] = ['native', 'wasm32', 'wasm'];

/** 'auto' as LENSEMBLE_EM_BACKEND sets it; any other backend as asked. */
export function resolveEmBackend(backend: EmBackend = 'auto'): EmBackend {
  const forced = process.env.LENSEMBLE_EM_BACKEND;
  if (backend !== 'auto' || !forced || forced === 'auto') return backend;
  if (!(forcibleBackends as string[]).includes(forced)) {
    throw new LensembleError(`LENSEMBLE_EM_BACKEND must be one of auto, ${forcibleBackends.join(', ')}; got ${forced}`);
  }
  return forced as EmBackend;
}

/** The passes bound to one channel. */
interface ChannelPasses {
  range: ValueRange;
  /** The float32 pass, where it applies; it declines (false) iterations it cannot do accurately. */
  fast?: Float32PassFunction;
  /** The float64 pass (WebAssembly SIMD or TypeScript), bound on first use. */
  precise: () => PassFunction;
}

function bindFastPass(channel: ChannelView, grid: PixelGrid, n: number, backend: EmBackend) {
  if (!float32PassApplies(channel, grid, n)) return undefined;
  // Forced, a missing addon is an error (nativeEmIsa says why); in 'auto' it means WebAssembly.
  if (backend === 'native' || (backend === 'auto' && nativeEmStatus().loaded)) return bindNativePass(channel, grid, n);
  if ((backend === 'auto' || backend === 'wasm32') && wasmSimdAvailable()) return bindFloat32Pass(channel, grid, n);
  return undefined;
}

function bindPasses(channel: ChannelView, grid: PixelGrid, n: number, backend: EmBackend): ChannelPasses {
  const fast = backend === 'wasm' || backend === 'js' ? undefined : bindFastPass(channel, grid, n, backend);
  if (fast) {
    let precise: PassFunction | undefined;
    return { range: fast.range, fast: fast.pass, precise: () => (precise ??= bindPrecisePass(channel, grid, n, backend).pass) };
  }
  const bound = bindPrecisePass(channel, grid, n, backend);
  return { range: bound.range, precise: () => bound.pass };
}

function bindPrecisePass(channel: ChannelView, grid: PixelGrid, n: number, backend: EmBackend): BoundPass {
  const simd = wasmSimdAvailable();
  const wasmFits = simd && n <= maxWasmKernelSize && grid.width * grid.height <= maxWasmPixels;
  if (backend === 'wasm' && !wasmFits) {
    throw new LensembleError(
      `EM trace: no WebAssembly SIMD pass for this channel (SIMD ${simd ? 'available' : 'unavailable'}, ` +
        `N=${n} of at most ${maxWasmKernelSize}, ${grid.width}×${grid.height} pixels of at most ${maxWasmPixels})`,
    );
  }
  if (backend === 'js' || !wasmFits) {
    const pixels = new Float64Array(grid.width * grid.height);
    const range = copyChannel(channel, pixels);
    return { pass: (kernel, params, sums) => accumulateNormalEquations(pixels, grid, kernel, params, sums), range };
  }
  return bindWasmPass(channel, grid, n);
}

/** The N²−1 non-centre weights placed into an N×N kernel with a 0 centre. */
function withCentre(weights: Float64Array, n: number): Float64Array {
  const kernel = new Float64Array(n * n);
  const centre = Math.floor(n / 2) * n + Math.floor(n / 2);
  for (let i = 0, j = 0; i < kernel.length; i++) if (i !== centre) kernel[i] = weights[j++];
  return kernel;
}

/**
 * EM for one channel (values 0–255, row-major, width×height). The random initial kernel comes
 * from options.seed (extractTraces derives one seed per channel).
 *
 * Order within an iteration: the E-step computes R = y − Xk with the current k and σ and the
 * weights w; the M-step solves the new k by weighted least squares and sets σ² = Σw·R²/Σw from
 * that same R and w (the residual the weights were computed from, as in Popescu & Farid's EM
 * that Guarnera et al. follow); the paper leaves this order implicit.
 *
 * A constant channel has nothing to estimate: every kernel summing to 1 predicts it exactly.
 * It returns the uniform kernel 1/(N²−1) with σ 0, 0 iterations, converged.
 */
export function estimateChannelKernel(
  channel: Float64Array | Uint8Array,
  width: number,
  height: number,
  options: Partial<TraceOptions> = {},
  backend: EmBackend = 'auto',
): ChannelTrace {
  if (channel.length !== width * height) {
    throw new LensembleError(`EM trace: the channel has ${channel.length} values, expected ${width}×${height}`);
  }
  const view = { data: channel, offset: 0, step: 1 };
  return estimateChannelView(view, width, height, resolveTraceOptions(options), resolveEmBackend(backend));
}

function estimateChannelView(
  channel: ChannelView,
  width: number,
  height: number,
  o: TraceOptions,
  backend: EmBackend,
): ChannelTrace {
  const n = o.kernelSize;
  const m = n * n - 1;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new LensembleError(`EM trace: bad image size ${width}×${height}`);
  }
  const grid = pixelGrid(width, height, n);
  const passes = bindPasses(channel, grid, n, backend);
  const { range } = passes;
  checkRange(range);
  if (range.min === range.max) {
    return { kernel: withCentre(new Float64Array(m).fill(1 / m), n), sigma: 0, iterations: 0, converged: true };
  }

  let k: Float64Array = initialKernel(n, o.seed);
  let next: Float64Array = new Float64Array(m);
  let sigma = o.sigma0;
  const sums = createSums(m);
  for (let iteration = 1; iteration <= o.maxIterations; iteration++) {
    const weighted = { sigma, p0: o.p0, uniformWeights: false };
    if (!passes.fast?.(k, weighted, sums)) passes.precise()(k, weighted, sums);
    if (!(sums.sumW >= emGuards.minWeightSum)) passes.precise()(k, { ...weighted, uniformWeights: true }, sums);
    solveWeightedLeastSquares(sums, m, emGuards.relativeRidge, next);
    sigma = Math.max(Math.sqrt(sums.sumWR2 / sums.sumW), emGuards.sigmaFloor);
    let change = 0;
    for (let i = 0; i < m; i++) change = Math.max(change, Math.abs(next[i] - k[i]));
    [k, next] = [next, k];
    if (change < o.tolerance) return { kernel: withCentre(k, n), sigma, iterations: iteration, converged: true };
  }
  return { kernel: withCentre(k, n), sigma, iterations: o.maxIterations, converged: false };
}

function checkImage(image: RawImage): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(channels) || channels < 1) throw new LensembleError(`EM trace: bad channel count ${channels}`);
  if (data.length !== width * height * channels) {
    throw new LensembleError(
      `EM trace: the image has ${data.length} bytes, expected ${width}×${height}×${channels} = ${width * height * channels}`,
    );
  }
}

/** Values per channel in the feature vector. */
export function featuresPerChannel(options: Partial<TraceOptions> = {}): number {
  const o = resolveTraceOptions(options);
  return o.kernelSize * o.kernelSize - 1 + (o.appendSigma ? 1 : 0) + (o.appendIterations ? 1 : 0);
}

/** Packs channel traces into the feature vector: per channel, its kernel (no centre), then σ and iterations if asked. */
export function traceFeatures(channels: ChannelTrace[], options: Partial<TraceOptions> = {}): Float32Array {
  const o = resolveTraceOptions(options);
  const n = o.kernelSize;
  const centre = Math.floor(n / 2) * n + Math.floor(n / 2);
  const features = new Float32Array(channels.length * featuresPerChannel(o));
  let f = 0;
  for (const trace of channels) {
    for (let i = 0; i < n * n; i++) if (i !== centre) features[f++] = trace.kernel[i];
    if (o.appendSigma) features[f++] = trace.sigma;
    if (o.appendIterations) features[f++] = trace.iterations;
  }
  return features;
}

/** EM traces of every channel of an image (RGB: R, G, B; grayscale: one) and its feature vector. */
export function extractTraces(image: RawImage, options: Partial<TraceOptions> = {}, backend: EmBackend = 'auto'): ImageTrace {
  const o = resolveTraceOptions(options);
  checkImage(image);
  const resolved = resolveEmBackend(backend);
  const channels: ChannelTrace[] = [];
  for (let c = 0; c < image.channels; c++) {
    const seed = channelSeed(o.seed, c);
    const view = { data: image.data, offset: c, step: image.channels };
    channels.push(estimateChannelView(view, image.width, image.height, { ...o, seed }, resolved));
  }
  return { features: traceFeatures(channels, o), channels };
}

function channelNames(channels: number): string[] {
  if (channels === 1) return ['L'];
  if (channels === 3) return ['R', 'G', 'B'];
  if (channels === 4) return ['R', 'G', 'B', 'A'];
  return Array.from({ length: channels }, (_, c) => `c${c}`);
}

/** Names matching the feature vector: `R k(dx,dy)` (dx the column offset, dy the row offset), `R sigma`, `R iterations`. */
export function traceFeatureNames(options: Partial<TraceOptions>, channels: number): string[] {
  const o = resolveTraceOptions(options);
  const offs = kernelOffsets(o.kernelSize);
  const names: string[] = [];
  for (const name of channelNames(channels)) {
    for (const dy of offs) for (const dx of offs) if (dx !== 0 || dy !== 0) names.push(`${name} k(${dx},${dy})`);
    if (o.appendSigma) names.push(`${name} sigma`);
    if (o.appendIterations) names.push(`${name} iterations`);
  }
  return names;
}
