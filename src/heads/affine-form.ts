import type { Classifier } from './classifier.js';
import type { NeuralHead } from './neural-head.js';

/** One dense layer in torch's nn.Linear layout: `weight` is outputs × inputs. */
export interface AffineLayer {
  inputs: number;
  outputs: number;
  weight: Float32Array;
  bias: Float32Array;
}

/**
 * A head that is `softmax(L_k(relu(… relu(L_1((x − mean) / scale)))))`: every layer affine, ReLU between them,
 * softmax over the last one's outputs (the logits). Linear, MLP and LDA heads take this form, so they can be
 * differentiated (heatmaps) and written as ONNX ops (export) from one description.
 */
export interface AffineHead {
  kind: string;
  /** Input standardisation, when the head has one. */
  scaling?: { mean: Float32Array; scale: Float32Array };
  layers: AffineLayer[];
}

/** Heads that have no affine form, and why (for messages). */
export const NOT_AFFINE: Record<string, string> = {
  'random-forest': 'a random forest is piecewise constant in its features',
  knn: 'a k-nearest-neighbour vote is piecewise constant in its features',
  svm: 'an SVM with Platt-scaled pairwise probabilities is not a softmax of affine layers',
};

/** Large enough that softmax gives a class that never occurred in training exactly 0, as the LDA head does. */
const ABSENT_LOGIT = -1e30;

/** The affine form of a fitted head, or undefined when it has none (see {@link NOT_AFFINE}). */
export function affineForm(head: Classifier): AffineHead | undefined {
  if (head.kind === 'linear' || head.kind === 'mlp') {
    const state = (head as NeuralHead).state?.();
    if (!state) return undefined;
    const widths = [state.scaling.mean.length, ...(head as NeuralHead).options.hidden, head.nClasses];
    return {
      kind: head.kind,
      scaling: { mean: state.scaling.mean, scale: state.scaling.scale },
      layers: state.layers.map((l, i) => ({ inputs: widths[i], outputs: widths[i + 1], weight: l.weight, bias: l.bias })),
    };
  }
  if (head.kind === 'lda') {
    const { tensors, config } = head.toJSON();
    const [classes, inputs] = tensors.coef.shape;
    const bias = tensors.intercept.data.slice();
    for (const c of (config.absentClasses as number[]) ?? []) bias[c] = ABSENT_LOGIT;
    return { kind: head.kind, layers: [{ inputs, outputs: classes, weight: tensors.coef.data, bias }] };
  }
  return undefined;
}

/** Logits of one feature vector, keeping what the gradient needs: each hidden layer's ReLU mask. */
function forward(head: AffineHead, x: Float32Array): { logits: Float64Array; masks: Uint8Array[] } {
  let a = Float64Array.from(x);
  if (head.scaling) {
    const { mean, scale } = head.scaling;
    a = a.map((v, f) => (v - mean[f]) / scale[f]);
  }
  const masks: Uint8Array[] = [];
  head.layers.forEach((layer, l) => {
    const out = new Float64Array(layer.outputs);
    for (let o = 0; o < layer.outputs; o++) {
      let s = layer.bias[o];
      const base = o * layer.inputs;
      for (let i = 0; i < layer.inputs; i++) s += layer.weight[base + i] * a[i];
      out[o] = s;
    }
    if (l + 1 < head.layers.length) {
      const mask = new Uint8Array(layer.outputs);
      for (let o = 0; o < layer.outputs; o++) {
        mask[o] = out[o] > 0 ? 1 : 0;
        if (!mask[o]) out[o] = 0;
      }
      masks.push(mask);
    }
    a = out;
  });
  return { logits: a, masks };
}

/** Logits of one feature vector (before the softmax). */
export function affineLogits(head: AffineHead, x: Float32Array): Float64Array {
  return forward(head, x).logits;
}

/**
 * ∂ logit_c / ∂ x at the feature vector x, through the ReLUs and the input standardisation (backpropagation
 * of one output; exact wherever no hidden unit sits exactly at 0).
 */
export function logitGradient(head: AffineHead, x: Float32Array, c: number): Float64Array {
  const { masks } = forward(head, x);
  let g = new Float64Array(head.layers[head.layers.length - 1].outputs);
  g[c] = 1;
  for (let l = head.layers.length - 1; l >= 0; l--) {
    const layer = head.layers[l];
    const below = new Float64Array(layer.inputs);
    for (let o = 0; o < layer.outputs; o++) {
      if (g[o] === 0) continue;
      const base = o * layer.inputs;
      for (let i = 0; i < layer.inputs; i++) below[i] += g[o] * layer.weight[base + i];
    }
    if (l > 0) {
      const mask = masks[l - 1];
      for (let i = 0; i < layer.inputs; i++) if (!mask[i]) below[i] = 0;
    }
    g = below;
  }
  if (head.scaling) for (let f = 0; f < g.length; f++) g[f] /= head.scaling.scale[f];
  return g;
}
