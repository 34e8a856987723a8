import { createRng, deriveSeed } from '../util/rng.js';
import { createAdamW, type AdamWHyper, scheduleExp } from './optim.js';
import { epochBatches, type Trainable, type TrainData } from './train-loop.js';

export interface LrFindOptions {
  startLr: number;
  endLr: number;
  /** Mini-batches to sweep over (fastai `num_it`). */
  numIt: number;
  /** Stop once the smoothed loss exceeds 4× its minimum (fastai `stop_div`). */
  stopDiv: boolean;
  batchSize: number;
  /** AdamW settings held fixed during the sweep; fastai leaves Adam's default β1 0.9 in place. */
  adam: Pick<AdamWHyper, 'beta1' | 'beta2' | 'eps' | 'weightDecay'>;
  seed: number;
}

export const LR_FIND_DEFAULTS: Omit<LrFindOptions, 'batchSize' | 'adam' | 'seed'> = {
  startLr: 1e-7,
  endLr: 10,
  numIt: 100,
  stopDiv: true,
};

export interface LrFindResult {
  /** fastai's `valley` suggestion. */
  suggestion: number;
  /** Learning rate and smoothed loss of every batch run. */
  lrs: number[];
  losses: number[];
}

/** fastai `AvgSmoothLoss`: exponential moving average (β 0.98) with the bias correction. */
function createSmoother(beta = 0.98): (loss: number) => number {
  let average = 0;
  let count = 0;
  return (loss) => {
    count++;
    average = loss + beta * (average - loss); // torch.lerp(loss, average, beta)
    return average / (1 - beta ** count);
  };
}

/**
 * fastai `Learner.lr_find`: train with the learning rate growing geometrically from startLr to endLr
 * over numIt batches (reshuffling each epoch), recording the smoothed loss, and stop early when it
 * passes 4× its minimum. `net` is trained in place and then restored to its starting weights, as
 * fastai saves and reloads the model; pass a scratch copy anyway when the real one must not be touched.
 */
export function lrFind(net: Trainable, train: TrainData, options: Partial<LrFindOptions> & Pick<LrFindOptions, 'batchSize' | 'adam' | 'seed'>): LrFindResult {
  const { startLr, endLr, numIt, stopDiv, batchSize, adam, seed } = { ...LR_FIND_DEFAULTS, ...options };
  const its = Math.max(numIt, 6); // as fastai's LRFinder
  const start = net.snapshot();
  const optimiser = createAdamW(net.paramGroups, { ...adam, lr: startLr }, { alloc: net.backend.alloc, kernel: net.backend.adamw });
  const shuffleRng = createRng(deriveSeed(seed, 'lr-find-shuffle'));
  const dropoutRng = createRng(deriveSeed(seed, 'lr-find-dropout'));
  const smooth = createSmoother();
  const lrs: number[] = [];
  const losses: number[] = [];
  let bestLoss = Infinity;
  let iteration = 0;
  sweep: for (;;) {
    for (const rows of epochBatches(train.X.rows, batchSize, shuffleRng)) {
      const lr = scheduleExp(startLr, endLr, iteration / its);
      const loss = net.lossAndGradient(train.X, train.y, train.weights, rows, dropoutRng);
      optimiser.step({ lr });
      iteration++;
      const smoothed = smooth(loss);
      lrs.push(lr);
      losses.push(smoothed);
      if (smoothed < bestLoss) bestLoss = smoothed;
      // NaN would never pass the 4× test in fastai; it is cut from the suggestion anyway, so stop here.
      if ((stopDiv && smoothed > 4 * bestLoss) || !Number.isFinite(smoothed)) break sweep;
      if (iteration >= its) break sweep;
    }
  }
  net.restore(start);
  return { suggestion: suggestFromCurve(lrs, losses, numIt), lrs, losses };
}

/** fastai's post-processing: drop the first num_it/10 and last 5 points and anything from the first NaN, then `valley`. */
export function suggestFromCurve(lrs: number[], losses: number[], numIt: number): number {
  let from = Math.floor(numIt / 10);
  let to = losses.length - 5;
  const firstNaN = losses.findIndex((l, i) => i >= from && i < to && Number.isNaN(l));
  if (firstNaN >= 0) to = firstNaN;
  if (to - from < 2) {
    // Too short a curve for a valley (fastai would fail here): one tenth of the lr at the lowest loss.
    from = 0;
    to = losses.length;
    let best = 0;
    for (let i = 1; i < to; i++) if (losses[i] < losses[best]) best = i;
    return lrs[best] / 10;
  }
  return valley(lrs.slice(from, to), losses.slice(from, to)).lr;
}

/**
 * fastai `valley`: find the longest stretch over which the loss keeps falling (longest decreasing
 * subsequence, by dynamic programming) and suggest the point ⌊len/3⌋ + ⌊len/6⌋ past its start,
 * about half-way down. Kept line for line, including fastai updating the running maximum inside
 * the inner loop.
 */
export function valley(lrs: number[], losses: number[]): { lr: number; index: number } {
  const n = losses.length;
  let maxStart = 0;
  let maxEnd = 0;
  const lds = new Array<number>(n).fill(1);
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const index = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  return { lr: lrs[index], index };
}
