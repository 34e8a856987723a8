import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildGradientModel } from '../../src/autodiff/gradient-model.js';
import { valueInfo } from '../../src/autodiff/model-assembly.js';
import { encodeModel, floatTensorProto } from '../../src/autodiff/onnx-io.js';
import { createRng } from '../../src/util/rng.js';
import { gradCheck, spacedValues, worstError, type Operand } from './support/gradcheck.js';

const rng = createRng(7);
const unary = (op: string, data?: Float32Array, extra: Operand[] = [], eps = 1e-3) => ({ op, data, extra, eps });

describe('elementwise gradient rules (finite differences)', () => {
  const cases = {
    // Kinked ops get values spaced 0.02 apart, off the kinks, so x ± ε never crosses one.
    Relu: unary('Relu', spacedValues(60, 0.02, rng)),
    'Clip (ReLU6 bounds as inputs)': unary('Clip', spacedValues(60, 0.25, rng), [
      { name: 'lo', dims: [], data: Float32Array.of(0), constant: true },
      { name: 'hi', dims: [], data: Float32Array.of(1.5), constant: true },
    ]),
    'Clip (bounds 0.5 and 2)': unary('Clip', spacedValues(60, 0.1, rng), [
      { name: 'lo', dims: [], data: Float32Array.of(0.5), constant: true },
      { name: 'hi', dims: [], data: Float32Array.of(2), constant: true },
    ]),
    'Clip (bounds −1 and 1)': unary('Clip', spacedValues(60, 0.1, rng), [
      { name: 'lo', dims: [], data: Float32Array.of(-1), constant: true },
      { name: 'hi', dims: [], data: Float32Array.of(1), constant: true },
    ]),
    'Clip (min only)': unary('Clip', spacedValues(60, 0.02, rng), [{ name: 'lo', dims: [], data: Float32Array.of(0), constant: true }]),
    Sigmoid: unary('Sigmoid'),
    Tanh: unary('Tanh'),
    Erf: unary('Erf'),
    Neg: unary('Neg', undefined, [], 1),
    Sqrt: unary('Sqrt', Float32Array.from({ length: 60 }, () => 0.5 + rng.next())),
    Identity: unary('Identity', undefined, [], 1),
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      const results = await gradCheck({
        nodes: [{ op: c.op, inputs: ['x', ...c.extra.map((e) => e.name)], outputs: ['y'] }],
        operands: [{ name: 'x', dims: [3, 4, 5], data: c.data }, ...c.extra],
        output: 'y',
        eps: c.eps,
      });
      expect(worstError(results)).toBeLessThan(2e-3);
    });
  }

  it('ReLU6 passes dY exactly where 0 < y < 6: zero at both bounds and past them, all of it just inside', async () => {
    const model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'clip',
        node: [{ name: 'clip', opType: 'Clip', input: ['x', 'lo', 'hi'], output: ['y'] }],
        initializer: [floatTensorProto('lo', [], Float32Array.of(0)), floatTensorProto('hi', [], Float32Array.of(6))],
        input: [valueInfo('x', [10])],
        output: [valueInfo('y', [10])],
      },
    };
    const below6 = new Float32Array(new Uint32Array([0x40bfffff]).buffer)[0]; // the largest float under 6
    const x = Float32Array.of(-1, 0, 1e-30, 0.5, 3, below6, 6, 7, -1e-30, 2);
    const grad = await buildGradientModel(model, { inputDims: { x: [10] }, batchInputs: [], wrt: ['x'], outputs: ['y'] });
    const session = await ort.InferenceSession.create(encodeModel(grad.model), { logSeverityLevel: 3 });
    const upstream = Float32Array.from({ length: 10 }, (_, i) => i + 1);
    const out = await session.run({ x: new ort.Tensor('float32', x, [10]), [grad.upstreamInputs.y]: new ort.Tensor('float32', upstream, [10]) });
    await session.release();
    expect(Array.from(out[grad.gradOutputs.x].data as Float32Array)).toEqual([0, 0, 3, 4, 5, 6, 0, 0, 0, 10]);
  });

  it('Pow with a constant exponent', async () => {
    const results = await gradCheck({
      nodes: [{ op: 'Pow', inputs: ['x', 'p'], outputs: ['y'] }],
      operands: [
        { name: 'x', dims: [4, 5], data: Float32Array.from({ length: 20 }, () => 0.5 + rng.next()) },
        { name: 'p', dims: [], data: Float32Array.of(2.5), constant: true },
      ],
      output: 'y',
    });
    expect(worstError(results)).toBeLessThan(2e-3);
  });

  const shapes: [string, number[], number[]][] = [
    ['same shape', [2, 3, 4], [2, 3, 4]],
    ['per-channel bias [C,1,1]', [2, 3, 4, 5], [3, 1, 1]],
    ['scalar', [2, 3, 4], []],
    ['both broadcast', [2, 1, 4], [3, 1]],
    ['leading axes', [4], [2, 3, 4]],
  ];
  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    for (const [label, a, b] of shapes) {
      it(`${op}: ${label}`, async () => {
        const bData = op === 'Div' ? Float32Array.from({ length: b.reduce((p, q) => p * q, 1) }, () => (rng.bernoulli(0.5) ? 1 : -1) * (0.5 + rng.next())) : undefined;
        const results = await gradCheck({
          nodes: [{ op, inputs: ['a', 'b'], outputs: ['y'] }],
          operands: [{ name: 'a', dims: a }, { name: 'b', dims: b, data: bData }],
          output: 'y',
          eps: op === 'Div' ? 1e-3 : 1,
        });
        expect(results).toHaveLength(2);
        expect(worstError(results)).toBeLessThan(2e-3);
      });
    }
  }

  it('a value used twice (Mul(x, x)) sums both contributions', async () => {
    const results = await gradCheck({ nodes: [{ op: 'Mul', inputs: ['x', 'x'], outputs: ['y'] }], operands: [{ name: 'x', dims: [3, 4] }], output: 'y' });
    expect(worstError(results)).toBeLessThan(2e-3);
  });

  it('fan-out through two branches (x·w + relu(x))', async () => {
    const results = await gradCheck({
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['a'] },
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Add', inputs: ['a', 'r'], outputs: ['y'] },
      ],
      operands: [{ name: 'x', dims: [40], data: spacedValues(40, 0.05, rng) }, { name: 'w', dims: [40] }],
      output: 'y',
    });
    expect(worstError(results)).toBeLessThan(2e-3);
  });
});
