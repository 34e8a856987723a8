// The AdamW update as graph nodes (torch.optim.AdamW / fastai Adam with true weight decay, bias-corrected):
//   p ← p·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
//   p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
// lr, β1, wd and t are graph inputs, so a one-cycle schedule (lr and momentum per step) needs no new graph.
import type { GraphBuilder } from './graph-builder.js';

export interface AdamWScalars {
  /** Scalar learning rate of this bucket's layer group. */
  lr: string;
  beta1: string;
  /** Scalar weight decay, or undefined for a bucket that is not decayed. */
  weightDecay?: string;
  /** 1 − β1ᵗ and 1/√(1 − β2ᵗ), shared by all buckets. */
  biasCorrection1: string;
  inverseSqrtBiasCorrection2: string;
}

export interface AdamWConstants {
  beta2: number;
  eps: number;
}

/** The per-step scalars shared by every bucket: bias corrections from β1, β2 and the step count t (1-based). */
export function biasCorrections(b: GraphBuilder, beta1: string, step: string, beta2: number): { biasCorrection1: string; inverseSqrtBiasCorrection2: string } {
  const one = b.scalar(1);
  const biasCorrection1 = b.op('Sub', [one, b.op('Pow', [beta1, step])]);
  const biasCorrection2 = b.op('Sub', [one, b.op('Pow', [b.scalar(beta2), step])]);
  return { biasCorrection1, inverseSqrtBiasCorrection2: b.op('Reciprocal', [b.op('Sqrt', [biasCorrection2])]) };
}

/** Emits one bucket's update; returns the new parameter and moments. Fewest full-length passes: 14. */
export function adamWUpdate(
  b: GraphBuilder,
  s: AdamWScalars,
  c: AdamWConstants,
  tensors: { param: string; grad: string; expAvg: string; expAvgSq: string },
  outputs: { param: string; expAvg: string; expAvgSq: string },
): void {
  const one = b.scalar(1);
  const { param, grad, expAvg, expAvgSq } = tensors;
  // m + (g − m)(1 − β1) = β1·m + (1 − β1)·g
  const oneMinusBeta1 = b.op('Sub', [one, s.beta1]);
  const m = b.op('Add', [expAvg, b.op('Mul', [b.op('Sub', [grad, expAvg]), oneMinusBeta1])], {}, outputs.expAvg);
  const v = b.op('Add', [expAvgSq, b.op('Mul', [b.op('Sub', [b.op('Mul', [grad, grad]), expAvgSq]), b.scalar(1 - c.beta2)])], {}, outputs.expAvgSq);
  const denominator = b.op('Add', [b.op('Mul', [b.op('Sqrt', [v]), s.inverseSqrtBiasCorrection2]), b.scalar(c.eps)]);
  const stepSize = b.op('Div', [s.lr, s.biasCorrection1]);
  const update = b.op('Mul', [b.op('Div', [m, denominator]), stepSize]);
  const decayed = s.weightDecay ? b.op('Mul', [param, b.op('Sub', [one, b.op('Mul', [s.lr, s.weightDecay])])]) : param;
  b.op('Sub', [decayed, update], {}, outputs.param);
}
