// Whole-model gradients against PyTorch autograd (../shared/models/gradref): L = Σ logits·upstream.logits,
// gradients w.r.t. the input and every trainable initializer, within 1e-4 of each tensor's largest magnitude.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildGradientModel } from '../../src/autodiff/gradient-model.js';
import { decodeModel, encodeModel, floatInitializers, graphOf } from '../../src/autodiff/onnx-io.js';
import { trainableInitializers, untieInitializerAliases } from '../../src/autodiff/parameters.js';
import { readSafetensors } from '../../src/bundle/safetensors.js';
import { SHARED_DIR, sharedPath } from '../support/shared.js';

async function compareWithReference(fixture: string, modelPath: string): Promise<{ params: number; worst: number; worstName: string; logitsError: number }> {
  const ref = readSafetensors(sharedPath('models', 'gradref', `${fixture}.safetensors`));
  // Exporter-deduplicated parameters (Identity aliases of one initializer) are separate parameters in PyTorch.
  const model = untieInitializerAliases(decodeModel(readFileSync(sharedPath('models', modelPath)), modelPath));
  const input = graphOf(model).input![0].name!;
  const params = trainableInitializers(model);
  const grad = await buildGradientModel(model, { inputDims: { [input]: ref.input.shape }, wrt: [...params, input], outputs: ['logits'] });
  const session = await ort.InferenceSession.create(encodeModel(grad.model), { intraOpNumThreads: 2, logSeverityLevel: 3 });
  const weights = floatInitializers(model);
  const feeds: Record<string, ort.Tensor> = {
    [input]: new ort.Tensor('float32', ref.input.data, ref.input.shape),
    [grad.upstreamInputs.logits]: new ort.Tensor('float32', ref['upstream.logits'].data, ref['upstream.logits'].shape),
  };
  for (const p of params) feeds[p] = new ort.Tensor('float32', weights.get(p)!.data, weights.get(p)!.dims);
  const out = await session.run(feeds);
  await session.release();
  let worst = 0;
  let worstName = '';
  const referenced = Object.keys(ref).filter((k) => k.startsWith('grad.') && k !== 'grad.input').map((k) => k.slice(5));
  for (const w of [...referenced, input]) {
    expect(grad.gradOutputs[w], `our gradient for ${w}`).toBeDefined();
    const expected = ref[w === input ? 'grad.input' : `grad.${w}`];
    const got = out[grad.gradOutputs[w]].data as Float32Array;
    expect(got.length).toBe(expected.data.length);
    let largest = 0;
    let error = 0;
    for (let i = 0; i < got.length; i++) {
      largest = Math.max(largest, Math.abs(expected.data[i]));
      error = Math.max(error, Math.abs(expected.data[i] - got[i]));
    }
    const rel = error / largest;
    if (rel > worst) [worst, worstName] = [rel, w];
  }
  const logits = out.logits.data as Float32Array;
  const logitsError = Math.max(...Array.from(logits, (v, i) => Math.abs(v - ref.logits.data[i])));
  return { params: referenced.length, worst, worstName, logitsError };
}

describe.skipIf(!SHARED_DIR)('whole-model gradients match PyTorch autograd (gradref)', () => {
  it('MobileNetV2: input and all 106 parameters', async () => {
    const r = await compareWithReference('mobilenetv2', 'mobilenetv2/model.onnx');
    expect(r.params).toBe(106);
    expect(r.logitsError).toBeLessThan(1e-4);
    expect(r.worst, `worst: ${r.worstName}`).toBeLessThan(1e-4);
  });

  it('SqueezeNet 1.1: input and all 52 parameters (overlapping MaxPool, Concat, Relu)', async () => {
    const r = await compareWithReference('squeezenet1_1', 'squeezenet1.1/model.onnx');
    expect(r.params).toBe(52);
    expect(r.worst, `worst: ${r.worstName}`).toBeLessThan(1e-4);
  });

  it('tiny ViT: input and all 28 parameters (LayerNormalization, Softmax attention, Erf GELU, Slice, Gather, Expand)', async () => {
    const r = await compareWithReference('tiny_vit', 'gradref/tiny_vit.onnx');
    expect(r.params).toBe(28);
    expect(r.logitsError).toBeLessThan(1e-4);
    expect(r.worst, `worst: ${r.worstName}`).toBeLessThan(1e-4);
  });

  it('tiny ConvNeXt: input and all 18 parameters (7×7 depthwise, LayerNormalization, layer scale)', async () => {
    const r = await compareWithReference('tiny_convnext', 'gradref/tiny_convnext.onnx');
    expect(r.params).toBe(18);
    expect(r.worst, `worst: ${r.worstName}`).toBeLessThan(1e-4);
  });
});
