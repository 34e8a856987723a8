import { describe, expect, it } from 'vitest';
import { gradCheck, worstError, type NodeSpec, type Operand } from './support/gradcheck.js';

// Every op here only moves values (linear), so ε = 1 is exact.
const cases: [string, NodeSpec[], Operand[]][] = [
  ['Concat of three along channels', [{ op: 'Concat', inputs: ['a', 'b', 'c'], outputs: ['y'], attrs: { axis: 1 } }], [
    { name: 'a', dims: [2, 3, 4, 4] },
    { name: 'b', dims: [2, 1, 4, 4] },
    { name: 'c', dims: [2, 2, 4, 4] },
  ]],
  ['Concat with a frozen part, negative axis', [{ op: 'Concat', inputs: ['a', 'k'], outputs: ['y'], attrs: { axis: -1 } }], [
    { name: 'a', dims: [2, 3, 4] },
    { name: 'k', dims: [2, 3, 2], constant: true },
  ]],
  ['Flatten axis 1', [{ op: 'Flatten', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }], [{ name: 'x', dims: [2, 3, 2, 2] }]],
  ['Reshape', [{ op: 'Reshape', inputs: ['x', 's'], outputs: ['y'] }], [{ name: 'x', dims: [2, 3, 4] }, { name: 's', dims: [2], int64: [4, -1] }]],
  ['Transpose', [{ op: 'Transpose', inputs: ['x'], outputs: ['y'], attrs: { perm: [0, 2, 3, 1] } }], [{ name: 'x', dims: [2, 3, 4, 5] }]],
  ['Unsqueeze + Squeeze', [
    { op: 'Unsqueeze', inputs: ['x', 'ax'], outputs: ['u'] },
    { op: 'Mul', inputs: ['u', 'w'], outputs: ['m'] },
    { op: 'Squeeze', inputs: ['m', 'ax'], outputs: ['y'] },
  ], [{ name: 'x', dims: [3, 4] }, { name: 'ax', dims: [1], int64: [1] }, { name: 'w', dims: [3, 1, 4], constant: true }]],
  ['Expand', [{ op: 'Expand', inputs: ['x', 's'], outputs: ['y'] }], [{ name: 'x', dims: [1, 3, 1] }, { name: 's', dims: [3], int64: [2, 3, 4] }]],
  ['Identity', [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }], [{ name: 'x', dims: [5] }]],
  ['Slice (q/k/v split: last axis, negative end, second axis)', [{ op: 'Slice', inputs: ['x', 'st', 'en', 'ax'], outputs: ['y'] }], [
    { name: 'x', dims: [2, 5, 12] },
    { name: 'st', dims: [2], int64: [4, 1] },
    { name: 'en', dims: [2], int64: [8, -1] },
    { name: 'ax', dims: [2], int64: [2, 1] },
  ]],
  ['Gather, scalar index (class token x[:, 0])', [{ op: 'Gather', inputs: ['x', 'i'], outputs: ['y'], attrs: { axis: 1 } }], [
    { name: 'x', dims: [3, 5, 4] },
    { name: 'i', dims: [], int64: [0] },
  ]],
  ['Gather, 1-D indices with a repeat and a negative one', [{ op: 'Gather', inputs: ['x', 'i'], outputs: ['y'], attrs: { axis: 0 } }], [
    { name: 'x', dims: [4, 3] },
    { name: 'i', dims: [4], int64: [2, 0, 2, -1] },
  ]],
  ['Where (constant condition), broadcast operands', [
    { op: 'Cast', inputs: ['c'], outputs: ['cb'], attrs: { to: 9 } },
    { op: 'Where', inputs: ['cb', 'a', 'b'], outputs: ['y'] },
  ], [
    { name: 'c', dims: [3, 1], int64: [1, 0, 1] },
    { name: 'a', dims: [3, 4] },
    { name: 'b', dims: [4] },
  ]],
];

describe('shape-op gradient rules (adjoint identity)', () => {
  for (const [name, nodes, operands] of cases) {
    it(name, async () => {
      const results = await gradCheck({ nodes, operands, output: 'y', eps: 1 });
      expect(results.length).toBeGreaterThan(0);
      expect(worstError(results)).toBeLessThan(1e-4);
    });
  }
});
