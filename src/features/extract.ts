import type { BackboneSession } from '../backbone/session.js';
import type { SkippedImage } from '../dataset/scan.js';
import { ImageReadError, readImageBytes } from '../images/decode.js';
import { writeNormalizedChw } from '../images/preprocess.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import { mapConcurrent } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { openFeatureStore, type FeatureEntry, type FeatureStore } from './feature-store.js';
import { plainViews, type ViewRecipe } from './view-recipe.js';

export interface ExtractItem {
  id: string;
  path: string;
  contentHash: string;
}

export interface ExtractOptions {
  session: BackboneSession;
  preprocess: PreprocessSpec;
  items: ExtractItem[];
  cacheRoot: string;
  recipe?: ViewRecipe;
  /** View indices to extract for every item (default [0]). */
  views?: number[];
  batchSize?: number;
  /** Images decoded at once while the backbone runs. */
  decodeConcurrency?: number;
  progress?: boolean;
  label?: string;
  /** Called after each batch is safely written to the cache. */
  onBatch?: (done: number, total: number) => void;
}

export interface ExtractResult {
  store: FeatureStore;
  computed: number;
  reused: number;
  failures: SkippedImage[];
  seconds: number;
}

/** The feature-cache key: everything that changes what a backbone sees or returns. */
export function featureCacheKey(session: BackboneSession, preprocess: PreprocessSpec, recipe: ViewRecipe): unknown {
  const { spec } = session;
  return { backboneSha256: session.sha256, output: spec.featureOutput, pooling: spec.pooling, preprocess, views: recipe.key };
}

interface PreparedBatch {
  tensor: Float32Array;
  entries: { item: ExtractItem; view: number }[];
}

/**
 * Extracts features for every (item, view) not already cached, streaming batches through the backbone
 * while the next batch decodes. Unreadable images are reported and skipped. Memory is bounded by the batch.
 */
export async function extractFeatures(options: ExtractOptions): Promise<ExtractResult> {
  const started = performance.now();
  const recipe = options.recipe ?? plainViews;
  const views = options.views ?? [0];
  const { session, preprocess } = options;
  const store = openFeatureStore(options.cacheRoot, featureCacheKey(session, preprocess, recipe));
  const todo: { item: ExtractItem; view: number }[] = [];
  let reused = 0;
  const seen = new Set<string>();
  for (const item of options.items) {
    for (const view of views) {
      const key = `${item.contentHash}:${view}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (store.has(item.contentHash, view)) reused++;
      else todo.push({ item, view });
    }
  }
  const batchSize = options.batchSize ?? 32;
  const pixels = 3 * preprocess.width * preprocess.height;
  const progress = createProgress(options.label ?? 'Extracting', todo.length, { enabled: options.progress });
  const failures: SkippedImage[] = [];

  const prepare = async (batch: { item: ExtractItem; view: number }[]): Promise<PreparedBatch> => {
    const tensor = new Float32Array(batch.length * pixels);
    const ok: boolean[] = await mapConcurrent(batch, options.decodeConcurrency ?? 8, async ({ item, view }, i) => {
      try {
        const bytes = await readImageBytes(item.path);
        const image = await recipe.render(bytes, item.path, item.contentHash, view, preprocess);
        writeNormalizedChw(image, preprocess, tensor, i * pixels);
        return true;
      } catch (err) {
        failures.push({ id: item.id, path: item.path, reason: err instanceof ImageReadError ? err.reason : errorMessage(err) });
        return false;
      }
    });
    const entries = batch.filter((_, i) => ok[i]);
    // Compact successful images to the front of the tensor.
    let slot = 0;
    ok.forEach((good, i) => {
      if (!good) return;
      if (slot !== i) tensor.copyWithin(slot * pixels, i * pixels, (i + 1) * pixels);
      slot++;
    });
    return { tensor, entries };
  };

  let computed = 0;
  const batches: { item: ExtractItem; view: number }[][] = [];
  for (let i = 0; i < todo.length; i += batchSize) batches.push(todo.slice(i, i + batchSize));
  let next = batches.length ? prepare(batches[0]) : undefined;
  try {
    for (let b = 0; b < batches.length; b++) {
      const current = await next!;
      next = b + 1 < batches.length ? prepare(batches[b + 1]) : undefined;
      if (current.entries.length > 0) {
        const features = await session.embed(current.tensor, current.entries.length, preprocess.width, preprocess.height);
        const rows: FeatureEntry[] = current.entries.map(({ item, view }, i) => ({
          contentHash: item.contentHash,
          view,
          features: features.data.subarray(i * features.cols, (i + 1) * features.cols),
        }));
        store.append(rows);
        computed += rows.length;
      }
      progress.tick(batches[b].length);
      options.onBatch?.(Math.min(todo.length, (b + 1) * batchSize), todo.length);
    }
  } finally {
    if (next) await next.catch(() => undefined);
    progress.stop();
  }
  return { store, computed, reused, failures, seconds: (performance.now() - started) / 1000 };
}
