import { describe, expect, it } from 'vitest';
import { float } from '../../src/autodiff/graph-builder.js';
import { createRng } from '../../src/util/rng.js';
import { gradCheck, worstError } from './support/gradcheck.js';

const rng = createRng(5);

describe('LayerNormalization gradient rule (finite differences)', () => {
  for (const [name, dims, axis] of [
    ['last axis (transformer tokens)', [2, 5, 6], -1],
    ['two trailing axes', [2, 3, 4, 2], 2],
  ] as const) {
    it(name, async () => {
      const normDims = dims.slice(axis < 0 ? dims.length + axis : axis);
      const results = await gradCheck({
        nodes: [{ op: 'LayerNormalization', inputs: ['x', 'scale', 'bias'], outputs: ['y'], attrs: { axis, epsilon: float(1e-5) } }],
        operands: [{ name: 'x', dims: [...dims] }, { name: 'scale', dims: normDims }, { name: 'bias', dims: normDims }],
        output: 'y',
        eps: 1e-2,
      });
      expect(results.map((r) => r.input)).toEqual(['x', 'scale', 'bias']);
      expect(worstError(results)).toBeLessThan(2e-3);
    });
  }
});

describe('BatchNormalization gradient rule (inference form, frozen statistics)', () => {
  it('input, scale and bias against finite differences', async () => {
    const c = 4;
    const results = await gradCheck({
      nodes: [{ op: 'BatchNormalization', inputs: ['x', 'scale', 'bias', 'mean', 'var'], outputs: ['y'], attrs: { epsilon: float(1e-3) } }],
      operands: [
        { name: 'x', dims: [2, c, 5, 3] },
        { name: 'scale', dims: [c] },
        { name: 'bias', dims: [c] },
        { name: 'mean', dims: [c], constant: true },
        { name: 'var', dims: [c], data: Float32Array.from({ length: c }, () => 0.2 + rng.next()), constant: true },
      ],
      output: 'y',
      eps: 1,
    });
    expect(results.map((r) => r.input)).toEqual(['x', 'scale', 'bias']);
    expect(worstError(results)).toBeLessThan(1e-4);
  });
});
