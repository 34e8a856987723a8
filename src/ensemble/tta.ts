import type { Matrix } from '../util/matrix.js';
import { averageProbabilities } from './average.js';
import type { TtaKind } from './member-spec.js';

/** Which cached views a TTA kind needs besides the plain view 0. */
export function ttaViewIndices(kind: TtaKind, ttaViews: number): number[] {
  if (kind === 'fastai') return Array.from({ length: ttaViews }, (_, i) => i + 1);
  if (kind === 'flip') return [1];
  return [];
}

/**
 * Combines per-view probabilities as fastai's `Learner.tta` does: the mean of the augmented passes, then
 * lerp toward the plain prediction by beta (0.75·augmented + 0.25·plain at the default beta 0.25).
 * Flip TTA is the plain mean of the plain and mirrored views.
 */
export function combineTta(kind: TtaKind, plain: Matrix, views: Matrix[], beta = 0.25): Matrix {
  if (kind === 'none' || views.length === 0) return plain;
  if (kind === 'flip') return averageProbabilities([plain, ...views]);
  const augmented = averageProbabilities(views);
  return averageProbabilities([augmented, plain], [1 - beta, beta]);
}
