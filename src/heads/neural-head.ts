import { LensembleError } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';
import { createRng, deriveSeed } from '../util/rng.js';
import type { Classifier, FitOptions, FitReport, NamedTensor, SerializedClassifier } from './classifier.js';
import type { BackendName } from './dense-backend.js';
import { checkFitInput, checkPredictInput } from './fit-input.js';
import { createDenseNet, type DenseNet, type DenseNetWeights } from './dense-net.js';
import { lrFind, type LrFindResult } from './lr-find.js';
import { softmaxRows } from './softmax-loss.js';
import { fitStandardizer, standardize, type Standardizer } from './standardizer.js';
import { type EpochRecord, trainOneCycle } from './train-loop.js';

/** Everything that defines a neural head's training; linear.ts and mlp.ts supply the defaults. */
export interface NeuralHeadOptions {
  /** Hidden layer widths; [] is softmax regression. */
  hidden: number[];
  epochs: number;
  batchSize: number;
  /** Peak learning rate of the one cycle; null runs lr_find and takes its `valley` suggestion. */
  lr: number | null;
  /** AdamW decoupled weight decay (biases excluded). */
  weightDecay: number;
  /** ε of fastai's LabelSmoothingCrossEntropy. */
  labelSmoothing: number;
  inputDropout: number;
  dropout: number;
  /** Coupled L2 penalty in the loss (0: rely on weightDecay). */
  l2: number;
  /**
   * Early stopping: epochs without validation-loss improvement before training stops. Whenever fit
   * gets `valid`, the weights of the best validation epoch are the ones kept (fastai SaveModelCallback).
   */
  patience: number;
  minDelta: number;
  pctStart: number;
  div: number;
  divFinal: number;
  moms: [number, number, number];
  beta2: number;
  eps: number;
  init: 'zeros' | 'kaiming';
  seed: number;
  backend: BackendName | 'auto';
}

export interface NeuralFitReport extends FitReport {
  epochs: EpochRecord[];
  bestEpoch: number;
  stoppedEarly: boolean;
  diverged: boolean;
  /** Peak learning rate used. */
  lr: number;
  /** The sweep behind `lr` when it was not given. */
  lrFind: LrFindResult | null;
  backend: BackendName;
}

/** What a fitted neural head holds: the input standardisation and the layers (torch layout). */
export interface NeuralHeadState {
  scaling: Standardizer;
  layers: DenseNetWeights;
}

export interface NeuralHead extends Classifier {
  readonly options: Readonly<NeuralHeadOptions>;
  fit(X: Matrix, y: Int32Array, options?: FitOptions): NeuralFitReport;
  /** The fitted state, or null before fit. */
  state(): NeuralHeadState | null;
}

const EVAL_BATCH = 256;

function checkOptions(kind: string, nClasses: number, o: NeuralHeadOptions): void {
  const fail = (what: string): never => {
    throw new LensembleError(`${kind}: ${what}`);
  };
  if (!(Number.isInteger(nClasses) && nClasses >= 2)) fail(`nClasses must be an integer ≥ 2, got ${nClasses}`);
  if (!o.hidden.every((w) => Number.isInteger(w) && w >= 1)) fail(`hidden widths must be positive integers, got [${o.hidden.join(', ')}]`);
  if (!(Number.isInteger(o.epochs) && o.epochs >= 1)) fail(`epochs must be a positive integer, got ${o.epochs}`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) fail(`batchSize must be a positive integer, got ${o.batchSize}`);
  if (o.lr !== null && !(o.lr > 0 && Number.isFinite(o.lr))) fail(`lr must be a positive number (or null for lr_find), got ${o.lr}`);
  for (const key of ['inputDropout', 'dropout'] as const) if (!(o[key] >= 0 && o[key] < 1)) fail(`${key} must be in [0, 1), got ${o[key]}`);
  if (!(o.labelSmoothing >= 0 && o.labelSmoothing < 1)) fail(`labelSmoothing must be in [0, 1), got ${o.labelSmoothing}`);
  if (!(o.weightDecay >= 0 && o.l2 >= 0)) fail('weightDecay and l2 must be ≥ 0');
  if (!(o.patience >= 1)) fail(`patience must be ≥ 1, got ${o.patience}`);
}

export function createNeuralHead(
  kind: string,
  nClasses: number,
  options: NeuralHeadOptions,
  trained: NeuralHeadState | null = null,
): NeuralHead {
  checkOptions(kind, nClasses, options);
  options = { ...options, hidden: [...options.hidden], moms: [...options.moms] }; // a private copy
  let fitted = trained;
  let inferenceNet: DenseNet | null = null;

  const buildNet = (inputs: number, maxBatch: number, purpose: 'train' | 'predict'): DenseNet =>
    createDenseNet(
      { inputs, hidden: options.hidden, classes: nClasses },
      { inputDropout: options.inputDropout, dropout: options.dropout, labelSmoothing: options.labelSmoothing, l2: options.l2 },
      options.backend,
      maxBatch,
      purpose,
    );

  const netForPrediction = (inputs: number): DenseNet => {
    if (!inferenceNet) {
      inferenceNet = buildNet(inputs, EVAL_BATCH, 'predict');
      inferenceNet.load(fitted!.layers);
    }
    return inferenceNet;
  };

  const head: NeuralHead = {
    kind,
    nClasses,
    options,

    fit(X, y, fitOptions = {}) {
      const started = performance.now();
      const { valid, sampleWeight, onProgress } = fitOptions;
      checkFitInput(kind, X, y, nClasses, sampleWeight);
      if (valid) checkFitInput(kind, valid.X, valid.y, nClasses);
      const batchSize = Math.min(options.batchSize, X.rows);
      // Standardised once up front, so each batch is a plain copy of rows.
      const scaling = fitStandardizer(X);
      const train = { X: standardize(X, scaling), y, weights: sampleWeight ?? null };
      const validScaled = valid ? { X: standardize(valid.X, scaling), y: valid.y } : undefined;
      const freshNet = (): DenseNet => {
        const net = buildNet(X.cols, Math.max(batchSize, Math.min(EVAL_BATCH, X.rows)), 'train');
        net.initialise(options.init, createRng(deriveSeed(options.seed, 'init')));
        return net;
      };
      const adam = { beta2: options.beta2, eps: options.eps, weightDecay: options.weightDecay };

      const found = options.lr === null
        ? lrFind(freshNet(), train, { batchSize, adam: { ...adam, beta1: 0.9 }, seed: deriveSeed(options.seed, 'lr-find') })
        : null;
      const lrMax = found ? found.suggestion : options.lr!;

      const net = freshNet();
      const report = trainOneCycle(net, train, validScaled, {
        epochs: options.epochs,
        batchSize,
        lrMax,
        oneCycle: { pctStart: options.pctStart, div: options.div, divFinal: options.divFinal, moms: options.moms },
        adam,
        patience: options.patience,
        minDelta: options.minDelta,
        seed: deriveSeed(options.seed, 'train'),
        onProgress,
      });
      fitted = { scaling, layers: net.export() };
      inferenceNet = null;
      return {
        ...report,
        seconds: (performance.now() - started) / 1000,
        lr: lrMax,
        lrFind: found,
        backend: net.backend.name,
      };
    },

    predictProba(X) {
      checkPredictInput(kind, X, fitted?.scaling.mean.length);
      const logits = netForPrediction(X.cols).logits(standardize(X, fitted!.scaling));
      softmaxRows(logits, X.rows, nClasses, logits);
      return { rows: X.rows, cols: nClasses, data: logits };
    },

    predict(X) {
      const proba = head.predictProba(X);
      const out = new Int32Array(X.rows);
      for (let i = 0; i < X.rows; i++) {
        let best = 0;
        for (let k = 1; k < nClasses; k++) if (proba.data[i * nClasses + k] > proba.data[i * nClasses + best]) best = k;
        out[i] = best;
      }
      return out;
    },

    state: () => fitted,

    toJSON() {
      const tensors: Record<string, NamedTensor> = {};
      if (fitted) {
        const inputs = fitted.scaling.mean.length;
        tensors['input.mean'] = { shape: [inputs], data: fitted.scaling.mean };
        tensors['input.scale'] = { shape: [inputs], data: fitted.scaling.scale };
        const widths = [inputs, ...options.hidden, nClasses];
        fitted.layers.forEach((layer, l) => {
          tensors[`layers.${l}.weight`] = { shape: [widths[l + 1], widths[l]], data: layer.weight };
          tensors[`layers.${l}.bias`] = { shape: [widths[l + 1]], data: layer.bias };
        });
      }
      return { kind, config: { nClasses, fitted: fitted !== null, ...options }, tensors };
    },
  };
  return head;
}

/** The inverse of `toJSON` for any neural head kind; `defaults` fill options missing from older bundles. */
export function neuralHeadFromJSON(serialized: SerializedClassifier, expectedKind: string, defaults: NeuralHeadOptions): NeuralHead {
  if (serialized.kind !== expectedKind) throw new LensembleError(`expected a '${expectedKind}' head, got '${serialized.kind}'`);
  const { nClasses, fitted, ...rest } = serialized.config as Partial<NeuralHeadOptions> & { nClasses: number; fitted: boolean };
  const options: NeuralHeadOptions = { ...defaults, ...rest };
  let state: NeuralHeadState | null = null;
  if (fitted) {
    const tensor = (name: string): Float32Array => {
      const t = serialized.tensors[name];
      if (!t) throw new LensembleError(`${expectedKind}: tensor '${name}' is missing`);
      return t.data;
    };
    state = {
      scaling: { mean: tensor('input.mean'), scale: tensor('input.scale') },
      layers: Array.from({ length: options.hidden.length + 1 }, (_, l) => ({
        weight: tensor(`layers.${l}.weight`),
        bias: tensor(`layers.${l}.bias`),
      })),
    };
  }
  return createNeuralHead(expectedKind, nClasses, options, state);
}
