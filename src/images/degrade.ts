import sharp from 'sharp';
import { LensembleError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import { degradationRangeDefaults, type AugmentSpec } from './augment-spec.js';
import { decodeForScale } from './decode.js';
import type { RawImage } from './raw-image.js';
import { resampleRgbWasm, wasmResampleAvailable } from './resample-wasm.js';

/*
 * The post-processing augmentations of forensic detectors (Wang et al. 2020, "CNN-generated images are surprisingly
 * easy to spot… for now", github.com/PeterWang512/CNNDetection `data_augment`): with probability blurProb a Gaussian
 * blur, σ ~ U(blurSigma) (scipy's gaussian_filter: truncate 4σ, reflect padding), then with probability jpegProb a
 * JPEG re-compression at a quality drawn uniformly from the integers in jpegQuality. Both act on the decoded source,
 * at its own resolution, before the one geometric resampling pass: that is where a re-saved or blurred image meets
 * the model at test time, and where Wang et al. apply them (on the 256² image, before the 224 crop).
 */

/** One view's degradation draws: σ 0 means no blur, quality null no re-compression. */
export interface DegradeParams {
  blurSigma: number;
  jpegQuality: number | null;
}

export const noDegradation: DegradeParams = { blurSigma: 0, jpegQuality: null };

export function hasDegradation(spec: AugmentSpec): boolean {
  return (spec.blurProb ?? 0) > 0 || (spec.jpegProb ?? 0) > 0;
}

/**
 * Draws one view's degradations. Always four values in the same order, from an Rng of its own (not the geometric
 * one), so turning blur or JPEG on changes neither the geometric draws nor the other degradation's.
 */
export function sampleDegradeParams(spec: AugmentSpec, rng: Rng): DegradeParams {
  const [sLo, sHi] = spec.blurSigma ?? degradationRangeDefaults.blurSigma;
  const [qLo, qHi] = spec.jpegQuality ?? degradationRangeDefaults.jpegQuality;
  const blurOn = rng.next() < (spec.blurProb ?? 0);
  const sigma = rng.uniform(sLo, sHi);
  const jpegOn = rng.next() < (spec.jpegProb ?? 0);
  const quality = qLo + rng.int(qHi - qLo + 1);
  return { blurSigma: blurOn ? sigma : 0, jpegQuality: jpegOn ? quality : null };
}

/** Blur then JPEG, as Wang et al.; the image itself when neither fires. */
export async function degradeImage(image: RawImage, params: DegradeParams): Promise<RawImage> {
  let out = image;
  if (params.blurSigma > 0) out = gaussianBlur(out, params.blurSigma);
  if (params.jpegQuality !== null) out = await jpegRecompress(out, params.jpegQuality);
  return out;
}

/** scipy.ndimage's 'reflect' (half-sample symmetric: d c b a | a b c d | d c b a) for any offset. */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
}

/** scipy's `_gaussian_kernel1d`: radius int(4σ + 0.5), normalised weights. */
function gaussianWeights(sigma: number): Float32Array {
  const radius = Math.trunc(4 * sigma + 0.5);
  const w = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) sum += w[k + radius] = Math.exp((-0.5 * k * k) / (sigma * sigma));
  return Float32Array.from(w, (v) => v / sum);
}

/**
 * Gaussian blur of every channel (scipy.ndimage.gaussian_filter with its defaults: truncate 4σ, mode 'reflect'),
 * separable, with float intermediate values rounded once at the end. σ 0 returns the image unchanged. RGB images go
 * through the SIMD resampling passes (resample-wasm.ts) on a reflect-padded copy, where each output pixel's taps
 * are the Gaussian over its 2r + 1 neighbours; `backend: 'js'` forces the TypeScript passes.
 */
export function gaussianBlur(image: RawImage, sigma: number, options: { backend?: 'auto' | 'js' } = {}): RawImage {
  if (!(sigma >= 0 && Number.isFinite(sigma))) throw new LensembleError(`blur σ must be a finite number ≥ 0, got ${sigma}`);
  const w = gaussianWeights(sigma);
  const radius = (w.length - 1) / 2;
  if (radius === 0) return image;
  const { width, height, channels: ch, data } = image;
  if (data.length !== width * height * ch) throw new LensembleError(`image data has ${data.length} bytes, expected ${width}x${height}x${ch}`);
  if (ch === 3 && options.backend !== 'js' && wasmResampleAvailable()) return blurRgbWasm(image, w, radius);
  const rowLen = width * ch;

  // Horizontal pass: each row copied once into a buffer with reflected margins, then a straight dot product.
  const horizontal = new Float64Array(width * height * ch);
  const padded = new Float64Array((width + 2 * radius) * ch);
  const columns = Int32Array.from({ length: width + 2 * radius }, (_, x) => reflectIndex(x - radius, width));
  for (let y = 0; y < height; y++) {
    const row = y * rowLen;
    for (let x = 0; x < columns.length; x++) {
      const s = row + columns[x] * ch;
      for (let c = 0; c < ch; c++) padded[x * ch + c] = data[s + c];
    }
    // The kernel is symmetric: one multiply per pair of taps.
    for (let i = 0; i < rowLen; i++) {
      const centre = i + radius * ch;
      let sum = w[radius] * padded[centre];
      for (let k = 1, d = ch; k <= radius; k++, d += ch) sum += w[radius + k] * (padded[centre - d] + padded[centre + d]);
      horizontal[row + i] = sum;
    }
  }

  // Vertical pass: whole rows at a time, reflected row indices.
  const out = new Uint8Array(data.length);
  const acc = new Float64Array(rowLen);
  for (let y = 0; y < height; y++) {
    const mid = y * rowLen;
    const w0 = w[radius];
    for (let i = 0; i < rowLen; i++) acc[i] = w0 * horizontal[mid + i];
    for (let k = 1; k <= radius; k++) {
      const above = reflectIndex(y - k, height) * rowLen;
      const below = reflectIndex(y + k, height) * rowLen;
      const wk = w[radius + k];
      for (let i = 0; i < rowLen; i++) acc[i] += wk * (horizontal[above + i] + horizontal[below + i]);
    }
    const row = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      const v = acc[i] + 0.5;
      out[row + i] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    }
  }
  return { data: out, width, height, channels: ch };
}

/** The image with `radius` reflected pixels (scipy's 'reflect') added on every side. */
function reflectPadded(image: RawImage, radius: number): RawImage {
  const { width, height, data } = image;
  const pw = width + 2 * radius;
  const ph = height + 2 * radius;
  const out = new Uint8Array(pw * ph * 3);
  const columns = Int32Array.from({ length: pw }, (_, x) => reflectIndex(x - radius, width) * 3);
  for (let y = 0; y < ph; y++) {
    const src = reflectIndex(y - radius, height) * width * 3;
    const dst = y * pw * 3;
    for (let x = 0; x < pw; x++) {
      const s = src + columns[x];
      const d = dst + x * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { data: out, width: pw, height: ph, channels: 3 };
}

function blurRgbWasm(image: RawImage, w: Float32Array, radius: number): RawImage {
  const { width, height } = image;
  const padded = reflectPadded(image, radius);
  const taps = (n: number) => ({
    first: Int32Array.from({ length: n }, (_, i) => i),
    count: new Int32Array(n).fill(w.length),
    weights: (() => {
      const all = new Float32Array(n * w.length);
      for (let i = 0; i < n; i++) all.set(w, i * w.length);
      return all;
    })(),
    stride: w.length,
  });
  const out = resampleRgbWasm(padded.data, padded.width, { first: 0, end: padded.height }, { first: 0, end: padded.width }, taps(width), taps(height));
  return { data: out, width, height, channels: 3 };
}

/**
 * Encodes the image as a JPEG with sharp (libvips' mozjpeg at `quality`, 4:2:0 chroma as PIL and OpenCV by
 * default) and decodes it again with the project's decoders (mozjpeg in WebAssembly for small files, whose pixels
 * are sharp's own, else sharp).
 */
export async function jpegRecompress(image: RawImage, quality: number): Promise<RawImage> {
  if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100)) throw new LensembleError(`JPEG quality must be an integer in 1..100, got ${quality}`);
  const { width, height, channels } = image;
  if (channels !== 1 && channels !== 3) throw new LensembleError(`JPEG re-compression takes grey or RGB images, got ${channels} channels`);
  const encoded = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), { raw: { width, height, channels } })
    .jpeg({ quality })
    .toBuffer();
  const decoded = await decodeForScale(encoded, `(JPEG re-compression at quality ${quality})`);
  if (decoded.width !== width || decoded.height !== height) throw new LensembleError(`JPEG re-compression changed the size ${width}x${height} to ${decoded.width}x${decoded.height}`);
  return decoded;
}

/** What the degraded views' pixels depend on beyond the spec: the JPEG encoder (joins the feature-cache key). */
export const JPEG_ENCODER = `sharp ${sharp.versions.sharp ?? '?'} mozjpeg ${sharp.versions.mozjpeg ?? '?'}`;
