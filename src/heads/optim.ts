import type { FloatArray } from './dense-math.js';

/** One tensor the optimiser updates in place from its gradient. */
export interface ParamGroup {
  value: FloatArray;
  grad: FloatArray;
  /** False for biases: weight decay never touches them. */
  decay: boolean;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Divide the moments by (1 − βᵗ) as torch and fastai do; off only for experiments. */
  biasCorrection: boolean;
}

/**
 * fastai's Adam defaults (`fastai.optimizer.Adam`: mom 0.9, sqr_mom 0.99, eps 1e-5, wd 0.01), which
 * `fit_one_cycle` is tuned with; torch.optim.AdamW's are β2 0.999, eps 1e-8.
 */
export const ADAMW_DEFAULTS: AdamWHyper = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-5,
  weightDecay: 0.01,
  biasCorrection: true,
};

/** The per-step scalars of one AdamW update, so that kernels stay free of bookkeeping. */
export interface AdamWCoefficients {
  /** 1 − lr·wd (decoupled weight decay), or 1 for groups that are not decayed. */
  decay: number;
  /** lr / (1 − β1ᵗ) */
  stepSize: number;
  beta1: number;
  beta2: number;
  /** 1 / √(1 − β2ᵗ) */
  denomScale: number;
  eps: number;
}

/** Updates one tensor and its two moment buffers in place. */
export type AdamWKernel = (
  value: FloatArray, grad: FloatArray, expAvg: FloatArray, expAvgSq: FloatArray, c: AdamWCoefficients,
) => void;

/**
 * torch.optim.AdamW's single-tensor step, line for line:
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
 *   p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
 */
export const adamwUpdate: AdamWKernel = (value, grad, expAvg, expAvgSq, c) => {
  const { decay, stepSize, beta1, beta2, denomScale, eps } = c;
  for (let i = 0; i < value.length; i++) {
    const g = grad[i];
    const m = beta1 * expAvg[i] + (1 - beta1) * g;
    const v = beta2 * expAvgSq[i] + (1 - beta2) * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    value[i] = value[i] * decay - (stepSize * m) / (Math.sqrt(v) * denomScale + eps);
  }
};

export interface AdamW {
  /** Steps taken so far (t in the bias corrections). */
  readonly steps: number;
  readonly hyper: Readonly<AdamWHyper>;
  /** One update of every group from its current gradient; `changes` set hyper-parameters first (schedules). */
  step(changes?: Partial<AdamWHyper>): void;
}

export interface AdamWOptions {
  /** Where the moment buffers live (the network's backend, so its kernel can read them). */
  alloc?: (length: number) => FloatArray;
  kernel?: AdamWKernel;
}

export function createAdamW(groups: ParamGroup[], hyper: Partial<AdamWHyper> = {}, options: AdamWOptions = {}): AdamW {
  const current: AdamWHyper = { ...ADAMW_DEFAULTS, ...hyper };
  const alloc = options.alloc ?? ((length: number) => new Float32Array(length));
  const kernel = options.kernel ?? adamwUpdate;
  const moments = groups.map((g) => ({ expAvg: alloc(g.value.length), expAvgSq: alloc(g.value.length) }));
  let steps = 0;
  return {
    get steps() {
      return steps;
    },
    hyper: current,
    step(changes) {
      if (changes) Object.assign(current, changes);
      steps++;
      const { lr, beta1, beta2, eps, weightDecay, biasCorrection } = current;
      const stepSize = biasCorrection ? lr / (1 - beta1 ** steps) : lr;
      const denomScale = biasCorrection ? 1 / Math.sqrt(1 - beta2 ** steps) : 1;
      groups.forEach((g, i) => {
        const decay = g.decay ? 1 - lr * weightDecay : 1;
        kernel(g.value, g.grad, moments[i].expAvg, moments[i].expAvgSq, { decay, stepSize, beta1, beta2, denomScale, eps });
      });
    },
  };
}

/** fastai `sched_cos`: cosine from `start` (pos 0) to `end` (pos 1). */
export function scheduleCos(start: number, end: number, pos: number): number {
  return start + ((1 + Math.cos(Math.PI * (1 - pos))) * (end - start)) / 2;
}

/** fastai `sched_exp`: geometric from `start` to `end`. */
export function scheduleExp(start: number, end: number, pos: number): number {
  return start * (end / start) ** pos;
}

/** fastai `combined_cos(pct, start, middle, end)`: cosine start→middle over [0, pct), middle→end after. */
export function combinedCos(pct: number, start: number, middle: number, end: number, pos: number): number {
  if (pos < pct) return scheduleCos(start, middle, pos / pct);
  return scheduleCos(middle, end, pct >= 1 ? 1 : (pos - pct) / (1 - pct));
}

export interface OneCycleOptions {
  lrMax: number;
  /** Fraction of the iterations spent warming up (fastai `pct_start`). */
  pctStart: number;
  /** Starting lr = lrMax / div. */
  div: number;
  /** Final lr = lrMax / divFinal. */
  divFinal: number;
  /** β1 at start, peak-lr and end (fastai `moms`). */
  moms: [number, number, number];
}

export const ONE_CYCLE_DEFAULTS: Omit<OneCycleOptions, 'lrMax'> = {
  pctStart: 0.25,
  div: 25,
  divFinal: 1e5,
  moms: [0.95, 0.85, 0.95],
};

/**
 * fastai `Learner.fit_one_cycle`: lr and β1 at `pos` = fraction of training done (fastai's
 * `pct_train`, i.e. iteration / total iterations, read before each batch).
 */
export function oneCycleAt(pos: number, options: Partial<OneCycleOptions> & { lrMax: number }): { lr: number; beta1: number } {
  const { lrMax, pctStart, div, divFinal, moms } = { ...ONE_CYCLE_DEFAULTS, ...options };
  return {
    lr: combinedCos(pctStart, lrMax / div, lrMax, lrMax / divFinal, pos),
    beta1: combinedCos(pctStart, moms[0], moms[1], moms[2], pos),
  };
}
