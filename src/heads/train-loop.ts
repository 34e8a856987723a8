import { LensembleError } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';
import { createRng, deriveSeed, permutation, type Rng } from '../util/rng.js';
import type { DenseBackend } from './dense-backend.js';
import type { FloatArray } from './dense-math.js';
import { type AdamWHyper, createAdamW, type OneCycleOptions, oneCycleAt, type ParamGroup } from './optim.js';

/** What the training loop and lr_find need from a model. */
export interface Trainable {
  readonly backend: DenseBackend;
  readonly paramGroups: ParamGroup[];
  /** Largest batch `lossAndGradient` accepts. */
  readonly maxBatch: number;
  /**
   * Forward and backward pass over rows X[rows[i]]: fills every group's `grad` and returns the
   * batch objective. `rng` non-null means training mode (dropout on, drawn from it).
   */
  lossAndGradient(X: Matrix, y: Int32Array, weights: Float32Array | null, rows: Int32Array, rng: Rng | null): number;
  /** Eval-mode mean loss and accuracy over all rows. */
  evaluate(X: Matrix, y: Int32Array): { loss: number; accuracy: number };
  snapshot(): FloatArray[];
  restore(snapshot: FloatArray[]): void;
}

export interface TrainData {
  X: Matrix;
  y: Int32Array;
  weights: Float32Array | null;
}

/**
 * One epoch's shuffled mini-batches as views on a permutation. Like fastai's training DataLoader
 * (shuffle=True, drop_last=True) the incomplete last batch is dropped, unless it is the only one.
 */
export function epochBatches(rows: number, batchSize: number, rng: Rng): Int32Array[] {
  const order = permutation(rows, rng);
  const full = Math.floor(rows / batchSize);
  if (full === 0) return [order];
  return Array.from({ length: full }, (_, b) => order.subarray(b * batchSize, (b + 1) * batchSize));
}

function batchesPerEpoch(rows: number, batchSize: number): number {
  return Math.max(1, Math.floor(rows / batchSize));
}

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  lrMax: number;
  oneCycle: Omit<OneCycleOptions, 'lrMax'>;
  /** AdamW's β2, eps, weight decay (lr and β1 follow the one-cycle schedule). */
  adam: Pick<AdamWHyper, 'beta2' | 'eps' | 'weightDecay'>;
  /** Epochs without a validation-loss improvement before stopping (fastai EarlyStoppingCallback). */
  patience: number;
  /** An improvement must beat the best validation loss by more than this. */
  minDelta: number;
  seed: number;
  onProgress?: (done: number, total: number, info?: Record<string, number>) => void;
}

export interface EpochRecord {
  epoch: number;
  /** Mean objective over the epoch's batches, in training mode. */
  trainLoss: number;
  /** Eval-mode loss on the validation rows: the same label-smoothed loss, as fastai's valid_loss. */
  validLoss: number | null;
  validAccuracy: number | null;
  /** Learning rate of the epoch's last batch. */
  lr: number;
  seconds: number;
}

export interface TrainReport {
  seconds: number;
  epochs: EpochRecord[];
  /** Epoch (0-based) whose weights were kept: the best validation loss, or the last epoch without validation. */
  bestEpoch: number;
  stoppedEarly: boolean;
  /** The loss became NaN/∞ (learning rate too high); the best validated weights were restored. */
  diverged: boolean;
}

/**
 * fastai `fit_one_cycle` with AdamW, plus `EarlyStoppingCallback` and `SaveModelCallback` on the
 * validation loss: trains `net` in place and leaves it holding the best-validated weights.
 */
export function trainOneCycle(net: Trainable, train: TrainData, valid: { X: Matrix; y: Int32Array } | undefined, settings: TrainSettings): TrainReport {
  const started = performance.now();
  const { epochs, batchSize, lrMax, oneCycle, adam, patience, minDelta, seed } = settings;
  if (batchSize > net.maxBatch) throw new Error(`batch size ${batchSize} exceeds the network's ${net.maxBatch}`);
  const optimiser = createAdamW(net.paramGroups, { ...adam, lr: lrMax }, { alloc: net.backend.alloc, kernel: net.backend.adamw });
  const shuffleRng = createRng(deriveSeed(seed, 'shuffle'));
  const dropoutRng = createRng(deriveSeed(seed, 'dropout'));
  const totalSteps = epochs * batchesPerEpoch(train.X.rows, batchSize);
  const records: EpochRecord[] = [];
  let step = 0;
  let best = { loss: Infinity, epoch: -1, weights: null as FloatArray[] | null };
  let stale = 0;
  let stoppedEarly = false;
  let diverged = false;

  for (let epoch = 0; epoch < epochs && !stoppedEarly && !diverged; epoch++) {
    const epochStart = performance.now();
    let lossSum = 0;
    let lr = lrMax;
    const batches = epochBatches(train.X.rows, batchSize, shuffleRng);
    for (const rows of batches) {
      const hyper = oneCycleAt(step / totalSteps, { lrMax, ...oneCycle });
      lr = hyper.lr;
      const loss = net.lossAndGradient(train.X, train.y, train.weights, rows, dropoutRng);
      if (!Number.isFinite(loss)) {
        diverged = true;
        break;
      }
      optimiser.step(hyper);
      lossSum += loss;
      step++;
    }
    if (diverged) break;

    const evaluated = valid ? net.evaluate(valid.X, valid.y) : null;
    const record: EpochRecord = {
      epoch,
      trainLoss: lossSum / batches.length,
      validLoss: evaluated?.loss ?? null,
      validAccuracy: evaluated?.accuracy ?? null,
      lr,
      seconds: (performance.now() - epochStart) / 1000,
    };
    records.push(record);
    settings.onProgress?.(epoch + 1, epochs, {
      trainLoss: record.trainLoss,
      lr,
      ...(evaluated ? { validLoss: evaluated.loss, validAccuracy: evaluated.accuracy } : {}),
    });

    if (evaluated) {
      if (evaluated.loss - minDelta < best.loss) {
        best = { loss: evaluated.loss, epoch, weights: net.snapshot() };
        stale = 0;
      } else if (++stale >= patience) {
        stoppedEarly = epoch + 1 < epochs;
      }
    }
  }

  if (diverged && !best.weights) {
    throw new LensembleError(`training diverged (loss not finite) in epoch ${records.length + 1}: lower the learning rate (was ${lrMax})`);
  }
  if (best.weights) net.restore(best.weights);
  return {
    seconds: (performance.now() - started) / 1000,
    epochs: records,
    bestEpoch: best.weights ? best.epoch : records.length - 1,
    stoppedEarly,
    diverged,
  };
}
