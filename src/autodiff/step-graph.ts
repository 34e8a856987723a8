// One training step as one ONNX graph: forward through the backbone to its pooled features, a Gemm head,
// label-smoothed softmax cross-entropy, the backward pass to every trainable parameter, and AdamW on each
// flat parameter bucket. Frozen initializers stay initializers (ONNX Runtime pre-packs them); trainable ones are
// cut out of the bucket inputs.
import { LensembleError } from '../util/errors.js';
import { buildBackward } from './backward.js';
import { GraphBuilder } from './graph-builder.js';
import { smoothedCrossEntropyNodes } from './loss-graph.js';
import { cloneNodes, dataInputs, graphConstants, liveNodes, namesIn, trainingOpsets, usedInitializers, valueInfo } from './model-assembly.js';
import { graphOf, tensorDims, type Model, type NodeProto } from './onnx-io.js';
import { adamWUpdate, biasCorrections } from './optim-graph.js';
import { layoutParams, unpackParams, type ParamLayout } from './param-layout.js';
import type { GradientRule } from './rules/rule.js';
import type { ShapeMap, ValueShape } from './static-shapes.js';

/** Names of the head's parameters in layer groups and weight maps. */
export const HEAD_WEIGHT = 'head/weight';
export const HEAD_BIAS = 'head/bias';

export interface HeadShape {
  classes: number;
  features: number;
}

export interface StepGraphOptions {
  /** The backbone's data input and its dims at the training batch size. */
  input: string;
  inputDims: readonly number[];
  /** The backbone output the head reads: pooled features [N, F]. */
  features: string;
  classes: number;
  /** Layer groups of parameter names, earliest layers first; the head's {@link HEAD_WEIGHT}/{@link HEAD_BIAS} belong to one (usually the last). */
  groups: readonly (readonly string[])[];
  labelSmoothing: number;
  beta2: number;
  eps: number;
  shapes: ShapeMap;
  /** Gradient rules by op type (default {@link gradientRules}); benchmarks pass earlier formulations here. */
  rules?: Readonly<Record<string, GradientRule>>;
  source?: string;
}

/** Graph input/output names of a step or eval graph. */
export const STEP_IO = {
  labels: 'step/labels',
  lr: 'step/lr',
  beta1: 'step/beta1',
  weightDecay: 'step/weight_decay',
  step: 'step/t',
  loss: 'step/loss',
  logits: 'step/logits',
  param: (bucket: string) => `params/${bucket}`,
  expAvg: (bucket: string) => `exp_avg/${bucket}`,
  expAvgSq: (bucket: string) => `exp_avg_sq/${bucket}`,
  next: (name: string) => `${name}:next`,
};

export interface StepGraph {
  model: Model;
  layout: ParamLayout;
  head: HeadShape;
}

function headGemm(features: string, output: string): NodeProto {
  return { name: 'head/gemm', opType: 'Gemm', input: [features, HEAD_WEIGHT, HEAD_BIAS], output: [output], attribute: [{ name: 'transB', type: 2, i: 1 }] };
}

function checkTrainable(model: Model, options: Pick<StepGraphOptions, 'groups' | 'features' | 'shapes' | 'source'>) {
  const source = options.source ?? 'model';
  const graph = graphOf(model, source);
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  for (const name of options.groups.flat()) {
    if (name === HEAD_WEIGHT || name === HEAD_BIAS) continue;
    const t = inits.get(name);
    if (!t) throw new LensembleError(`trainable parameter ${name} is not an initializer of the backbone`, source);
    if (t.dataType !== 1) throw new LensembleError(`trainable parameter ${name} is not float32`, source);
  }
  const features = options.shapes.get(options.features);
  if (!features || features.dims.length !== 2) {
    throw new LensembleError(`features output ${options.features} must be a [batch, features] tensor (got ${features ? `[${features.dims}]` : 'nothing'})`, source);
  }
  return { graph, inits, featureCount: features.dims[1] };
}

/** The layout of the trainable parameters (backbone names and the head's) into buckets. */
function layoutFor(model: Model, options: Pick<StepGraphOptions, 'groups' | 'classes'>, featureCount: number): ParamLayout {
  const inits = new Map((graphOf(model).initializer ?? []).map((t) => [t.name!, t]));
  const dimsOf = (name: string) => (name === HEAD_WEIGHT ? [options.classes, featureCount] : name === HEAD_BIAS ? [options.classes] : tensorDims(inits.get(name)!));
  return layoutParams(options.groups, dimsOf);
}

export function buildStepGraph(model: Model, options: StepGraphOptions): StepGraph {
  const source = options.source ?? 'model';
  const { graph, featureCount } = checkTrainable(model, options);
  const layout = layoutFor(model, options, featureCount);
  const rows = options.inputDims[0];
  const b = new GraphBuilder(namesIn(graph), 'train/');
  for (const name of [HEAD_WEIGHT, HEAD_BIAS, ...Object.values(STEP_IO).filter((v): v is string => typeof v === 'string')]) b.claim(name);
  const bucketNames = layout.buckets.map((k) => [STEP_IO.param(k.id), STEP_IO.expAvg(k.id), STEP_IO.expAvgSq(k.id)]);
  for (const names of bucketNames) for (const n of names) [n, STEP_IO.next(n)].forEach((x) => b.claim(x));

  layout.buckets.forEach((bucket) => unpackParams(b, bucket, STEP_IO.param(bucket.id)));
  const unpackCount = b.nodes.length;

  const headLogits = b.fresh('head_logits');
  const forward = [...cloneNodes(graph), headGemm(options.features, headLogits)];
  const shapes = new Map<string, ValueShape>(options.shapes);
  shapes.set(HEAD_WEIGHT, { dims: [options.classes, featureCount], type: 'float32' });
  shapes.set(HEAD_BIAS, { dims: [options.classes], type: 'float32' });
  shapes.set(headLogits, { dims: [rows, options.classes], type: 'float32' });

  b.op('Identity', [headLogits], {}, STEP_IO.logits);
  const { dLogits } = smoothedCrossEntropyNodes(b, headLogits, STEP_IO.labels, rows, options.classes, options.labelSmoothing, STEP_IO.loss);
  const trainable = layout.buckets.flatMap((k) => k.params.map((p) => p.name));
  const grads = buildBackward({ nodes: forward, shapes, wrt: trainable, seeds: new Map([[headLogits, dLogits]]), constants: graphConstants(graph, shapes), builder: b, source, rules: options.rules });

  const corrections = biasCorrections(b, STEP_IO.beta1, STEP_IO.step, options.beta2);
  layout.buckets.forEach((bucket) => {
    const parts = bucket.params.map((p) => {
      const g = grads.get(p.name);
      // Weight decay alone would move it: a parameter off the path to the features is a mistake in the groups.
      if (!g) throw new LensembleError(`trainable parameter ${p.name} does not affect ${options.features}`, source);
      return b.reshape(g, [-1]);
    });
    const grad = parts.length === 1 ? parts[0] : b.op('Concat', parts, { axis: 0 });
    const lr = b.op('Gather', [STEP_IO.lr, b.int64([bucket.group], [])], { axis: 0 });
    const [param, expAvg, expAvgSq] = [STEP_IO.param(bucket.id), STEP_IO.expAvg(bucket.id), STEP_IO.expAvgSq(bucket.id)];
    adamWUpdate(
      b,
      { lr, beta1: STEP_IO.beta1, weightDecay: bucket.decay ? STEP_IO.weightDecay : undefined, ...corrections },
      { beta2: options.beta2, eps: options.eps },
      { param, grad, expAvg, expAvgSq },
      { param: STEP_IO.next(param), expAvg: STEP_IO.next(expAvg), expAvgSq: STEP_IO.next(expAvgSq) },
    );
  });

  const outputNames = [STEP_IO.loss, STEP_IO.logits, ...bucketNames.flat().map(STEP_IO.next)];
  const nodes = liveNodes([...b.nodes.slice(0, unpackCount), ...forward, ...b.nodes.slice(unpackCount)], outputNames);
  const trainableSet = new Set(trainable);
  const frozen = (graph.initializer ?? []).filter((t) => !trainableSet.has(t.name!));
  const scalar = (name: string) => valueInfo(name, []);
  const bucketInfos = (suffix: (n: string) => string) =>
    layout.buckets.flatMap((k) => [STEP_IO.param(k.id), STEP_IO.expAvg(k.id), STEP_IO.expAvgSq(k.id)].map((n) => valueInfo(suffix(n), [k.length])));
  return {
    layout,
    head: { classes: options.classes, features: featureCount },
    model: derivedModel(model, source, 'train-step', {
      node: nodes,
      initializer: usedInitializers([...frozen, ...b.initializers], nodes),
      input: [
        valueInfo(options.input, options.inputDims),
        valueInfo(STEP_IO.labels, [rows], 'int64'),
        valueInfo(STEP_IO.lr, [layout.groups]),
        scalar(STEP_IO.beta1),
        scalar(STEP_IO.weightDecay),
        scalar(STEP_IO.step),
        ...bucketInfos((n) => n),
      ],
      output: [scalar(STEP_IO.loss), valueInfo(STEP_IO.logits, [rows, options.classes]), ...bucketInfos(STEP_IO.next)],
    }),
  };
}

/** The backbone's model with a new graph body (nodes, initializers, inputs, outputs) and the training opsets. */
function derivedModel(model: Model, source: string, suffix: string, body: Pick<NonNullable<Model['graph']>, 'node' | 'initializer' | 'input' | 'output'>): Model {
  const graph = model.graph!;
  return { ...model, opsetImport: trainingOpsets(model, source), graph: { ...graph, name: `${graph.name ?? 'model'}-${suffix}`, ...body, valueInfo: [] } };
}

/** Forward to head logits with the parameters taken from bucket inputs (any batch size), for validation. */
export function buildEvalGraph(model: Model, options: Pick<StepGraphOptions, 'input' | 'features' | 'classes' | 'groups' | 'shapes' | 'source'>): StepGraph {
  const source = options.source ?? 'model';
  const { graph, featureCount } = checkTrainable(model, options);
  const layout = layoutFor(model, options, featureCount);
  const b = new GraphBuilder(namesIn(graph), 'eval/');
  b.claim(STEP_IO.logits);
  layout.buckets.forEach((bucket) => unpackParams(b, bucket, b.claim(STEP_IO.param(bucket.id))));
  const unpackCount = b.nodes.length;
  const forward = [...cloneNodes(graph), headGemm(options.features, STEP_IO.logits)];
  const nodes = liveNodes([...b.nodes.slice(0, unpackCount), ...forward], [STEP_IO.logits]);
  const trainable = new Set(layout.buckets.flatMap((k) => k.params.map((p) => p.name)));
  const input = dataInputs(graph).find((i) => i.name === options.input);
  if (!input) throw new LensembleError(`the backbone has no input ${options.input}`, source);
  return {
    layout,
    head: { classes: options.classes, features: featureCount },
    model: derivedModel(model, source, 'eval', {
      node: nodes,
      initializer: usedInitializers([...(graph.initializer ?? []).filter((t) => !trainable.has(t.name!)), ...b.initializers], nodes),
      input: [input, ...layout.buckets.map((k) => valueInfo(STEP_IO.param(k.id), [k.length]))],
      output: [valueInfo(STEP_IO.logits, undefined)],
    }),
  };
}
