import type { Matrix } from '../util/matrix.js';
import { fitEnsembleWeights } from './fit-weights.js';

export const weightMethods = ['fit', 'mean'] as const;
export type WeightMethod = (typeof weightMethods)[number];

export interface EnsembleWeights {
  weights: number[];
  method: 'fit' | 'mean' | 'single';
  folds?: number;
  oofLogLoss?: number;
  memberOofLogLoss?: number[];
}

/**
 * The members' weights: one member needs none; 'mean' is fastai's plain average (by each member's `weight`);
 * 'fit' (the default for ensembles) is log-loss-optimal on out-of-fold predictions of the training images, so a
 * weak or overconfident member cannot drag the ensemble below its best member.
 */
export function chooseWeights(
  members: { weight: number; outOfFold?: Matrix }[],
  yTrain: Int32Array,
  method: WeightMethod,
  folds: number,
): { weights: EnsembleWeights; note?: string } {
  if (members.length === 1) return { weights: { weights: [1], method: 'single' } };
  const given = members.map((m) => m.weight);
  const total = given.reduce((a, b) => a + b, 0);
  const mean: EnsembleWeights = { weights: given.map((w) => w / total), method: 'mean' };
  if (method === 'mean') return { weights: mean };
  if (members.some((m) => !m.outOfFold)) return { weights: mean, note: 'too few near-duplicate groups in the training split for out-of-fold predictions: members averaged by their weights' };
  const fitted = fitEnsembleWeights(members.map((m) => m.outOfFold!), yTrain);
  return { weights: { weights: fitted.weights, method: 'fit', folds, oofLogLoss: fitted.logLoss, memberOofLogLoss: fitted.memberLogLoss } };
}
