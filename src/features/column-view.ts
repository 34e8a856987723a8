import type { FeatureStore } from './feature-store.js';

/** A read-only view of a feature store that exposes only some columns (e.g. trace kernels without σ). */
export function selectColumns(store: FeatureStore, columns: number[]): FeatureStore {
  return {
    dir: store.dir,
    keyId: store.keyId,
    get dim() {
      return columns.length;
    },
    get size() {
      return store.size;
    },
    has: (hash, view) => store.has(hash, view),
    get(hash, view) {
      const row = store.get(hash, view);
      return row ? Float32Array.from(columns, (c) => row[c]) : undefined;
    },
    append() {
      throw new Error('a column view is read-only');
    },
  };
}
