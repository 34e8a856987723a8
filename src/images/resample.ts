import type { Interpolation } from './preprocess-spec.js';
import type { RawImage } from './raw-image.js';
import { resampleRgbWasm, type Taps, wasmResampleAvailable } from './resample-wasm.js';

/** A rectangle of the resized image, in its pixels. */
export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

const FILTERS: Record<Interpolation, { support: number; weight(x: number): number }> = {
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
  bicubic: {
    // Keys' cubic with a = -0.5 (PIL's and Catmull-Rom's choice).
    support: 2,
    weight(x) {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos3: {
    support: 3,
    weight(x) {
      if (x === 0) return 1;
      if (Math.abs(x) >= 3) return 0;
      const px = Math.PI * x;
      return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
    },
  },
};

// Intermediate rows reused between calls: a fresh ~1 MB array per image costs page faults and GC.
const scratchArrays = new Map<string, Float32Array>();
function scratch(name: string, length: number): Float32Array {
  let array = scratchArrays.get(name);
  if (!array || array.length < length) scratchArrays.set(name, (array = new Float32Array(length)));
  return array.subarray(0, length);
}


/**
 * PIL's antialiased resampling taps (ImagingResample): the filter is widened by the shrink factor so that a
 * downscale averages every input pixel it covers instead of skipping some (what torchvision/timm see).
 */
function axisTaps(inSize: number, outSize: number, offset: number, length: number, interpolation: Interpolation): Taps {
  const { support: baseSupport, weight } = FILTERS[interpolation];
  const scale = inSize / outSize;
  const widen = Math.max(scale, 1);
  const support = baseSupport * widen;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(length);
  const count = new Int32Array(length);
  const weights = new Float32Array(length * stride);
  for (let i = 0; i < length; i++) {
    const centre = (i + offset + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
    let sum = 0;
    for (let x = lo; x < hi; x++) sum += weight((x - centre + 0.5) / widen);
    for (let x = lo; x < hi; x++) weights[i * stride + x - lo] = sum === 0 ? 0 : weight((x - centre + 0.5) / widen) / sum;
    first[i] = lo;
    count[i] = hi - lo;
  }
  return { first, count, weights, stride };
}

/** The input pixels some tap reads. */
function span(taps: Taps): { first: number; end: number } {
  let first = Infinity;
  let end = 0;
  for (let i = 0; i < taps.first.length; i++) {
    first = Math.min(first, taps.first[i]);
    end = Math.max(end, taps.first[i] + taps.count[i]);
  }
  return { first, end };
}

/**
 * Resizes `src` to `scaledWidth × scaledHeight` with a separable antialiased filter and returns `window` of the
 * result (default: all of it), computing only the pixels inside the window: a centre crop costs the crop only.
 */
export function resample(
  src: RawImage,
  scaledWidth: number,
  scaledHeight: number,
  interpolation: Interpolation,
  window?: Window,
  options: { backend?: 'auto' | 'js' } = {},
): RawImage {
  const win = window ?? { left: 0, top: 0, width: scaledWidth, height: scaledHeight };
  const c = src.channels;
  const xs = axisTaps(src.width, scaledWidth, win.left, win.width, interpolation);
  const ys = axisTaps(src.height, scaledHeight, win.top, win.height, interpolation);
  const rows = span(ys);
  if (c === 3 && options.backend !== 'js' && wasmResampleAvailable()) {
    const data = resampleRgbWasm(src.data, src.width, rows, span(xs), xs, ys);
    return { data, width: win.width, height: win.height, channels: 3 };
  }
  const rowFirst = rows.first;
  const rowEnd = rows.end;
  const rowStride = win.width * c;

  // Horizontal pass over the source rows the window needs, kept in float.
  const across = scratch('across', (rowEnd - rowFirst) * rowStride);
  const data = src.data;
  const { first: xFirst, count: xCount, weights: xWeights, stride: xStride } = xs;
  for (let y = rowFirst; y < rowEnd; y++) {
    const srcRow = y * src.width * c;
    let o = (y - rowFirst) * rowStride;
    for (let i = 0; i < win.width; i++) {
      const n = xCount[i];
      const wBase = i * xStride;
      let p = srcRow + xFirst[i] * c;
      if (c === 3) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = 0; k < n; k++, p += 3) {
          const w = xWeights[wBase + k];
          r += data[p] * w;
          g += data[p + 1] * w;
          b += data[p + 2] * w;
        }
        across[o++] = r;
        across[o++] = g;
        across[o++] = b;
      } else {
        for (let ch = 0; ch < c; ch++) {
          let v = 0;
          for (let k = 0, q = p + ch; k < n; k++, q += c) v += data[q] * xWeights[wBase + k];
          across[o++] = v;
        }
      }
    }
  }

  // Vertical pass: weighted sums of whole rows, then rounded and clamped to 8 bits.
  const out = new Uint8ClampedArray(win.height * rowStride);
  const row = scratch('row', rowStride);
  const { first: yFirst, count: yCount, weights: yWeights, stride: yStride } = ys;
  for (let j = 0; j < win.height; j++) {
    const n = yCount[j];
    const wBase = j * yStride;
    const base = (yFirst[j] - rowFirst) * rowStride;
    row.fill(0);
    for (let k = 0; k < n; k++) {
      const w = yWeights[wBase + k];
      const from = base + k * rowStride;
      for (let x = 0; x < rowStride; x++) row[x] += across[from + x] * w;
    }
    out.set(row, j * rowStride); // Uint8ClampedArray rounds and clamps
  }
  return { data: new Uint8Array(out.buffer), width: win.width, height: win.height, channels: c };
}
