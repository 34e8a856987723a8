import type { FeatureEntry, FeatureStore } from './feature-store.js';

/**
 * A feature store that lives in this process only: what a queue worker extracts into before sending the rows
 * back to the coordinator, whose own on-disk store is the one that keeps them.
 */
export function createMemoryFeatureStore(): FeatureStore & { entries(): FeatureEntry[] } {
  const rows = new Map<string, FeatureEntry>();
  let dim: number | undefined;
  return {
    dir: '',
    keyId: 'memory',
    get dim() {
      return dim;
    },
    get size() {
      return rows.size;
    },
    has: (contentHash, view) => rows.has(`${contentHash}:${view}`),
    get: (contentHash, view) => rows.get(`${contentHash}:${view}`)?.features.slice(),
    append(entries) {
      for (const e of entries) {
        dim ??= e.features.length;
        if (e.features.length !== dim) throw new Error(`feature length ${e.features.length} does not match the store's ${dim}`);
        rows.set(`${e.contentHash}:${e.view}`, { contentHash: e.contentHash, view: e.view, features: e.features.slice() });
      }
    },
    entries: () => [...rows.values()],
  };
}
