import type { PreprocessSpec } from '../images/preprocess-spec.js';

/** One image to read and render into normalised views, in a render worker. */
export interface RenderRequest {
  id: number;
  path: string;
  contentHash: string;
  views: number[];
  /** The recipe's key: the data the worker rebuilds the recipe from. */
  recipe: unknown;
  preprocess: PreprocessSpec;
}

export type RenderReply =
  /** views.length normalised CHW images, one after another. */
  | { id: number; data: Float32Array }
  /** Why the image cannot be used (shown next to its path). */
  | { id: number; reason: string };
