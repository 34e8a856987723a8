import type { Matrix } from '../util/matrix.js';
import type { Rng } from '../util/rng.js';
import { type BackendName, createBackend } from './dense-backend.js';
import type { FloatArray } from './dense-math.js';
import type { ParamGroup } from './optim.js';
import { countCorrect, smoothedCrossEntropy } from './softmax-loss.js';
import type { Trainable } from './train-loop.js';

/**
 * The network behind both neural heads: [Dropout → Linear → ReLU]* → Dropout → Linear, on inputs the
 * head has already standardised. With no hidden layers it is softmax regression (the linear probe).
 * Weights are kept as [inputs × outputs] so the forward pass is X·W (see `gemm`); they are
 * exported in torch's nn.Linear layout [outputs × inputs].
 */

export interface DenseNetShape {
  inputs: number;
  hidden: number[];
  classes: number;
}

export interface DenseNetRegularisation {
  /** Dropout on the inputs (fastai's head uses ps/2 here). */
  inputDropout: number;
  /** Dropout after each hidden ReLU. */
  dropout: number;
  /** ε of the label-smoothing cross-entropy. */
  labelSmoothing: number;
  /** Coupled L2 penalty ½·l2·‖W‖² added to the loss (weights only); AdamW's decoupled decay is separate. */
  l2: number;
}

/** Portable weights: plain arrays, torch nn.Linear layout (weight is outputs × inputs). */
export type DenseNetWeights = { weight: Float32Array; bias: Float32Array }[];

interface Layer {
  inputs: number;
  outputs: number;
  weight: FloatArray;
  bias: FloatArray;
  weightGrad: FloatArray;
  biasGrad: FloatArray;
  /** Scratch for Wᵀ, needed to push gradients below the first layer. */
  weightT: FloatArray | null;
}

export interface DenseNet extends Trainable {
  readonly shape: DenseNetShape;
  /** Zero (linear probe) or Kaiming-normal weights (fastai `apply_init(head, kaiming_normal_)`), zero biases. */
  initialise(init: 'zeros' | 'kaiming', rng: Rng): void;
  load(weights: DenseNetWeights): void;
  export(): DenseNetWeights;
  /** Eval-mode logits of every row of X, row-major rows × classes. */
  logits(X: Matrix): Float32Array;
}

/**
 * Lengths of every array a network allocates (and, for training, its AdamW moments): the wasm
 * backend's memory is sized from this once, so keep it in step with the allocations below.
 */
function bufferLengths(widths: number[], maxBatch: number, purpose: 'train' | 'predict'): number[] {
  const lengths: number[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [weight, bias] = [widths[l] * widths[l + 1], widths[l + 1]];
    lengths.push(weight, bias, weight, bias);
    if (l > 0) lengths.push(weight);
    if (purpose === 'train') lengths.push(weight, weight, bias, bias);
  }
  widths.forEach((width, l) => {
    lengths.push(maxBatch * width); // activations
    if (l > 0) lengths.push(maxBatch * width); // their gradients
  });
  return lengths;
}

/**
 * `purpose` 'train' reserves room for one optimiser's moments (train loop or lr_find), 'predict' not.
 * `maxBatch` bounds the rows of one forward/backward pass.
 */
export function createDenseNet(
  shape: DenseNetShape,
  regularisation: DenseNetRegularisation,
  backendName: BackendName | 'auto',
  maxBatch: number,
  purpose: 'train' | 'predict',
): DenseNet {
  const widths = [shape.inputs, ...shape.hidden, shape.classes];
  const backend = createBackend(backendName, bufferLengths(widths, maxBatch, purpose));
  const layers: Layer[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [inputs, outputs] = [widths[l], widths[l + 1]];
    layers.push({
      inputs,
      outputs,
      weight: backend.alloc(inputs * outputs),
      bias: backend.alloc(outputs),
      weightGrad: backend.alloc(inputs * outputs),
      biasGrad: backend.alloc(outputs),
      weightT: l > 0 ? backend.alloc(inputs * outputs) : null,
    });
  }
  // activations[l] feeds layer l; activations[L] holds the logits. gradients mirror them.
  const activations = widths.map((w) => backend.alloc(maxBatch * w));
  const gradients = widths.map((w, l) => (l === 0 ? null : backend.alloc(maxBatch * w)));
  const batchLabels = new Int32Array(maxBatch);
  const batchWeights = new Float32Array(maxBatch);
  const paramGroups: ParamGroup[] = layers.flatMap((layer) => [
    { value: layer.weight, grad: layer.weightGrad, decay: true },
    { value: layer.bias, grad: layer.biasGrad, decay: false },
  ]);
  const { inputDropout, dropout, labelSmoothing, l2 } = regularisation;
  const classes = shape.classes;

  /** Copies X's rows into activations[0]: rows[r] for r < count, or start + r when rows is null. */
  const loadRows = (X: Matrix, count: number, rows: Int32Array | null, start = 0): void => {
    if (X.cols !== shape.inputs) throw new Error(`expected ${shape.inputs} features per row, got ${X.cols}`);
    const d = shape.inputs;
    if (!rows) {
      activations[0].set(X.data.subarray(start * d, (start + count) * d));
      return;
    }
    for (let r = 0; r < count; r++) activations[0].set(X.data.subarray(rows[r] * d, (rows[r] + 1) * d), r * d);
  };

  /**
   * Inverted dropout in place: zero with probability p, scale survivors by 1/(1 − p). The mask comes
   * from an inline xorshift32 seeded once per call by `rng`, and is applied without a branch: a
   * per-element Rng call plus an unpredictable branch measured ~20 ns an element, more than the
   * matmuls of a linear head.
   */
  const dropIn = (values: FloatArray, length: number, p: number, rng: Rng): void => {
    const scale = 1 / (1 - p);
    const threshold = Math.floor(p * 2147483648); // compared with 31 random bits
    let state = rng.int(2147483647) + 1; // xorshift32 needs a non-zero state
    for (let e = 0; e < length; e++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const keep = (((state >>> 1) - threshold) >>> 31) ^ 1; // 1 when the bits ≥ threshold
      values[e] *= keep * scale;
    }
  };

  const forward = (count: number, rng: Rng | null): FloatArray => {
    if (rng && inputDropout > 0) dropIn(activations[0], count * shape.inputs, inputDropout, rng);
    layers.forEach((layer, l) => {
      const { inputs, outputs, weight, bias } = layer;
      const out = activations[l + 1];
      backend.gemm(count, outputs, inputs, activations[l], inputs, 1, weight, outputs, out, outputs);
      const hidden = l + 1 < layers.length;
      for (let r = 0; r < count; r++) {
        const base = r * outputs;
        if (hidden) {
          for (let o = 0; o < outputs; o++) {
            const z = out[base + o] + bias[o];
            out[base + o] = z > 0 ? z : 0;
          }
        } else {
          for (let o = 0; o < outputs; o++) out[base + o] += bias[o];
        }
      }
      if (hidden && rng && dropout > 0) dropIn(out, count * outputs, dropout, rng);
    });
    return activations[layers.length];
  };

  /** Gradients of every layer from ∂loss/∂logits already in gradients[L]. */
  const backward = (count: number, training: boolean): void => {
    for (let l = layers.length - 1; l >= 0; l--) {
      const { inputs, outputs, weight, weightGrad, biasGrad, weightT } = layers[l];
      const dOut = gradients[l + 1]!;
      backend.gemm(inputs, outputs, count, activations[l], 1, inputs, dOut, outputs, weightGrad, outputs);
      biasGrad.fill(0);
      for (let r = 0; r < count; r++) for (let o = 0; o < outputs; o++) biasGrad[o] += dOut[r * outputs + o];
      if (l2 > 0) for (let e = 0; e < weight.length; e++) weightGrad[e] += l2 * weight[e];
      if (l === 0) break;
      for (let i = 0; i < inputs; i++) for (let o = 0; o < outputs; o++) weightT![o * inputs + i] = weight[i * outputs + o];
      const dIn = gradients[l]!;
      backend.gemm(count, inputs, outputs, dOut, outputs, 1, weightT!, inputs, dIn, inputs);
      // activations[l] = dropout(relu(z)): positive exactly where z > 0 and the unit was kept.
      const scale = training && dropout > 0 ? 1 / (1 - dropout) : 1;
      const act = activations[l];
      for (let e = 0; e < count * inputs; e++) dIn[e] = act[e] > 0 ? dIn[e] * scale : 0;
    }
  };

  const l2Penalty = (): number => {
    if (l2 === 0) return 0;
    let sum = 0;
    for (const layer of layers) for (let e = 0; e < layer.weight.length; e++) sum += layer.weight[e] * layer.weight[e];
    return 0.5 * l2 * sum;
  };

  /** Eval-mode pass over all rows of X in chunks of maxBatch, handing each chunk's logits to `visit`. */
  const forEachChunk = (X: Matrix, visit: (logits: FloatArray, start: number, count: number) => void): void => {
    for (let start = 0; start < X.rows; start += maxBatch) {
      const count = Math.min(maxBatch, X.rows - start);
      loadRows(X, count, null, start);
      visit(forward(count, null), start, count);
    }
  };

  return {
    shape,
    backend,
    paramGroups,
    maxBatch,

    initialise(init, rng) {
      for (const layer of layers) {
        const std = Math.sqrt(2 / layer.inputs);
        for (let e = 0; e < layer.weight.length; e++) layer.weight[e] = init === 'zeros' ? 0 : std * rng.normal();
        layer.bias.fill(0);
      }
    },

    lossAndGradient(X, y, weights, rows, rng) {
      const count = rows.length;
      if (count > maxBatch) throw new Error(`batch of ${count} rows exceeds this network's ${maxBatch}`);
      loadRows(X, count, rows);
      for (let r = 0; r < count; r++) {
        batchLabels[r] = y[rows[r]];
        batchWeights[r] = weights ? weights[rows[r]] : 1;
      }
      const logits = forward(count, rng);
      const loss = smoothedCrossEntropy(logits, count, classes, batchLabels, batchWeights, labelSmoothing, gradients[layers.length]);
      backward(count, rng !== null);
      return loss + l2Penalty();
    },

    evaluate(X, y) {
      let loss = 0;
      let correct = 0;
      forEachChunk(X, (logits, start, count) => {
        const labels = y.subarray(start, start + count);
        loss += count * smoothedCrossEntropy(logits, count, classes, labels, null, labelSmoothing);
        correct += countCorrect(logits, count, classes, labels);
      });
      return { loss: loss / X.rows, accuracy: correct / X.rows };
    },

    logits(X) {
      const out = new Float32Array(X.rows * classes);
      forEachChunk(X, (logits, start, count) => out.set(logits.subarray(0, count * classes), start * classes));
      return out;
    },

    snapshot() {
      return paramGroups.map((g) => g.value.slice());
    },

    restore(snapshot) {
      paramGroups.forEach((g, i) => g.value.set(snapshot[i]));
    },

    load(weights) {
      if (weights.length !== layers.length) throw new Error(`expected ${layers.length} layers, got ${weights.length}`);
      layers.forEach((layer, l) => {
        const { weight, bias } = weights[l];
        if (weight.length !== layer.weight.length || bias.length !== layer.outputs) throw new Error(`layer ${l}: wrong tensor sizes`);
        for (let o = 0; o < layer.outputs; o++) {
          for (let i = 0; i < layer.inputs; i++) layer.weight[i * layer.outputs + o] = weight[o * layer.inputs + i];
        }
        layer.bias.set(bias);
      });
    },

    export() {
      return layers.map((layer) => {
        const weight = new Float32Array(layer.weight.length);
        for (let o = 0; o < layer.outputs; o++) {
          for (let i = 0; i < layer.inputs; i++) weight[o * layer.inputs + i] = layer.weight[i * layer.outputs + o];
        }
        return { weight, bias: Float32Array.from(layer.bias) };
      });
    },
  };
}
