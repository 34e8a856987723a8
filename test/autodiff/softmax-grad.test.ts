import { describe, expect, it } from 'vitest';
import { gradCheck, worstError } from './support/gradcheck.js';

describe('Softmax and LogSoftmax gradient rules (finite differences)', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const axis of [-1, 1]) {
      it(`${op} along axis ${axis}`, async () => {
        const results = await gradCheck({ nodes: [{ op, inputs: ['x'], outputs: ['y'], attrs: { axis } }], operands: [{ name: 'x', dims: [2, 4, 5] }], output: 'y', eps: 1e-2 });
        expect(worstError(results)).toBeLessThan(2e-3);
      });
    }
  }
});
