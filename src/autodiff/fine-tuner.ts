// The runtime around the step and eval graphs: ONNX Runtime sessions, the parameter and moment buffers (each step
// feeds the tensors the previous step returned: no copy on our side), weights in and out.
import * as ort from 'onnxruntime-node';
import { ADAMW_DEFAULTS } from '../heads/optim.js';
import { LensembleError } from '../util/errors.js';
import { dataInputs } from './model-assembly.js';
import { decodeModel, encodeModel, floatInitializers, graphOf, withInitializerValues, type FloatTensor, type Model } from './onnx-io.js';
import { packBucket, unpackBuckets, type ParamLayout } from './param-layout.js';
import { untieInitializerAliases } from './parameters.js';
import type { GradientRule } from './rules/rule.js';
import { inferStaticShapes } from './static-shapes.js';
import { HEAD_BIAS, HEAD_WEIGHT, STEP_IO, buildEvalGraph, buildStepGraph } from './step-graph.js';

export interface SessionConfig {
  /** Execution providers in order of preference (default ['cpu']); e.g. [{ name: 'cuda' }, 'cpu']. */
  executionProviders?: ort.InferenceSession.SessionOptions['executionProviders'];
  /** Intra-op threads (default 2). */
  intraOpNumThreads?: number;
  graphOptimizationLevel?: ort.InferenceSession.SessionOptions['graphOptimizationLevel'];
  /**
   * Let idle intra-op threads spin between ops before they sleep (default on: a step is thousands of ops, and
   * waking sleeping threads for each cost 30 % in the benchmark). Turn it off when other work (decoding,
   * augmentation) needs the cores.
   */
  spinning?: boolean;
  /**
   * How long an idle intra-op thread spins before it sleeps (onnxruntime's session.intra_op.spin_duration_us;
   * default 20). Short: the gaps between ops are microseconds, while onnxruntime's own default spins through
   * every single-threaded op and cost a fifth more CPU time per image on a shared machine (BENCHMARKS.md).
   */
  spinMicroseconds?: number;
  /** 'parallel' also runs independent nodes side by side (a backward pass has many: each layer's dW and dX). */
  executionMode?: 'sequential' | 'parallel';
  /** Threads for parallel execution mode (default 2). */
  interOpNumThreads?: number;
}

export interface FineTunerOptions {
  /** The backbone's data input (default: its first). */
  input?: string;
  /** Input dims at the training batch size, e.g. [32, 3, 224, 224]. */
  inputDims: readonly number[];
  /** The backbone output with pooled features [N, F] the head reads (default 'features'). */
  features?: string;
  /** The head's starting weights: weight [classes, F] (PyTorch Linear layout), bias [classes]. */
  head: { weight: Float32Array; bias: Float32Array };
  /**
   * Layer groups, earliest first: backbone initializer names (see {@link resolveTrainable} and
   * {@link splitLayerGroups}); the head's parameters go into the last group unless listed.
   */
  groups: readonly (readonly string[])[];
  /** fastai LabelSmoothingCrossEntropy ε (default 0.1). */
  labelSmoothing?: number;
  /** AdamW β2 and ε (default fastai's 0.99 and 1e-5). */
  beta2?: number;
  eps?: number;
  session?: SessionConfig;
  /** Gradient rules by op type (default: the library's); benchmarks compare formulations with it. */
  rules?: Readonly<Record<string, GradientRule>>;
  source?: string;
}

export interface StepHyper {
  /** One learning rate per layer group (or one for all). */
  lr: number | readonly number[];
  /** β1 (fastai one-cycle moves it 0.95 → 0.85 → 0.95); default 0.9. */
  beta1?: number;
  /** Decoupled weight decay (default 0.01); never applied to 1-D parameters (biases, norm scales). */
  weightDecay?: number;
}

export interface StepResult {
  loss: number;
  /** Head logits of the batch [N × classes] (training mode: same as eval, BatchNorm statistics are frozen). */
  logits: Float32Array;
}

/** The optimizer state to checkpoint: step count and every bucket's parameters and moments. */
export interface FineTunerState {
  step: number;
  buffers: { param: Float32Array; expAvg: Float32Array; expAvgSq: Float32Array }[];
}

export interface FineTuner {
  readonly layout: ParamLayout;
  readonly batchSize: number;
  readonly classes: number;
  /** Steps taken (t of the bias corrections). */
  readonly stepCount: number;
  /** One training step on a full batch (`inputDims`); labels are class indices. */
  step(input: Float32Array, labels: Int32Array, hyper: StepHyper): Promise<StepResult>;
  /** Head logits for `count` images [count × classes] with the current weights (any count). */
  evaluate(input: Float32Array, count: number): Promise<Float32Array>;
  /** The current trainable parameters by name: views, no copy (each step returns new buffers, so a view keeps the values it was taken at). */
  parameters(): Map<string, FloatTensor>;
  /** The head's current weights. */
  head(): { weight: Float32Array; bias: Float32Array };
  /** The backbone as ONNX: the original graph with the trained weights (exporter-tied parameters untied). */
  backbone(): Uint8Array;
  state(): FineTunerState;
  restore(state: FineTunerState): void;
  release(): Promise<void>;
}

const DEFAULT_SPIN_MICROSECONDS = 20;

function sessionOptions(config: SessionConfig = {}): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: config.executionProviders ?? ['cpu'],
    intraOpNumThreads: config.intraOpNumThreads ?? 2,
    interOpNumThreads: config.executionMode === 'parallel' ? (config.interOpNumThreads ?? 2) : 1,
    executionMode: config.executionMode ?? 'sequential',
    graphOptimizationLevel: config.graphOptimizationLevel ?? 'all',
    logSeverityLevel: 3,
    extra: {
      session: {
        intra_op: { allow_spinning: config.spinning === false ? '0' : '1', spin_duration_us: String(config.spinMicroseconds ?? DEFAULT_SPIN_MICROSECONDS) },
        inter_op: { allow_spinning: config.spinning === false ? '0' : '1' },
      },
    },
  };
}

/** The head's parameters join the last group unless a group already lists them. */
export function withHeadParams(groups: readonly (readonly string[])[]): string[][] {
  const out = groups.map((g) => [...g]);
  if (!out.length) out.push([]);
  const listed = new Set(out.flat());
  for (const name of [HEAD_WEIGHT, HEAD_BIAS]) if (!listed.has(name)) out[out.length - 1].push(name);
  return out;
}

export async function createFineTuner(modelBytes: Uint8Array, options: FineTunerOptions): Promise<FineTuner> {
  const source = options.source ?? 'backbone';
  const model: Model = untieInitializerAliases(decodeModel(modelBytes, source));
  const graph = graphOf(model, source);
  const input = options.input ?? dataInputs(graph)[0]?.name;
  if (!input) throw new LensembleError('the backbone has no data input', source);
  const features = options.features ?? 'features';
  const classes = options.head.bias.length;
  const shapes = await inferStaticShapes(model, { inputs: { [input]: options.inputDims }, source });
  const groups = withHeadParams(options.groups);
  const common = { input, features, classes, groups, shapes, source };
  const step = buildStepGraph(model, {
    ...common,
    inputDims: options.inputDims,
    labelSmoothing: options.labelSmoothing ?? 0.1,
    beta2: options.beta2 ?? ADAMW_DEFAULTS.beta2,
    eps: options.eps ?? ADAMW_DEFAULTS.eps,
    rules: options.rules,
  });
  const evalGraph = buildEvalGraph(model, common);
  if (step.head.features * classes !== options.head.weight.length) {
    throw new LensembleError(`head weight has ${options.head.weight.length} values; [${classes}, ${step.head.features}] expected`, source);
  }
  const layout = step.layout;
  const so = sessionOptions(options.session);
  const stepSession = await ort.InferenceSession.create(encodeModel(step.model), so);
  const evalSession = await ort.InferenceSession.create(encodeModel(evalGraph.model), so);

  const initial = floatInitializers(model, source);
  const valueOf = (name: string) => (name === HEAD_WEIGHT ? options.head.weight : name === HEAD_BIAS ? options.head.bias : initial.get(name)!.data);
  interface BucketTensors {
    param: ort.Tensor;
    expAvg: ort.Tensor;
    expAvgSq: ort.Tensor;
  }
  let tensors: BucketTensors[] = layout.buckets.map((bucket) => {
    const dims = [bucket.length];
    return {
      param: new ort.Tensor('float32', packBucket(bucket, valueOf), dims),
      expAvg: new ort.Tensor('float32', new Float32Array(bucket.length), dims),
      expAvgSq: new ort.Tensor('float32', new Float32Array(bucket.length), dims),
    };
  });
  let stepCount = 0;
  const batchSize = options.inputDims[0];
  const perImage = options.inputDims.slice(1).reduce((a, b) => a * b, 1);
  const paramBuffers = () => tensors.map((t) => t.param.data as Float32Array);
  const parameters = () => unpackBuckets(layout, paramBuffers());

  return {
    layout,
    batchSize,
    classes,
    get stepCount() {
      return stepCount;
    },
    async step(batch, labels, hyper) {
      if (batch.length !== batchSize * perImage) throw new LensembleError(`a step takes ${batchSize} images (${batchSize * perImage} values), got ${batch.length}`, source);
      if (labels.length !== batchSize) throw new LensembleError(`a step takes ${batchSize} labels, got ${labels.length}`, source);
      const lrs = typeof hyper.lr === 'number' ? Array(layout.groups).fill(hyper.lr) : [...hyper.lr];
      if (lrs.length !== layout.groups) throw new LensembleError(`${lrs.length} learning rates for ${layout.groups} layer groups`, source);
      const labels64 = BigInt64Array.from(labels, (y) => {
        if (y < 0 || y >= classes) throw new LensembleError(`label ${y} outside 0..${classes - 1}`, source);
        return BigInt(y);
      });
      const feeds: Record<string, ort.Tensor> = {
        [input]: new ort.Tensor('float32', batch, options.inputDims),
        [STEP_IO.labels]: new ort.Tensor('int64', labels64, [batchSize]),
        [STEP_IO.lr]: new ort.Tensor('float32', Float32Array.from(lrs), [layout.groups]),
        [STEP_IO.beta1]: new ort.Tensor('float32', Float32Array.of(hyper.beta1 ?? ADAMW_DEFAULTS.beta1), []),
        [STEP_IO.weightDecay]: new ort.Tensor('float32', Float32Array.of(hyper.weightDecay ?? ADAMW_DEFAULTS.weightDecay), []),
        [STEP_IO.step]: new ort.Tensor('float32', Float32Array.of(stepCount + 1), []),
      };
      layout.buckets.forEach((bucket, i) => {
        feeds[STEP_IO.param(bucket.id)] = tensors[i].param;
        feeds[STEP_IO.expAvg(bucket.id)] = tensors[i].expAvg;
        feeds[STEP_IO.expAvgSq(bucket.id)] = tensors[i].expAvgSq;
      });
      const out = await stepSession.run(feeds);
      tensors = layout.buckets.map((bucket) => ({
        param: out[STEP_IO.next(STEP_IO.param(bucket.id))],
        expAvg: out[STEP_IO.next(STEP_IO.expAvg(bucket.id))],
        expAvgSq: out[STEP_IO.next(STEP_IO.expAvgSq(bucket.id))],
      }));
      stepCount++;
      return { loss: (out[STEP_IO.loss].data as Float32Array)[0], logits: out[STEP_IO.logits].data as Float32Array };
    },
    async evaluate(batch, count) {
      const dims = [count, ...options.inputDims.slice(1)];
      if (batch.length < count * perImage) throw new LensembleError(`${count} images need ${count * perImage} values, got ${batch.length}`, source);
      const feeds: Record<string, ort.Tensor> = { [input]: new ort.Tensor('float32', batch.subarray(0, count * perImage), dims) };
      layout.buckets.forEach((bucket, i) => (feeds[STEP_IO.param(bucket.id)] = tensors[i].param));
      const out = await evalSession.run(feeds);
      return out[STEP_IO.logits].data as Float32Array;
    },
    parameters,
    head() {
      const p = parameters();
      return { weight: p.get(HEAD_WEIGHT)!.data.slice(), bias: p.get(HEAD_BIAS)!.data.slice() };
    },
    backbone() {
      const values = new Map<string, Float32Array>();
      for (const [name, t] of parameters()) if (name !== HEAD_WEIGHT && name !== HEAD_BIAS) values.set(name, t.data);
      return encodeModel(withInitializerValues(model, values, source));
    },
    state() {
      return { step: stepCount, buffers: tensors.map((t) => ({ param: (t.param.data as Float32Array).slice(), expAvg: (t.expAvg.data as Float32Array).slice(), expAvgSq: (t.expAvgSq.data as Float32Array).slice() })) };
    },
    restore(state) {
      if (state.buffers.length !== layout.buckets.length || state.buffers.some((b, i) => b.param.length !== layout.buckets[i].length)) {
        throw new LensembleError('the checkpoint does not fit this model’s trainable parameters', source);
      }
      stepCount = state.step;
      tensors = state.buffers.map((b) => ({
        param: new ort.Tensor('float32', b.param.slice(), [b.param.length]),
        expAvg: new ort.Tensor('float32', b.expAvg.slice(), [b.param.length]),
        expAvgSq: new ort.Tensor('float32', b.expAvgSq.slice(), [b.param.length]),
      }));
    },
    async release() {
      await stepSession.release();
      await evalSession.release();
    },
  };
}
