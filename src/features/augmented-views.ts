import { decodeImage } from '../images/decode.js';
import { augment } from '../images/augment.js';
import { mirrorHorizontally } from '../images/mirror.js';
import type { AugmentSpec } from '../images/augment-spec.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import { resizeForModel } from '../images/preprocess.js';
import { deriveSeed } from '../util/rng.js';
import type { ViewRecipe } from './view-recipe.js';

/**
 * The member's own resize rule becomes the augmentation's item-level presize (fastai: item_tfms=Resize, then
 * batch_tfms=aug_transforms), so augmented views frame the image the way the plain view does.
 */
export function withPresize(spec: AugmentSpec, preprocess: PreprocessSpec): AugmentSpec {
  return { ...spec, presize: spec.presize ?? { width: preprocess.width, height: preprocess.height, method: preprocess.resize } };
}

/**
 * Views 1..K are fastai-style random augmentations, each drawn from a seed derived from (seed, image content,
 * view index): the same image always gets the same K views, whatever the dataset order. View 0 is plain.
 */
export function augmentedViews(spec: AugmentSpec, seed: number): ViewRecipe {
  return {
    key: { kind: 'augment', spec, seed },
    async render(bytes, path, contentHash, view, preprocess) {
      if (view === 0) return resizeForModel(bytes, path, preprocess);
      const source = await decodeImage(path, bytes);
      return augment(source, withPresize(spec, preprocess), deriveSeed(seed, contentHash, view), preprocess.width, preprocess.height);
    },
  };
}

/** View 1 is the horizontal mirror of the plain view: the cheap flip TTA. */
export const flipViews: ViewRecipe = {
  key: { kind: 'flip' },
  async render(bytes, path, _hash, view, preprocess) {
    const plain = await resizeForModel(bytes, path, preprocess);
    return view === 0 ? plain : mirrorHorizontally(plain);
  },
};
