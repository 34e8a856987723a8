import { expect } from 'vitest';
import { kernelOffsets, type ChannelView, type PixelGrid, type ValueRange } from '../../src/forensics/em-channel.js';
import { minFloat32Sigma, type Float32PassFunction } from '../../src/forensics/em-float32.js';
import { createSums } from '../../src/forensics/em-normal-equations.js';
import { initialKernel } from '../../src/forensics/em-trace.js';
import { bindWasmPass } from '../../src/forensics/em-wasm.js';
import { texturedImage } from './em-images.js';

/** The pixel grid of an N×N kernel over a width × height single-channel image (the border pixels left out). */
export function gridOf(width: number, height: number, n: number): PixelGrid {
  const offs = kernelOffsets(n);
  const neighbours: number[] = [];
  for (const dy of offs) for (const dx of offs) if (dx || dy) neighbours.push(dy * width + dx);
  return { width, height, x0: -offs[0], x1: width - offs[n - 1], y0: -offs[0], y1: height - offs[n - 1], neighbourOffsets: Int32Array.from(neighbours) };
}

type BindFloat32Pass = (channel: ChannelView, grid: PixelGrid, n: number) => { pass: Float32PassFunction; range: ValueRange };

/**
 * A float32 EM pass (WebAssembly or native) against the float64 pass on one textured image: the same sums (within
 * 1e-6, Σw·R² 1e-5), and it declines what float32 cannot do accurately (σ below its floor, uniform weights,
 * weights that all underflow). Returns what it bound, for checks of a pass's own.
 */
export function expectFloat32PassLikeFloat64(bind: BindFloat32Pass, label = '') {
  const image = texturedImage(61, 47, 1, 5);
  const grid = gridOf(61, 47, 3);
  const view = { data: image.data, offset: 0, step: 1 };
  const kernel = initialKernel(3, 11);
  const params = { sigma: 4, p0: 1 / 256, uniformWeights: false };
  const precise = createSums(8);
  bindWasmPass(view, grid, 3).pass(kernel, params, precise);
  const fast = createSums(8);
  const bound = bind(view, grid, 3);
  expect(bound.range, label).toEqual({ min: Math.min(...image.data), max: Math.max(...image.data) });
  expect(bound.pass(kernel, params, fast), label).toBe(true);
  const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  for (let i = 0; i < 8; i++) {
    expect(relative(fast.rhs[i], precise.rhs[i]), label).toBeLessThan(1e-6);
    for (let j = i; j < 8; j++) expect(relative(fast.gram[i * 8 + j], precise.gram[i * 8 + j]), label).toBeLessThan(1e-6);
  }
  expect(relative(fast.sumW, precise.sumW), label).toBeLessThan(1e-6);
  expect(relative(fast.sumWR2, precise.sumWR2), label).toBeLessThan(1e-5);
  expect(bound.pass(kernel, { ...params, sigma: minFloat32Sigma / 2 }, fast), label).toBe(false);
  expect(bound.pass(kernel, { ...params, uniformWeights: true }, fast), label).toBe(false);
  expect(bound.pass(new Float64Array(8).fill(3), { ...params, sigma: 0.3 }, fast), label).toBe(false);
  return { ...bound, view, grid, kernel, params, sums: fast };
}
