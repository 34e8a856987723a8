import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../src/autodiff/graph-builder.js';
import { float } from '../../src/autodiff/graph-builder.js';
import { gradCheck, worstError } from './support/gradcheck.js';

// Both ops are linear in each operand, so ε = 1 gives the adjoint identity exactly.
describe('Gemm and MatMul gradient rules', () => {
  const gemmCases: [string, number[], number[], number[] | undefined, Attrs][] = [
    ['plain, bias [N]', [4, 3], [3, 5], [5], {}],
    ['transB (a linear head), bias [1,N]', [4, 3], [5, 3], [1, 5], { transB: 1 }],
    ['transA', [3, 4], [3, 5], [4, 5], { transA: 1 }],
    ['transA transB, alpha/beta', [3, 4], [5, 3], [4, 1], { transA: 1, transB: 1, alpha: float(0.7), beta: float(1.5) }],
    ['no bias', [2, 6], [6, 3], undefined, {}],
  ];
  for (const [name, a, b, c, attrs] of gemmCases) {
    it(`Gemm ${name}`, async () => {
      const results = await gradCheck({
        nodes: [{ op: 'Gemm', inputs: ['a', 'b', ...(c ? ['c'] : [])], outputs: ['y'], attrs }],
        operands: [{ name: 'a', dims: a }, { name: 'b', dims: b }, ...(c ? [{ name: 'c', dims: c }] : [])],
        output: 'y',
        eps: 1,
      });
      expect(results).toHaveLength(c ? 3 : 2);
      expect(worstError(results)).toBeLessThan(1e-4);
    });
  }

  const matmulCases: [string, number[], number[]][] = [
    ['2-D', [4, 3], [3, 5]],
    ['batch × weight matrix (a linear layer on tokens)', [2, 6, 3], [3, 4]],
    ['batched both', [2, 4, 3], [2, 3, 5]],
    ['broadcast batch', [2, 1, 4, 3], [3, 3, 5]],
    ['vector × matrix', [3], [3, 4]],
    ['matrix × vector', [2, 4, 3], [3]],
    ['2-D × batched', [4, 3], [2, 3, 5]],
  ];
  for (const [name, a, b] of matmulCases) {
    it(`MatMul ${name}`, async () => {
      const results = await gradCheck({ nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], operands: [{ name: 'a', dims: a }, { name: 'b', dims: b }], output: 'y', eps: 1 });
      expect(worstError(results)).toBeLessThan(1e-4);
    });
  }
});
