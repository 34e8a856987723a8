import { describe, expect, it } from 'vitest';
import { extractTraces, type ImageTrace } from '../src/forensics/em-trace.js';
import { bindFloat32Pass } from '../src/forensics/em-wasm32.js';
import { expectFloat32PassLikeFloat64 } from './support/em-float32-pass.js';
import { decodeRgb as decode, faceFiles, texturedImage } from './support/em-images.js';

/**
 * The WebAssembly float32 pass (backend 'wasm32') against today's float64 pass (backend 'wasm', unchanged and
 * itself checked against the TypeScript pass and numpy): kernels within 1e-5 and the same iteration
 * counts, on real photos and GAN faces and on generated images of every row-tail length.
 */
const KERNEL_TOLERANCE = 1e-5;


function compare(fast: ImageTrace, reference: ImageTrace) {
  let kernel = 0;
  let sigma = 0;
  fast.channels.forEach((c, i) => {
    const r = reference.channels[i];
    c.kernel.forEach((v, j) => (kernel = Math.max(kernel, Math.abs(v - r.kernel[j]))));
    sigma = Math.max(sigma, Math.abs(c.sigma - r.sigma) / Math.max(r.sigma, 1e-12));
  });
  return { kernel, sigma, iterations: fast.channels.map((c) => c.iterations), referenceIterations: reference.channels.map((c) => c.iterations) };
}


describe('float32 EM pass (WebAssembly)', () => {
  it.runIf(faceFiles(1, 1).length > 0)('N = 3: real photos and GAN faces give today’s kernels (within 1e-5) and iteration counts', async () => {
    let worst = 0;
    for (const file of faceFiles(8, 37)) {
      const image = await decode(file);
      const c = compare(extractTraces(image, { kernelSize: 3 }, 'wasm32'), extractTraces(image, { kernelSize: 3 }, 'wasm'));
      expect(c.iterations, file).toEqual(c.referenceIterations);
      expect(c.sigma, file).toBeLessThan(1e-5);
      worst = Math.max(worst, c.kernel);
    }
    expect(worst).toBeLessThan(KERNEL_TOLERANCE);
  }, 120_000);

  it.runIf(faceFiles(1, 1).length > 0)('N = 5 and 7 on faces: within 1e-5, same iteration counts', async () => {
    for (const [n, count] of [
      [5, 3],
      [7, 1],
    ]) {
      for (const file of faceFiles(count, 53)) {
        const image = await decode(file);
        const c = compare(extractTraces(image, { kernelSize: n }, 'wasm32'), extractTraces(image, { kernelSize: n }, 'wasm'));
        expect(c.iterations, `${file} N=${n}`).toEqual(c.referenceIterations);
        expect(c.kernel, `${file} N=${n}`).toBeLessThan(KERNEL_TOLERANCE);
      }
    }
  }, 240_000);

  it('every row-tail length (interior width mod 4 = 0…3), N = 2…7, RGB and grayscale', () => {
    for (const n of [2, 3, 4, 5, 6, 7]) {
      for (const width of [41, 42, 43, 44]) {
        const image = texturedImage(width, 33, n % 2 ? 3 : 1, 10 * n + width);
        const c = compare(extractTraces(image, { kernelSize: n }, 'wasm32'), extractTraces(image, { kernelSize: n }, 'wasm'));
        expect(c.iterations, `N=${n} width ${width}`).toEqual(c.referenceIterations);
        expect(c.kernel, `N=${n} width ${width}`).toBeLessThan(KERNEL_TOLERANCE);
      }
    }
  });

  it('a channel wider than one stripe (1,203 pixels: 512 + 512 + 177 interior columns)', () => {
    for (const n of [3, 5]) {
      const image = texturedImage(1203, 24, 1, 40 + n);
      const c = compare(extractTraces(image, { kernelSize: n }, 'wasm32'), extractTraces(image, { kernelSize: n }, 'wasm'));
      expect(c.iterations, `N=${n}`).toEqual(c.referenceIterations);
      expect(c.kernel, `N=${n}`).toBeLessThan(KERNEL_TOLERANCE);
    }
  });

  it('its sums match the float64 pass’s, and it declines what float32 cannot do accurately', () => {
    expectFloat32PassLikeFloat64(bindFloat32Pass);
  });

  it('an image that starts below its σ floor (σ0 = 0.1) still gives today’s kernels', () => {
    const image = texturedImage(50, 40, 3, 6);
    const c = compare(extractTraces(image, { sigma0: 0.1 }, 'wasm32'), extractTraces(image, { sigma0: 0.1 }, 'wasm'));
    expect(c.iterations).toEqual(c.referenceIterations);
    expect(c.kernel).toBeLessThan(KERNEL_TOLERANCE);
  });
});
