import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  channelSeed,
  defaultTraceOptions,
  estimateChannelKernel,
  extractTraces,
  initialKernel,
  kernelOffsets,
  traceFeatureNames,
  type ImageTrace,
} from '../src/forensics/em-trace.js';
import { createTracePool, type TracePool } from '../src/forensics/trace-pool.js';
import type { RawImage } from '../src/images/raw-image.js';
import { createRng } from '../src/util/rng.js';
import { decodeRgb as decode, FACES_DIR as FACES, texturedImage } from './support/em-images.js';

/**
 * A Gaussian Markov random field on a torus whose conditional mean is exactly Σ k(s,t)·I(x+s,y+t)
 * (k centre 0, centrosymmetric, Σ|k| < 1), drawn by Gibbs sampling from seeded noise. Least squares on
 * the neighbours is unbiased for such a field, so EM must find k. (Noise merely convolved with k is
 * not: its best neighbour predictor is a different kernel.)
 */
function markovField(size: number, kernel: number[][], seed: number, sweeps = 40, tau = 2): Float64Array {
  const offs = kernelOffsets(kernel.length);
  const rng = createRng(seed);
  const img = new Float64Array(size * size);
  const taps: { dx: number; dy: number; w: number }[] = [];
  offs.forEach((dy, r) => offs.forEach((dx, c) => kernel[r][c] !== 0 && taps.push({ dx, dy, w: kernel[r][c] })));
  const flat = Int32Array.from(taps, (t) => t.dy * size + t.dx);
  const weights = Float64Array.from(taps, (t) => t.w);
  const reach = Math.max(...offs.map(Math.abs));
  for (let s = 0; s < sweeps; s++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = y * size + x;
        let v = 0;
        if (y >= reach && y < size - reach && x >= reach && x < size - reach) {
          for (let i = 0; i < flat.length; i++) v += weights[i] * img[p + flat[i]];
        } else {
          for (const t of taps) v += t.w * img[((y + t.dy + size) % size) * size + ((x + t.dx + size) % size)];
        }
        img[p] = v + tau * rng.normal();
      }
    }
  }
  return img;
}

const k3 = [
  [0.05, 0.15, -0.05],
  [0.3, 0, 0.3],
  [-0.05, 0.15, 0.05],
];
const k5 = [
  [0.01, -0.02, 0.03, 0.02, -0.01],
  [0.02, 0.06, 0.1, 0.04, 0.01],
  [0.04, 0.15, 0, 0.15, 0.04],
  [0.01, 0.04, 0.1, 0.06, 0.02],
  [-0.01, 0.02, 0.03, -0.02, 0.01],
];

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};



/**
 * The algorithm written the obvious way (X built row by row, normal equations by Gaussian
 * elimination), to pin down the order of the E- and M-steps of the fast implementation.
 */
function naiveEm(px: Float64Array, width: number, height: number, n: number, seed: number, iterations: number) {
  const offs = kernelOffsets(n);
  const lo = offs[0];
  const hi = offs[n - 1];
  const rows: number[][] = [];
  const ys: number[] = [];
  for (let y = -lo; y < height - hi; y++) {
    for (let x = -lo; x < width - hi; x++) {
      const row: number[] = [];
      for (const dy of offs) for (const dx of offs) if (dx || dy) row.push(px[(y + dy) * width + x + dx]);
      rows.push(row);
      ys.push(px[y * width + x]);
    }
  }
  const m = n * n - 1;
  let k = Array.from(initialKernel(n, seed));
  let sigma = defaultTraceOptions.sigma0;
  const p0 = defaultTraceOptions.p0;
  for (let it = 0; it < iterations; it++) {
    const r = rows.map((row, i) => ys[i] - row.reduce((s, v, j) => s + v * k[j], 0));
    const w = r.map((ri) => {
      const p1 = Math.exp(-(ri * ri) / (2 * sigma * sigma)) / (sigma * Math.sqrt(2 * Math.PI));
      return p1 / (p1 + p0);
    });
    // [XᵀWX | XᵀWy], then Gaussian elimination and back substitution
    const a = Array.from({ length: m }, (_, i) =>
      Array.from({ length: m + 1 }, (_, j) => rows.reduce((s, row, p) => s + w[p] * row[i] * (j < m ? row[j] : ys[p]), 0)),
    );
    for (let c = 0; c < m; c++) {
      for (let r2 = c + 1; r2 < m; r2++) {
        const f = a[r2][c] / a[c][c];
        for (let j = c; j <= m; j++) a[r2][j] -= f * a[c][j];
      }
    }
    const next = new Array<number>(m).fill(0);
    for (let i = m - 1; i >= 0; i--) {
      let s = a[i][m];
      for (let j = i + 1; j < m; j++) s -= a[i][j] * next[j];
      next[i] = s / a[i][i];
    }
    const sw = w.reduce((s, v) => s + v, 0);
    sigma = Math.sqrt(w.reduce((s, v, p) => s + v * r[p] * r[p], 0) / sw);
    k = next;
  }
  return { k, sigma };
}

describe('EM trace geometry and options', () => {
  it('uses offsets −⌊N/2⌋ … N−⌊N/2⌋−1, also for even N', () => {
    expect(kernelOffsets(3)).toEqual([-1, 0, 1]);
    expect(kernelOffsets(4)).toEqual([-2, -1, 0, 1]);
    expect(kernelOffsets(5)).toEqual([-2, -1, 0, 1, 2]);
    expect(kernelOffsets(7)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
  });

  it('names every feature, channel by channel, without the centre', () => {
    const names = traceFeatureNames({}, 3);
    expect(names).toHaveLength(24);
    expect(names.slice(0, 8)).toEqual([
      'R k(-1,-1)',
      'R k(0,-1)',
      'R k(1,-1)',
      'R k(-1,0)',
      'R k(1,0)',
      'R k(-1,1)',
      'R k(0,1)',
      'R k(1,1)',
    ]);
    expect(names[8]).toBe('G k(-1,-1)');
    expect(names[23]).toBe('B k(1,1)');
    const even = traceFeatureNames({ kernelSize: 4, appendSigma: true, appendIterations: true }, 1);
    expect(even).toHaveLength(17);
    expect(even[0]).toBe('L k(-2,-2)');
    expect(even).not.toContain('L k(0,0)');
    expect(even.slice(-3)).toEqual(['L k(1,1)', 'L sigma', 'L iterations']);
  });

  it('refuses bad options with a message naming them', () => {
    const img = texturedImage(16, 16, 1, 1);
    expect(() => extractTraces(img, { kernelSize: 1 })).toThrow(/kernelSize/);
    expect(() => extractTraces(img, { p0: 0 })).toThrow(/p0/);
    expect(() => extractTraces(img, { sigma0: -1 })).toThrow(/sigma0/);
    expect(() => extractTraces(img, { maxIterations: 0 })).toThrow(/maxIterations/);
  });
});

describe('EM recovers a known kernel', () => {
  it('3×3: max abs error < 0.02', () => {
    const size = 256;
    const field = markovField(size, k3, 11);
    const trace = estimateChannelKernel(field, size, size, { kernelSize: 3, seed: 1 });
    expect(trace.converged).toBe(true);
    expect(trace.kernel[4]).toBe(0);
    expect(maxAbsDiff(trace.kernel, k3.flat())).toBeLessThan(0.02);
    expect(trace.sigma).toBeGreaterThan(1.5);
    expect(trace.sigma).toBeLessThan(2.2);
  });

  it('5×5: max abs error < 0.02', () => {
    const size = 256;
    const field = markovField(size, k5, 12);
    const trace = estimateChannelKernel(field, size, size, { kernelSize: 5, seed: 2 });
    expect(trace.converged).toBe(true);
    expect(maxAbsDiff(trace.kernel, k5.flat())).toBeLessThan(0.02);
  });

  it('even N=4 places the 3×3 kernel at offsets −1…1 and zeros at −2', () => {
    // The field's best predictor from a 4×4 neighbourhood (offsets −2…1) is still k3, padded with
    // zeros in row and column −2: a wrong offset convention cannot produce this.
    const size = 256;
    const field = markovField(size, k3, 13);
    const trace = estimateChannelKernel(field, size, size, { kernelSize: 4, seed: 3 });
    const expected = [0, 0, 0, 0, ...k3.flatMap((row) => [0, ...row])];
    expect(trace.kernel).toHaveLength(16);
    expect(trace.kernel[2 * 4 + 2]).toBe(0);
    expect(maxAbsDiff(trace.kernel, expected)).toBeLessThan(0.02);
  });

  it('follows the textbook E-step/M-step order exactly (σ from the E-step residual)', () => {
    const img = texturedImage(24, 20, 1, 4);
    const px = Float64Array.from(img.data);
    for (const iterations of [1, 2, 4]) {
      const fast = estimateChannelKernel(px, 24, 20, { seed: 9, maxIterations: iterations, tolerance: 0 });
      const slow = naiveEm(px, 24, 20, 3, 9, iterations);
      expect(fast.iterations).toBe(iterations);
      expect(fast.converged).toBe(false);
      expect(maxAbsDiff(fast.kernel.filter((_, i) => i !== 4), slow.k)).toBeLessThan(1e-7);
      expect(Math.abs(fast.sigma - slow.sigma)).toBeLessThan(1e-7);
    }
  });
});

describe('extractTraces', () => {
  it('RGB: 24 features, one converged trace per channel, deterministic per seed', () => {
    const img = texturedImage(40, 30, 3, 5);
    const a = extractTraces(img, { seed: 7 });
    const b = extractTraces(img, { seed: 7 });
    expect(a.features).toHaveLength(24);
    expect(a.channels).toHaveLength(3);
    expect(Array.from(a.features)).toEqual(Array.from(b.features));
    for (const c of a.channels) {
      expect(c.kernel).toHaveLength(9);
      expect(c.kernel[4]).toBe(0);
      expect(Number.isFinite(c.sigma)).toBe(true);
      expect(c.iterations).toBeGreaterThan(0);
      expect(c.converged).toBe(true);
    }
    // Each channel starts from its own random kernel, and another seed starts elsewhere.
    expect(initialKernel(3, channelSeed(7, 0))).not.toEqual(initialKernel(3, channelSeed(7, 1)));
    expect(initialKernel(3, channelSeed(7, 0))).not.toEqual(initialKernel(3, channelSeed(8, 0)));
    const k0 = initialKernel(3, channelSeed(7, 0));
    expect(k0.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
  });

  it('appends σ and the iteration count per channel when asked', () => {
    const img = texturedImage(40, 30, 3, 6);
    const plain = extractTraces(img);
    const full = extractTraces(img, { appendSigma: true, appendIterations: true });
    expect(full.features).toHaveLength(30);
    expect(Array.from(full.features.slice(0, 8))).toEqual(Array.from(plain.features.slice(0, 8)));
    expect(full.features[8]).toBeCloseTo(full.channels[0].sigma, 4);
    expect(full.features[9]).toBe(full.channels[0].iterations);
    expect(full.features[19]).toBe(full.channels[1].iterations);
  });

  it('grayscale: one channel', () => {
    const img = texturedImage(33, 27, 1, 7);
    const t = extractTraces(img);
    expect(t.channels).toHaveLength(1);
    expect(t.features).toHaveLength(8);
    expect(traceFeatureNames({}, 1)[0]).toBe('L k(-1,-1)');
  });

  it('the WebAssembly SIMD pass matches the TypeScript pass (odd widths, N = 3, 4, 5, 7)', () => {
    for (const [n, width] of [
      [3, 41],
      [4, 40],
      [5, 45],
      [7, 38],
    ]) {
      const img = texturedImage(width, 31, 3, 100 + n);
      const wasm = extractTraces(img, { kernelSize: n }, 'wasm');
      const js = extractTraces(img, { kernelSize: n }, 'js');
      expect(wasm.channels.map((c) => c.iterations)).toEqual(js.channels.map((c) => c.iterations));
      expect(maxAbsDiff(wasm.features, js.features)).toBeLessThan(1e-6);
      for (let c = 0; c < 3; c++) {
        expect(maxAbsDiff(wasm.channels[c].kernel, js.channels[c].kernel)).toBeLessThan(1e-9);
        expect(Math.abs(wasm.channels[c].sigma - js.channels[c].sigma)).toBeLessThan(1e-9);
      }
    }
  });
});

describe('degenerate images', () => {
  const finite = (t: ImageTrace) =>
    Array.from(t.features).every(Number.isFinite) &&
    t.channels.every((c) => Array.from(c.kernel).every(Number.isFinite) && Number.isFinite(c.sigma));

  it('a constant image gives the uniform kernel, σ 0, no iterations', () => {
    for (const value of [0, 77, 255]) {
      const img: RawImage = { data: new Uint8Array(16 * 16 * 3).fill(value), width: 16, height: 16, channels: 3 };
      const t = extractTraces(img);
      expect(finite(t)).toBe(true);
      expect(Array.from(t.features)).toEqual(new Array(24).fill(Math.fround(1 / 8)));
      expect(t.channels.map((c) => [c.sigma, c.iterations, c.converged])).toEqual(new Array(3).fill([0, 0, true]));
    }
  });

  it('an image smaller than N×N is refused with the reason', () => {
    const img: RawImage = { data: new Uint8Array(2 * 2 * 3).fill(9), width: 2, height: 2, channels: 3 };
    expect(() => extractTraces(img)).toThrow(/2×2, smaller than the 3×3 kernel/);
    expect(() => extractTraces(texturedImage(4, 9, 1, 1), { kernelSize: 5 })).toThrow(/smaller than the 5×5 kernel/);
  });

  it('singular normal equations (one interior pixel, two grey levels, a lone dot) stay finite', () => {
    const tiny = texturedImage(3, 3, 3, 8);
    const squares = new Uint8Array(20 * 20).map((_, i) => (((i % 20) + Math.floor(i / 20)) % 2 ? 255 : 0));
    const checker: RawImage = { data: squares, width: 20, height: 20, channels: 1 };
    const dot: RawImage = { data: new Uint8Array(9 * 9), width: 9, height: 9, channels: 1 };
    dot.data[40] = 200;
    for (const img of [tiny, checker, dot]) expect(finite(extractTraces(img))).toBe(true);
  });

  it('weights that all underflow fall back to plain least squares instead of 0/0', () => {
    const img = texturedImage(31, 30, 1, 9);
    const t = extractTraces(img, { sigma0: 1e-6 });
    expect(finite(t)).toBe(true);
    expect(t.channels[0].sigma).toBeGreaterThan(0.1);
    // One iteration from σ0 = 1e-6 (every weight underflows) is ordinary least squares, which a
    // huge σ0 (all weights equal to ~1e-12 relative) also gives.
    const px = Float64Array.from(img.data);
    const fallback = estimateChannelKernel(px, 31, 30, { sigma0: 1e-6, maxIterations: 1 });
    const flat = estimateChannelKernel(px, 31, 30, { sigma0: 1e6, maxIterations: 1 });
    expect(maxAbsDiff(fallback.kernel, flat.kernel)).toBeLessThan(1e-8);
    // Both float64 implementations of the uniform-weight pass agree (and the float32 pass, which
    // hands such iterations to them, lands within its own tolerance).
    const js = extractTraces(img, { sigma0: 1e-6 }, 'js');
    const wasm = extractTraces(img, { sigma0: 1e-6 }, 'wasm');
    expect(maxAbsDiff(js.channels[0].kernel, wasm.channels[0].kernel)).toBeLessThan(1e-9);
    expect(maxAbsDiff(wasm.channels[0].kernel, t.channels[0].kernel)).toBeLessThan(1e-5);
  });

  it('non-finite and absurdly large pixel values are refused', () => {
    const px = new Float64Array(100).fill(3);
    px[55] = Number.NaN;
    expect(() => estimateChannelKernel(px, 10, 10, {})).toThrow(/holds NaN; values must be finite/);
    px[55] = 1e200;
    expect(() => estimateChannelKernel(px, 10, 10, {})).toThrow(/holds 1e\+200/);
    px[55] = -Infinity;
    expect(() => estimateChannelKernel(px, 10, 10, {}, 'js')).toThrow(/holds -Infinity/);
  });
});

describe('trace pool', () => {
  let pool: TracePool;
  beforeAll(() => {
    pool = createTracePool(2);
  });
  afterAll(async () => {
    await pool.close();
  });

  it('gives exactly the in-thread results, for many images at once', async () => {
    const images = [0, 1, 2, 3, 4].map((s) => texturedImage(48 + s, 40, s === 4 ? 1 : 3, 200 + s));
    if (FACES && existsSync(FACES)) {
      for (const dir of ['real', 'fake']) {
        const file = readdirSync(join(FACES, dir)).sort()[0];
        images.push(await decode(join(FACES, dir, file)));
      }
    }
    const options = { seed: 3, appendSigma: true };
    const pooled = await Promise.all(images.map((img) => pool.extract(img, options)));
    images.forEach((img, i) => {
      const local = extractTraces(img, options);
      expect(Array.from(pooled[i].features)).toEqual(Array.from(local.features));
      expect(pooled[i].channels.map((c) => Array.from(c.kernel))).toEqual(local.channels.map((c) => Array.from(c.kernel)));
      const summary = (t: ImageTrace) => t.channels.map((c) => [c.sigma, c.iterations, c.converged]);
      expect(summary(pooled[i])).toEqual(summary(local));
    });
  });

  it('leaves the caller’s pixels alone unless told to hand them over', async () => {
    const img = texturedImage(20, 20, 3, 300);
    const expected = extractTraces(img).features;
    await pool.extract(img);
    expect(img.data.byteLength).toBe(20 * 20 * 3);
    const handed = await pool.extract(img, {}, true);
    expect(img.data.byteLength).toBe(0);
    expect(Array.from(handed.features)).toEqual(Array.from(expected));
  });

  it('rejects with the worker’s error message and keeps working', async () => {
    const small: RawImage = { data: new Uint8Array(2 * 2 * 3), width: 2, height: 2, channels: 3 };
    await expect(pool.extract(small)).rejects.toThrow(/smaller than the 3×3 kernel/);
    const ok = await pool.extract(texturedImage(12, 12, 3, 301));
    expect(ok.features).toHaveLength(24);
  });
});
