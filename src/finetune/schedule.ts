import { discriminativeLrs } from '../autodiff/blocks.js';
import { oneCycleAt } from '../heads/optim.js';
import type { FineTuneRecipe } from './recipe.js';

export interface StepHyperparameters {
  /** One learning rate per layer group, earliest first (the head's group last). */
  lr: number[];
  beta1: number;
}

/**
 * The unfrozen phase of fastai's `fine_tune`: `fit_one_cycle(epochs, slice(base/2/lrMult, base/2), pct_start,
 * div)` — every group's lr follows the one cycle scaled to its own peak (fastai's `even_mults`), β1 cycles
 * 0.95 → 0.85 → 0.95. `position` is the fraction of this phase's steps done before the step.
 */
export function unfrozenHyperparameters(recipe: FineTuneRecipe, groups: number, position: number): StepHyperparameters {
  const peak = recipe.lr / 2;
  const peaks = discriminativeLrs(peak / recipe.lrMult, peak, groups);
  const cycle = (lrMax: number) => oneCycleAt(position, { lrMax, pctStart: recipe.pctStart, div: recipe.div });
  return { lr: peaks.map((p) => cycle(p).lr), beta1: cycle(peak).beta1 };
}
