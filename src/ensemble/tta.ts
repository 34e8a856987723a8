import { z } from 'zod';
import type { Matrix } from '../util/matrix.js';
import { averageProbabilities } from './average.js';

export const ttaKinds = ['none', 'flip', 'fastai'] as const;
export type TtaKind = (typeof ttaKinds)[number];

/** How a member combines its predictions of several views of an image. */
export const ttaSettingsSchema = z.strictObject({
  kind: z.enum(ttaKinds).default('fastai'),
  /** Augmented passes averaged by fastai TTA (learn.tta's n). */
  views: z.number().int().min(1).max(64).default(4),
  /** fastai TTA mix: final = (1 − beta)·mean(augmented) + beta·plain. */
  beta: z.number().min(0).max(1).default(0.25),
});
export type TtaSettings = z.infer<typeof ttaSettingsSchema>;

export const NO_TTA: TtaSettings = { kind: 'none', views: 1, beta: 0.25 };

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
