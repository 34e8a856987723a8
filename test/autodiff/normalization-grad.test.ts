import { describe, expect, it } from 'vitest';
import { float } from '../../src/autodiff/graph-builder.js';
import { createRng } from '../../src/util/rng.js';
import { gradCheck, worstError } from './support/gradcheck.js';

const rng = createRng(5);

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
