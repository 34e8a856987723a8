import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../src/autodiff/graph-builder.js';
import { createRng } from '../../src/util/rng.js';
import { gradCheck, spacedValues, worstError } from './support/gradcheck.js';

const rng = createRng(11);
/** Distinct values per image plane (planes never share a window), so their magnitude stays small next to ε. */
function planeValues(dims: number[]): Float32Array {
  const plane = dims[2] * dims[3];
  const out = new Float32Array(dims[0] * dims[1] * plane);
  for (let p = 0; p < dims[0] * dims[1]; p++) out.set(spacedValues(plane, 1, rng), p * plane);
  return out;
}

describe('pooling gradient rules (finite differences)', () => {
  const maxCases: [string, number[], Attrs][] = [
    ['3×3/2 overlapping windows, odd size', [2, 3, 9, 7], { kernel_shape: [3, 3], strides: [2, 2] }],
    ['3×3/2 ceil mode', [2, 2, 8, 10], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }],
    ['3×3/1 pads 1 (every input in 9 windows)', [1, 2, 6, 6], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }],
    ['2×2/2 asymmetric pads', [2, 2, 7, 6], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 0, 0, 1] }],
    ['dilated 2×2', [1, 2, 7, 7], { kernel_shape: [2, 2], dilations: [2, 2] }],
  ];
  for (const [name, dims, attrs] of maxCases) {
    it(`MaxPool ${name}`, async () => {
      // Distinct values 1 apart and ε = 0.1: no ties within reach, so the argmax is stable under the perturbation.
      const results = await gradCheck({
        nodes: [{ op: 'MaxPool', inputs: ['x'], outputs: ['y'], attrs }],
        operands: [{ name: 'x', dims, data: planeValues(dims) }],
        output: 'y',
        eps: 0.1,
      });
      expect(worstError(results)).toBeLessThan(1e-3);
    });
  }

  const avgCases: [string, number[], Attrs][] = [
    ['3×3/2 odd size', [2, 3, 9, 7], { kernel_shape: [3, 3], strides: [2, 2] }],
    ['3×3/1 pads, count_include_pad=0', [1, 2, 6, 5], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }],
    ['3×3/1 pads, count_include_pad=1', [1, 2, 6, 5], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 }],
    ['3×3/2 ceil mode, pads', [2, 2, 8, 9], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }],
    ['3×3/2 ceil mode, count_include_pad', [1, 2, 8, 8], { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 1, 1, 0], ceil_mode: 1, count_include_pad: 1 }],
    ['2×2/2', [2, 3, 6, 8], { kernel_shape: [2, 2], strides: [2, 2] }],
  ];
  for (const [name, dims, attrs] of avgCases) {
    it(`AveragePool ${name}`, async () => {
      const results = await gradCheck({ nodes: [{ op: 'AveragePool', inputs: ['x'], outputs: ['y'], attrs }], operands: [{ name: 'x', dims }], output: 'y', eps: 1 });
      expect(worstError(results)).toBeLessThan(1e-4);
    });
  }

  it('GlobalAveragePool', async () => {
    const results = await gradCheck({ nodes: [{ op: 'GlobalAveragePool', inputs: ['x'], outputs: ['y'] }], operands: [{ name: 'x', dims: [2, 3, 5, 7] }], output: 'y', eps: 1 });
    expect(worstError(results)).toBeLessThan(1e-4);
  });
});
