import { resolveAugmentSpec } from '../images/augment-spec.js';
import { ttaViewIndices, type TtaKind } from '../ensemble/tta.js';
import { augmentedViews, flipViews } from './augmented-views.js';
import type { ViewRecipe } from './view-recipe.js';

export interface AugmentationSettings {
  spec: Record<string, unknown>;
  seed: number;
}

/** The recipe for a member's augmented views (training views and fastai-TTA views share it, and its cache). */
export function augmentationRecipe(augmentation: AugmentationSettings): ViewRecipe {
  return augmentedViews(resolveAugmentSpec(augmentation.spec), augmentation.seed);
}

/** The recipe and view indices a member's TTA needs (none for 'none'). */
export function ttaPlan(tta: { kind: TtaKind; views: number }, augmentation: AugmentationSettings): { recipe: ViewRecipe; views: number[] } | undefined {
  if (tta.kind === 'none') return undefined;
  const recipe = tta.kind === 'flip' ? flipViews : augmentationRecipe(augmentation);
  return { recipe, views: ttaViewIndices(tta.kind, tta.views) };
}
