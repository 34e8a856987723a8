import { zeros, type Matrix } from '../util/matrix.js';
import type { FeatureStore } from './feature-store.js';

/** Feature rows for the given content hashes and view, in order; throws if any is missing. */
export function gatherFeatures(store: FeatureStore, contentHashes: readonly string[], view = 0): Matrix {
  const dim = store.dim;
  if (dim === undefined) throw new Error(`feature cache ${store.dir} is empty`);
  const out = zeros(contentHashes.length, dim);
  contentHashes.forEach((hash, i) => {
    const row = store.get(hash, view);
    if (!row) throw new Error(`features for image ${hash.slice(0, 12)}… view ${view} are not in the cache`);
    out.data.set(row, i * dim);
  });
  return out;
}
