import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../src/autodiff/graph-builder.js';
import { gradCheck, worstError } from './support/gradcheck.js';

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  attrs: Attrs;
}

// Conv is linear in each input separately, so ε = 1 makes the finite difference exact (the adjoint identity).
const cases: ConvCase[] = [
  { name: 'dense 3×3, pad 1', x: [2, 3, 6, 5], w: [4, 3, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1] } },
  { name: 'dense 3×3 stride 2, odd sizes', x: [2, 3, 9, 7], w: [4, 3, 3, 3], bias: true, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
  { name: 'stride 2, even size, unused last row', x: [1, 2, 8, 8], w: [3, 2, 3, 3], attrs: { strides: [2, 2] } },
  { name: 'asymmetric pads', x: [2, 3, 7, 6], w: [2, 3, 3, 3], bias: true, attrs: { pads: [0, 1, 2, 1] } },
  { name: 'asymmetric pads, stride 2', x: [1, 2, 9, 8], w: [3, 2, 3, 3], attrs: { strides: [2, 2], pads: [1, 0, 0, 2] } },
  { name: 'dilation 2', x: [2, 2, 9, 9], w: [3, 2, 3, 3], bias: true, attrs: { dilations: [2, 2], pads: [2, 2, 2, 2] } },
  { name: 'dilation 2, stride 2', x: [1, 2, 11, 10], w: [2, 2, 3, 3], attrs: { dilations: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { name: 'grouped (g=2)', x: [2, 4, 6, 6], w: [6, 2, 3, 3], bias: true, attrs: { group: 2, pads: [1, 1, 1, 1] } },
  { name: 'grouped, stride 2, odd', x: [2, 6, 7, 9], w: [9, 2, 3, 3], attrs: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] } },
  { name: 'depthwise 3×3', x: [2, 6, 7, 7], w: [6, 1, 3, 3], bias: true, attrs: { group: 6, pads: [1, 1, 1, 1] } },
  { name: 'depthwise 3×3 stride 2, odd', x: [3, 4, 9, 7], w: [4, 1, 3, 3], bias: true, attrs: { group: 4, strides: [2, 2], pads: [1, 1, 1, 1] } },
  { name: 'depthwise, channel multiplier 2', x: [2, 3, 6, 6], w: [6, 1, 3, 3], bias: true, attrs: { group: 3, pads: [1, 1, 1, 1] } },
  // 10–64 padded columns: the overlapping-rows weight gradient.
  { name: 'depthwise 3×3 at 12×11 (overlapping rows)', x: [2, 4, 12, 11], w: [4, 1, 3, 3], bias: true, attrs: { group: 4, pads: [1, 1, 1, 1] } },
  { name: 'depthwise multiplier 2 at 10×12 (overlapping rows)', x: [2, 3, 10, 12], w: [6, 1, 3, 3], attrs: { group: 3, pads: [1, 1, 1, 1] } },
  { name: 'depthwise 3×2, asymmetric pads at 12×12 (overlapping rows)', x: [2, 3, 12, 12], w: [3, 1, 3, 2], attrs: { group: 3, pads: [0, 2, 1, 0] } },
  { name: 'depthwise 5×5 unpadded at 11×13 (overlapping rows)', x: [1, 2, 11, 13], w: [2, 1, 5, 5], attrs: { group: 2 } },
  { name: 'depthwise 5×5 dilated, asymmetric pads', x: [2, 3, 10, 9], w: [3, 1, 5, 5], attrs: { group: 3, dilations: [2, 1], pads: [3, 2, 4, 1] } },
  { name: 'pointwise 1×1', x: [2, 5, 4, 3], w: [7, 5, 1, 1], bias: true, attrs: {} },
  { name: 'pointwise 1×1 at a small spatial size (channel-major weight gradient)', x: [3, 12, 2, 2], w: [16, 12, 1, 1], bias: true, attrs: {} },
  { name: '1×1 stride 2 (downsample)', x: [2, 4, 7, 7], w: [6, 4, 1, 1], bias: true, attrs: { strides: [2, 2] } },
  { name: 'rectangular kernel, strides (2,1)', x: [2, 3, 9, 6], w: [4, 3, 3, 2], bias: true, attrs: { strides: [2, 1], pads: [1, 0, 1, 1] } },
  { name: 'auto_pad SAME_UPPER stride 2', x: [2, 3, 8, 7], w: [4, 3, 3, 3], attrs: { strides: [2, 2], auto_pad: 'SAME_UPPER' } },
  { name: 'auto_pad SAME_LOWER', x: [1, 2, 6, 5], w: [3, 2, 4, 4], attrs: { auto_pad: 'SAME_LOWER' } },
  { name: 'stem 4×4 / 4 (patchify)', x: [2, 3, 8, 12], w: [5, 3, 4, 4], bias: true, attrs: { strides: [4, 4] } },
];

describe('Conv gradient rule (adjoint identity / finite differences)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const inputs = ['x', 'w', ...(c.bias ? ['b'] : [])];
      const results = await gradCheck({
        nodes: [{ op: 'Conv', inputs, outputs: ['y'], attrs: c.attrs }],
        operands: [{ name: 'x', dims: c.x }, { name: 'w', dims: c.w }, ...(c.bias ? [{ name: 'b', dims: [c.w[0]] }] : [])],
        output: 'y',
        eps: 1,
      });
      expect(results.map((r) => r.input)).toEqual(inputs);
      expect(worstError(results)).toBeLessThan(1e-4);
    });
  }

  it('a frozen weight gets no gradient nodes, only the input does', async () => {
    const results = await gradCheck({
      nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { pads: [1, 1, 1, 1] } }],
      operands: [{ name: 'x', dims: [1, 2, 5, 5] }, { name: 'w', dims: [3, 2, 3, 3], constant: true }],
      output: 'y',
      eps: 1,
    });
    expect(results.map((r) => r.input)).toEqual(['x']);
    expect(worstError(results)).toBeLessThan(1e-4);
  });
});
