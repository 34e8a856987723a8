import type { AugmentSpec } from '../images/augment-spec.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { RawImage } from '../images/raw-image.js';
import { augmentedViews, flipViews } from './augmented-views.js';
import { plainViews, type ViewRecipe } from './view-recipe.js';

/** Renders several views of one image, decoding it once where the recipe can. */
export function renderViews(recipe: ViewRecipe, bytes: Buffer, item: { path: string; contentHash: string }, views: number[], preprocess: PreprocessSpec): Promise<RawImage[]> {
  if (recipe.renderViews) return recipe.renderViews(bytes, item.path, item.contentHash, views, preprocess);
  return Promise.all(views.map((view) => recipe.render(bytes, item.path, item.contentHash, view, preprocess)));
}

const rebuilt = new Map<string, ViewRecipe>();

/** The built-in recipe a key describes (what a worker thread rebuilds it from), or undefined for any other. */
export function recipeFromKey(key: unknown): ViewRecipe | undefined {
  const text = JSON.stringify(key);
  let recipe = rebuilt.get(text);
  if (recipe) return recipe;
  const k = key as { kind?: string; spec?: AugmentSpec; seed?: number };
  if (k.kind === 'plain') recipe = plainViews;
  else if (k.kind === 'flip') recipe = flipViews;
  else if (k.kind === 'augment' && k.spec && typeof k.seed === 'number') recipe = augmentedViews(k.spec, k.seed);
  // Only when rebuilding gives back the very same key: a custom recipe that merely borrows a kind stays put.
  if (!recipe || JSON.stringify(recipe.key) !== text) return undefined;
  rebuilt.set(text, recipe);
  return recipe;
}
