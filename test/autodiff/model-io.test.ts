import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildGradientModel } from '../../src/autodiff/gradient-model.js';
import { valueInfo } from '../../src/autodiff/model-assembly.js';
import { decodeModel, encodeModel, floatInitializers, floatTensorProto, withInitializerValues, type Model } from '../../src/autodiff/onnx-io.js';
import { trainableInitializers, untieInitializerAliases } from '../../src/autodiff/parameters.js';
import { inferStaticShapes } from '../../src/autodiff/static-shapes.js';
import { SHARED_DIR, sharedPath } from '../support/shared.js';

const model = (): Model => decodeModel(readFileSync(sharedPath('models', 'mobilenetv2', 'model.onnx')));

describe.skipIf(!SHARED_DIR)('model IO and static shapes', () => {
  it('learns every value’s shape at the requested batch size', async () => {
    const shapes = await inferStaticShapes(model(), { inputs: { input: [5, 3, 64, 96] } });
    expect(shapes.get('logits')!.dims).toEqual([5, 1000]);
    expect(shapes.get('feature_map')!.dims).toEqual([5, 1280, 2, 3]);
    expect(shapes.get('conv_0')!.dims).toEqual([5, 32, 32, 48]);
    expect(shapes.get('conv_0_weight')!.dims).toEqual([32, 3, 3, 3]);
  });

  it('writes the original graph with new weights, and ONNX Runtime runs it with them', async () => {
    const original = model();
    const weights = floatInitializers(original);
    const bias = weights.get('fc_b')!;
    const shifted = Float32Array.from(bias.data, (v) => v + 1);
    const written = encodeModel(withInitializerValues(original, new Map([['fc_b', shifted]])));
    const reread = floatInitializers(decodeModel(written));
    expect(Array.from(reread.get('fc_b')!.data.subarray(0, 5))).toEqual(Array.from(shifted.subarray(0, 5)));
    expect(reread.get('conv_0_weight')!.data).toEqual(weights.get('conv_0_weight')!.data);
    const input = new ort.Tensor('float32', new Float32Array(3 * 32 * 32).fill(0.1), [1, 3, 32, 32]);
    const run = async (bytes: Uint8Array) => {
      const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
      const out = (await s.run({ input })).logits.data as Float32Array;
      await s.release();
      return out;
    };
    const [before, after] = [await run(readFileSync(sharedPath('models', 'mobilenetv2', 'model.onnx'))), await run(written)];
    for (let i = 0; i < 10; i++) expect(after[i] - before[i]).toBeCloseTo(1, 4);
  });

  it('an unknown name or a wrong size is refused', () => {
    expect(() => withInitializerValues(model(), new Map([['nope', new Float32Array(1)]]))).toThrow(/no initializers named nope/);
    expect(() => withInitializerValues(model(), new Map([['fc_b', new Float32Array(3)]]))).toThrow(/fc_b has 1000 values/);
  });

  it('exporter-tied parameters (Identity aliases of one initializer) become separate trainable initializers', () => {
    const tied: Model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [
          { opType: 'Identity', input: ['b1'], output: ['b2'] },
          { opType: 'Add', input: ['x', 'b1'], output: ['a'] },
          { opType: 'Add', input: ['a', 'b2'], output: ['y'] },
        ],
        initializer: [floatTensorProto('b1', [2], Float32Array.of(0, 0))],
        input: [valueInfo('x', [2])],
        output: [valueInfo('y', [2])],
      },
    };
    expect(trainableInitializers(tied)).toEqual(['b1']);
    const untied = untieInitializerAliases(tied);
    expect(trainableInitializers(untied)).toEqual(['b1', 'b2']);
    expect(untied.graph!.node!.map((n) => n.opType)).toEqual(['Add', 'Add']);
    expect(untieInitializerAliases(untied)).toBe(untied);
  });

  it('an op without a gradient rule stops the build, naming the op and the node', async () => {
    const m: Model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [
          { name: 'mul', opType: 'Mul', input: ['x', 'w'], output: ['a'] },
          { name: 'the_cumsum', opType: 'CumSum', input: ['a', 'axis'], output: ['y'] },
        ],
        initializer: [floatTensorProto('w', [3], Float32Array.of(1, 2, 3)), { name: 'axis', dims: [], dataType: 7, int64Data: [0] }],
        input: [valueInfo('x', [3])],
        output: [valueInfo('y', [3])],
      },
    };
    await expect(buildGradientModel(m, { inputDims: { x: [3] }, batchInputs: [], wrt: ['w'], outputs: ['y'] })).rejects.toThrow(/no gradient rule for CumSum \(CumSum node the_cumsum\)/);
    // Nothing to differentiate through the CumSum when only a value after it is trainable: no error.
    await expect(buildGradientModel(m, { inputDims: { x: [3] }, batchInputs: [], wrt: [], outputs: ['y'] })).resolves.toBeDefined();
  });
});
