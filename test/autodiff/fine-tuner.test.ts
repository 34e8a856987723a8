import { readFileSync, readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { findBlocks, resolveTrainable, splitLayerGroups, discriminativeLrs } from '../../src/autodiff/blocks.js';
import { createFineTuner } from '../../src/autodiff/fine-tuner.js';
import { buildGradientModel } from '../../src/autodiff/gradient-model.js';
import { valueInfo } from '../../src/autodiff/model-assembly.js';
import { decodeModel, encodeModel, floatInitializers, floatTensorProto, type Model } from '../../src/autodiff/onnx-io.js';
import { splitAt } from '../../src/autodiff/split.js';
import { HEAD_BIAS, HEAD_WEIGHT } from '../../src/autodiff/step-graph.js';
import { adamwUpdate } from '../../src/heads/optim.js';
import { smoothedCrossEntropy } from '../../src/heads/softmax-loss.js';
import { resizeForModel, writeNormalizedChw } from '../../src/images/preprocess.js';
import { defaultPreprocess } from '../../src/images/preprocess-spec.js';
import { createRng } from '../../src/util/rng.js';
import { SHARED_DIR, sharedPath } from '../support/shared.js';

const rng = createRng(3);
const normal = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rng.normal() * scale);

/** A tiny backbone: Conv 3×3 → Relu → Conv 1×1 → GlobalAveragePool → Flatten = features [N, 6]. */
function tinyBackbone(): Model {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      node: [
        { opType: 'Conv', input: ['x', 'w1', 'b1'], output: ['c1'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
        { opType: 'Relu', input: ['c1'], output: ['r1'] },
        { opType: 'Conv', input: ['r1', 'w2', 'b2'], output: ['c2'] },
        { opType: 'GlobalAveragePool', input: ['c2'], output: ['p'] },
        { opType: 'Flatten', input: ['p'], output: ['features'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      ],
      initializer: [
        floatTensorProto('w1', [4, 2, 3, 3], normal(72, 0.3)),
        floatTensorProto('b1', [4], normal(4, 0.1)),
        floatTensorProto('w2', [6, 4, 1, 1], normal(24, 0.3)),
        floatTensorProto('b2', [6], normal(6, 0.1)),
      ],
      input: [valueInfo('x', undefined)],
      output: [valueInfo('features', undefined)],
    },
  };
}

/** Reference: gradients from the gradient model seeded with the TypeScript loss gradient, then adamwUpdate. */
async function referenceSteps(model: Model, head: { weight: Float32Array; bias: Float32Array }, x: Float32Array, dims: number[], labels: Int32Array, hypers: { lr: number; beta1: number; wd: number }[]) {
  const withHead: Model = {
    ...model,
    graph: {
      ...model.graph!,
      node: [...model.graph!.node!, { opType: 'Gemm', input: ['features', 'hw', 'hb'], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] }],
      initializer: [...model.graph!.initializer!, floatTensorProto('hw', [3, 6], head.weight), floatTensorProto('hb', [3], head.bias)],
      output: [valueInfo('logits', undefined)],
    },
  };
  const names = ['w1', 'b1', 'w2', 'b2', 'hw', 'hb'];
  const grad = await buildGradientModel(withHead, { inputDims: { x: dims }, wrt: names, outputs: ['logits'] });
  const session = await ort.InferenceSession.create(encodeModel(grad.model), { logSeverityLevel: 3 });
  const init = floatInitializers(withHead);
  const values = new Map(names.map((n) => [n, init.get(n)!.data.slice()]));
  const moments = new Map(names.map((n) => [n, { m: new Float32Array(values.get(n)!.length), v: new Float32Array(values.get(n)!.length) }]));
  const losses: number[] = [];
  for (const [t, h] of hypers.entries()) {
    const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', x, dims) };
    for (const n of names) feeds[n] = new ort.Tensor('float32', values.get(n)!, init.get(n)!.dims);
    // Logits at the current weights, then the loss gradient from the TypeScript reference.
    feeds[grad.upstreamInputs.logits] = new ort.Tensor('float32', new Float32Array(dims[0] * 3), [dims[0], 3]);
    const logits = (await session.run(feeds)).logits.data as Float32Array;
    const dLogits = new Float32Array(logits.length);
    losses.push(smoothedCrossEntropy(logits, dims[0], 3, labels, null, 0.1, dLogits));
    feeds[grad.upstreamInputs.logits] = new ort.Tensor('float32', dLogits, [dims[0], 3]);
    const out = await session.run(feeds);
    const step = t + 1;
    for (const n of names) {
      const g = out[grad.gradOutputs[n]].data as Float32Array;
      const { m, v } = moments.get(n)!;
      const decayed = init.get(n)!.dims.length > 1;
      adamwUpdate(values.get(n)!, g, m, v, {
        decay: decayed ? 1 - h.lr * h.wd : 1,
        stepSize: h.lr / (1 - h.beta1 ** step),
        beta1: h.beta1,
        beta2: 0.99,
        denomScale: 1 / Math.sqrt(1 - 0.99 ** step),
        eps: 1e-5,
      });
    }
  }
  await session.release();
  return { values, losses };
}

const maxRelError = (a: Float32Array, b: Float32Array) => {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
};

describe('the one-session training step', () => {
  const dims = [5, 2, 7, 6];
  const x = normal(5 * 2 * 7 * 6);
  const labels = Int32Array.of(0, 1, 2, 1, 0);
  const head = { weight: normal(18, 0.3), bias: normal(3, 0.1) };

  it('matches gradients + a TypeScript AdamW over three steps with a changing lr, β1 and weight decay', async () => {
    const model = tinyBackbone();
    const hypers = [
      { lr: 0.05, beta1: 0.95, wd: 0.01 },
      { lr: 0.02, beta1: 0.9, wd: 0.1 },
      { lr: 0.03, beta1: 0.85, wd: 0 },
    ];
    const ref = await referenceSteps(model, head, x, dims, labels, hypers);
    const tuner = await createFineTuner(encodeModel(model), { inputDims: dims, head, groups: [['w1', 'b1', 'w2', 'b2']], labelSmoothing: 0.1 });
    const losses: number[] = [];
    for (const h of hypers) losses.push((await tuner.step(x, labels, { lr: h.lr, beta1: h.beta1, weightDecay: h.wd })).loss);
    for (let i = 0; i < hypers.length; i++) expect(losses[i]).toBeCloseTo(ref.losses[i], 5);
    const params = tuner.parameters();
    for (const [ours, theirs] of [['w1', 'w1'], ['b1', 'b1'], ['w2', 'w2'], ['b2', 'b2'], [HEAD_WEIGHT, 'hw'], [HEAD_BIAS, 'hb']]) {
      expect(maxRelError(params.get(ours)!.data, ref.values.get(theirs)!), ours).toBeLessThan(1e-5);
    }
    expect(tuner.stepCount).toBe(3);
    await tuner.release();
  });

  it('a step with lr 0 leaves every weight unchanged (and the moments move)', async () => {
    const model = tinyBackbone();
    const tuner = await createFineTuner(encodeModel(model), { inputDims: dims, head, groups: [['w1', 'b1'], ['w2', 'b2']] });
    const before = new Map([...tuner.parameters()].map(([k, t]) => [k, t.data.slice()]));
    await tuner.step(x, labels, { lr: [0, 0], weightDecay: 0.5 });
    for (const [k, t] of tuner.parameters()) expect(t.data, k).toEqual(before.get(k));
    expect(tuner.state().buffers.some((b) => b.expAvg.some((v) => v !== 0))).toBe(true);
    await tuner.release();
  });

  it('per-group learning rates: a group at lr 0 stays, the other moves', async () => {
    const tuner = await createFineTuner(encodeModel(tinyBackbone()), { inputDims: dims, head, groups: [['w1', 'b1'], ['w2', 'b2']] });
    const before = new Map([...tuner.parameters()].map(([k, t]) => [k, t.data.slice()]));
    await tuner.step(x, labels, { lr: [0, 0.01] });
    const after = tuner.parameters();
    expect(after.get('w1')!.data).toEqual(before.get('w1'));
    expect(after.get('w2')!.data).not.toEqual(before.get('w2'));
    expect(after.get(HEAD_WEIGHT)!.data).not.toEqual(before.get(HEAD_WEIGHT)); // the head joins the last group
    await tuner.release();
  });

  it('evaluate gives the step’s logits; the exported backbone + head reproduces evaluate; a checkpoint resumes exactly', async () => {
    const model = tinyBackbone();
    const tuner = await createFineTuner(encodeModel(model), { inputDims: dims, head, groups: [['w1', 'b1', 'w2', 'b2']] });
    const evalBefore = await tuner.evaluate(x, 5);
    const { logits } = await tuner.step(x, labels, { lr: 0.01 });
    for (let i = 0; i < logits.length; i++) expect(logits[i]).toBeCloseTo(evalBefore[i], 5);
    await tuner.step(x, labels, { lr: 0.01 });
    const saved = tuner.state();
    const next = await tuner.step(x, labels, { lr: 0.01 });

    const exported = await ort.InferenceSession.create(tuner.backbone(), { logSeverityLevel: 3 });
    const features = (await exported.run({ x: new ort.Tensor('float32', x, dims) })).features.data as Float32Array;
    const { weight, bias } = tuner.head();
    const evalNow = await tuner.evaluate(x.subarray(0, 2 * 84), 2);
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 3; c++) {
        let z = bias[c];
        for (let f = 0; f < 6; f++) z += weight[c * 6 + f] * features[n * 6 + f];
        expect(evalNow[n * 3 + c]).toBeCloseTo(z, 5);
      }
    }
    const resumed = await createFineTuner(encodeModel(model), { inputDims: dims, head, groups: [['w1', 'b1', 'w2', 'b2']] });
    resumed.restore(saved);
    expect((await resumed.step(x, labels, { lr: 0.01 })).loss).toBe(next.loss);
    await Promise.all([tuner.release(), resumed.release(), exported.release()]);
  });

  it('refuses a wrong batch, a label out of range, a wrong number of learning rates', async () => {
    const tuner = await createFineTuner(encodeModel(tinyBackbone()), { inputDims: dims, head, groups: [['w1'], ['w2']] });
    await expect(tuner.step(x.subarray(1), labels, { lr: 0.1 })).rejects.toThrow(/a step takes 5 images/);
    await expect(tuner.step(x, Int32Array.of(0, 1, 2, 3, 0), { lr: 0.1 })).rejects.toThrow(/label 3 outside 0..2/);
    await expect(tuner.step(x, labels, { lr: [0.1, 0.1, 0.1] })).rejects.toThrow(/3 learning rates for 2 layer groups/);
    await tuner.release();
    await expect(createFineTuner(encodeModel(tinyBackbone()), { inputDims: dims, head, groups: [['w1', 'nope']] })).rejects.toThrow(/nope is not an initializer/);
  });
});

describe('layer groups', () => {
  it('fastai even_mults for slice(lr/100, lr)', () => {
    const lrs = discriminativeLrs(1e-5, 1e-3, 3);
    expect(lrs[0]).toBeCloseTo(1e-5, 12);
    expect(lrs[1]).toBeCloseTo(1e-4, 12);
    expect(lrs[2]).toBeCloseTo(1e-3, 12);
  });
});

async function riceBatch(count: number, size: number): Promise<{ x: Float32Array; labels: Int32Array }> {
  const classes = ['bacterial_leaf_blight', 'blast', 'brown_spot', 'tungro'];
  const spec = { ...defaultPreprocess, width: size, height: size };
  const x = new Float32Array(count * 3 * size * size);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % classes.length;
    const dir = sharedPath('data', 'rice-leaf', classes[label]);
    const file = readdirSync(dir).sort()[Math.floor(i / classes.length) * 7];
    const image = await resizeForModel(readFileSync(`${dir}/${file}`), file, spec);
    writeNormalizedChw(image, spec, x, i * 3 * size * size);
    labels[i] = label;
  }
  return { x, labels };
}

describe.skipIf(!SHARED_DIR)('MobileNetV2 fine-tuning on real rice-leaf photos', () => {
  const bytes = () => readFileSync(sharedPath('models', 'mobilenetv2', 'model.onnx'));

  it('blocks: 18 (stem with the first inverted residual, 16 more, the final 1×1 conv); last:2 trains 8 tensors', () => {
    const model = decodeModel(bytes());
    const blocks = findBlocks(model, { input: 'input', features: 'features' });
    expect(blocks).toHaveLength(18);
    expect(blocks.at(-1)!.params).toEqual(['conv_95_weight', 'conv_95_bias']);
    const last2 = resolveTrainable(model, { last: 2 }, { input: 'input', features: 'features' });
    expect(last2.params).toEqual(['conv_90_weight', 'conv_90_bias', 'conv_92_weight', 'conv_92_bias', 'conv_94_weight', 'conv_94_bias', 'conv_95_weight', 'conv_95_bias']);
    expect(last2.cut).toBe('add_89');
    const all = resolveTrainable(model, 'all', { input: 'input', features: 'features' });
    expect(all.params).toHaveLength(104);
    expect(splitLayerGroups(all.blocks, 3).map((g) => g.length)).toEqual([36, 36, 32]);
    expect(() => resolveTrainable(model, { last: 19 }, { input: 'input', features: 'features' })).toThrow(/has 18 blocks/);
  });

  it('SqueezeNet blocks are its fire modules (the stem conv and first pool join the first)', () => {
    const model = decodeModel(readFileSync(sharedPath('models', 'squeezenet1.1', 'model.onnx')));
    const blocks = findBlocks(model, { input: 'data', features: 'features' });
    expect(blocks.map((b) => b.params.filter((p) => p.endsWith('_w')).length)).toEqual([4, 3, 3, 3, 3, 3, 3, 3]);
    expect(blocks.map((b) => b.output)).toEqual(['concat_9', 'concat_16', 'concat_24', 'concat_31', 'concat_39', 'concat_46', 'concat_53', 'features']);
  });

  it('SqueezeNet trains end to end (MaxPool indices, Concat, Relu in the step graph): the loss is the CE of its logits and drops', async () => {
    const { x, labels } = await riceBatch(4, 64);
    const squeeze = readFileSync(sharedPath('models', 'squeezenet1.1', 'model.onnx'));
    const blocks = findBlocks(decodeModel(squeeze), { input: 'data', features: 'features' });
    const head = { weight: normal(4 * 512, 0.01), bias: new Float32Array(4) };
    const tuner = await createFineTuner(squeeze, { inputDims: [4, 3, 64, 64], head, groups: splitLayerGroups(blocks, 2) });
    const logits = await tuner.evaluate(x, 4);
    const first = await tuner.step(x, labels, { lr: [1e-5, 1e-4] });
    expect(first.loss).toBeCloseTo(smoothedCrossEntropy(logits, 4, 4, labels, null, 0.1), 5);
    let last = first.loss;
    for (let i = 0; i < 5; i++) last = (await tuner.step(x, labels, { lr: [1e-5, 1e-4] })).loss;
    expect(last).toBeLessThan(first.loss * 0.8);
    await tuner.release();
  });

  it('a few full fine-tuning steps on one real batch lower its loss', async () => {
    const { x, labels } = await riceBatch(8, 96);
    const model = decodeModel(bytes());
    const all = resolveTrainable(model, 'all', { input: 'input', features: 'features' });
    const head = { weight: normal(4 * 1280, 0.01), bias: new Float32Array(4) };
    const tuner = await createFineTuner(bytes(), { inputDims: [8, 3, 96, 96], head, groups: splitLayerGroups(all.blocks, 3) });
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) losses.push((await tuner.step(x, labels, { lr: discriminativeLrs(5e-6, 5e-4, 3) })).loss);
    expect(losses[0]).toBeGreaterThan(1.2);
    expect(losses.at(-1)!).toBeLessThan(losses[0] * 0.5);
    await tuner.release();
  });

  it('last:2 on the split tail (cached cut activations) matches last:2 on the whole model', async () => {
    const { x, labels } = await riceBatch(4, 64);
    const model = decodeModel(bytes());
    const last2 = resolveTrainable(model, { last: 2 }, { input: 'input', features: 'features' });
    const split = splitAt(model, last2.cut, { outputs: ['features'] });
    const prefix = await ort.InferenceSession.create(split.prefix, { logSeverityLevel: 3 });
    const cut = (await prefix.run({ input: new ort.Tensor('float32', x, [4, 3, 64, 64]) }))[split.cut];
    const head = { weight: normal(4 * 1280, 0.01), bias: new Float32Array(4) };
    const whole = await createFineTuner(bytes(), { inputDims: [4, 3, 64, 64], head, groups: [last2.params] });
    const tail = await createFineTuner(split.tail, { inputDims: [...cut.dims], head, groups: [last2.params] });
    for (let i = 0; i < 2; i++) {
      const a = await whole.step(x, labels, { lr: 1e-3 });
      const b = await tail.step(cut.data as Float32Array, labels, { lr: 1e-3 });
      expect(b.loss).toBeCloseTo(a.loss, 5);
    }
    expect(maxRelError(tail.parameters().get('conv_95_weight')!.data, whole.parameters().get('conv_95_weight')!.data)).toBeLessThan(1e-4);
    await Promise.all([prefix.release(), whole.release(), tail.release()]);
  });
});
