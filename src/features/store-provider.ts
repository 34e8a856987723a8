import { featureKeyId, openFeatureStore, type FeatureEntry, type FeatureStore } from './feature-store.js';

/** Where the feature rows of a cache key live: the on-disk cache (default), or a bounded memory of a server's own. */
export type FeatureStores = (key: unknown) => FeatureStore;

export const diskStores = (cacheRoot: string): FeatureStores => (key) => openFeatureStore(cacheRoot, key);

/**
 * One least-recently-used memory of at most `maxRows` feature rows across every key: what a server keeps of the
 * images it was sent, so that a repeated image costs nothing while unique uploads never grow without bound.
 */
export function boundedMemoryStores(maxRows: number): FeatureStores & { readonly rows: number } {
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new Error(`a memory cache needs at least one row, got ${maxRows}`);
  const rows = new Map<string, Float32Array>(); // insertion order is recency order
  const dims = new Map<string, number>();
  const stores = new Map<string, FeatureStore>();
  const touch = (id: string, features: Float32Array) => {
    rows.delete(id);
    rows.set(id, features);
  };
  const provider = (key: unknown): FeatureStore => {
    const keyId = featureKeyId(key);
    let store = stores.get(keyId);
    if (store) return store;
    const idOf = (hash: string, view: number) => `${keyId}|${hash}:${view}`;
    store = {
      dir: '',
      keyId,
      get dim() {
        return dims.get(keyId);
      },
      get size() {
        let n = 0;
        for (const id of rows.keys()) if (id.startsWith(`${keyId}|`)) n++;
        return n;
      },
      has: (hash, view) => rows.has(idOf(hash, view)),
      get(hash, view) {
        const id = idOf(hash, view);
        const features = rows.get(id);
        if (!features) return undefined;
        touch(id, features);
        return features.slice();
      },
      append(entries: FeatureEntry[]) {
        for (const e of entries) {
          const dim = dims.get(keyId) ?? e.features.length;
          if (e.features.length !== dim) throw new Error(`feature length ${e.features.length} does not match the store's ${dim}`);
          dims.set(keyId, dim);
          touch(idOf(e.contentHash, e.view), e.features.slice());
        }
        for (const id of rows.keys()) {
          if (rows.size <= maxRows) break;
          rows.delete(id);
        }
      },
    };
    stores.set(keyId, store);
    return store;
  };
  return Object.defineProperty(provider, 'rows', { get: () => rows.size }) as FeatureStores & { readonly rows: number };
}
