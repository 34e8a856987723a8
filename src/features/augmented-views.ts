import { decodeImage } from '../images/decode.js';
import { augment } from '../images/augment.js';
import { degradeImage, hasDegradation, JPEG_ENCODER, sampleDegradeParams } from '../images/degrade.js';
import { mirrorHorizontally } from '../images/mirror.js';
import type { AugmentSpec } from '../images/augment-spec.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { RawImage } from '../images/raw-image.js';
import { fitToModel, modelScale, resizeForModel } from '../images/preprocess.js';
import { createRng, deriveSeed } from '../util/rng.js';
import type { ViewRecipe } from './view-recipe.js';

/**
 * The member's own resize rule becomes the augmentation's item-level presize (fastai: item_tfms=Resize, then
 * batch_tfms=aug_transforms), so augmented views frame the image the way the plain view does.
 */
export function withPresize(spec: AugmentSpec, preprocess: PreprocessSpec): AugmentSpec {
  return { ...spec, presize: spec.presize ?? { width: preprocess.width, height: preprocess.height, method: preprocess.resize } };
}

/** One augmented view: the forensic degradations of the source (if the spec has them), then the geometric pass. */
async function augmentedView(source: RawImage, spec: AugmentSpec, viewSeed: number, preprocess: PreprocessSpec): Promise<RawImage> {
  const degraded = hasDegradation(spec) ? await degradeImage(source, sampleDegradeParams(spec, createRng(deriveSeed(viewSeed, 'degrade')))) : source;
  return augment(degraded, spec, viewSeed, preprocess.width, preprocess.height);
}

/**
 * Views 1..K are fastai-style random augmentations, each drawn from a seed derived from (seed, image content,
 * view index): the same image always gets the same K views, whatever the dataset order. View 0 is plain.
 */
export function augmentedViews(spec: AugmentSpec, seed: number): ViewRecipe {
  const recipe: ViewRecipe = {
    // JPEG re-compressed views depend on the encoder too.
    key: { kind: 'augment', spec, seed, ...((spec.jpegProb ?? 0) > 0 ? { jpegEncoder: JPEG_ENCODER } : {}) },
    async render(bytes, path, contentHash, view, preprocess) {
      return (await recipe.renderViews!(bytes, path, contentHash, [view], preprocess))[0];
    },
    async renderViews(bytes, path, contentHash, views, preprocess) {
      const needsSource = views.some((v) => v !== 0);
      const source = needsSource ? await decodeImage(path, bytes) : undefined;
      const presized = withPresize(spec, preprocess);
      // The full-size decode serves the plain view too, unless resizeForModel would have decoded it reduced.
      const plainFromSource = source !== undefined && modelScale(source.width, source.height, preprocess) * 2 > 1;
      return Promise.all(
        views.map((view) =>
          view !== 0
            ? augmentedView(source!, presized, deriveSeed(seed, contentHash, view), preprocess)
            : plainFromSource
              ? fitToModel(source!, preprocess)
              : resizeForModel(bytes, path, preprocess),
        ),
      );
    },
  };
  return recipe;
}

/** View 1 is the horizontal mirror of the plain view: the cheap flip TTA. */
export const flipViews: ViewRecipe = {
  key: { kind: 'flip' },
  render: async (bytes, path, hash, view, preprocess) => (await flipViews.renderViews!(bytes, path, hash, [view], preprocess))[0],
  async renderViews(bytes, path, _hash, views, preprocess) {
    const plain = await resizeForModel(bytes, path, preprocess);
    return views.map((view) => (view === 0 ? plain : mirrorHorizontally(plain)));
  },
};
