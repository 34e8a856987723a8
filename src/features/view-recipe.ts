import { resizeForModel } from '../images/preprocess.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { RawImage } from '../images/raw-image.js';

/**
 * How the views of an image are made. View 0 is always the plain (evaluation) view; recipes with
 * augmentation make views 1..K from seeded random transforms. `key` joins the feature-cache key.
 */
export interface ViewRecipe {
  key: unknown;
  render(bytes: Buffer, path: string, contentHash: string, view: number, preprocess: PreprocessSpec): Promise<RawImage>;
  /** Several views of one image at once, decoding it only once (optional). */
  renderViews?(bytes: Buffer, path: string, contentHash: string, views: number[], preprocess: PreprocessSpec): Promise<RawImage[]>;
}

export const plainViews: ViewRecipe = {
  key: { kind: 'plain' },
  render: (bytes, path, _hash, view, preprocess) => {
    if (view !== 0) throw new Error(`the plain recipe has only view 0, asked for view ${view}`);
    return resizeForModel(bytes, path, preprocess);
  },
};
