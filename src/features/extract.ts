import type { BackboneSession } from '../backbone/session.js';
import type { BackboneSpec } from '../backbone/spec.js';
import type { SkippedImage } from '../dataset/scan.js';
import { canonicalReason, readImageBytes } from '../images/decode.js';
import { PIXEL_PIPELINE, writeNormalizedChw } from '../images/preprocess.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import { DEFAULT_BATCH_SIZE } from '../defaults.js';
import { mapConcurrent } from '../util/concurrency.js';
import { createProgress } from '../util/progress.js';
import type { FeatureStore } from './feature-store.js';
import { diskStores, type FeatureStores } from './store-provider.js';
import { recipeFromKey, renderViews } from './recipes.js';
import { sharedRenderPool, type RenderPool } from './render-pool.js';
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
  /** Threads to decode on (default: the process's shared pool for the session's device); size 0 decodes on this thread. */
  renderPool?: RenderPool;
  progress?: boolean;
  label?: string;
  /** Called after each batch is safely written to the cache. */
  onBatch?: (done: number, total: number) => void;
  /** Where the rows of each cache key live (default: the disk cache under `cacheRoot`). */
  stores?: FeatureStores;
  /** Where rows are looked up and written (overrides `stores`); a queue worker's is in memory. */
  store?: FeatureStore;
}

export interface ExtractResult {
  store: FeatureStore;
  computed: number;
  reused: number;
  failures: SkippedImage[];
  seconds: number;
}

/** The feature-cache key: everything that changes what a backbone sees or returns. */
export function featureCacheKey(backbone: { spec: BackboneSpec; sha256: string }, preprocess: PreprocessSpec, recipe: ViewRecipe): unknown {
  const { spec } = backbone;
  return { backboneSha256: backbone.sha256, output: spec.featureOutput, pooling: spec.pooling, preprocess, pixels: PIXEL_PIPELINE, views: recipe.key };
}

/**
 * The cached result of an extraction when every (item, view) is already in the cache — no session needed —
 * or undefined when something is missing.
 */
export function cachedExtraction(backbone: { spec: BackboneSpec; sha256: string }, options: Omit<ExtractOptions, 'session'>): ExtractResult | undefined {
  const recipe = options.recipe ?? plainViews;
  const views = options.views ?? [0];
  const store = (options.stores ?? diskStores(options.cacheRoot))(featureCacheKey(backbone, options.preprocess, recipe));
  const keys = new Set<string>();
  for (const item of options.items) {
    for (const view of views) {
      if (!store.has(item.contentHash, view)) return undefined;
      keys.add(`${item.contentHash}:${view}`);
    }
  }
  return { store, computed: 0, reused: keys.size, failures: [], seconds: 0 };
}

interface PreparedBatch {
  tensor: Float32Array;
  entries: { item: ExtractItem; view: number }[];
}

/**
 * Extracts features for every (item, view) not already cached, streaming batches through the backbone
 * while the next batch decodes. Unreadable images are reported and skipped, in input order. Memory is bounded
 * by a few batches: one per session, and the one decoding.
 */
export async function extractFeatures(options: ExtractOptions): Promise<ExtractResult> {
  const started = performance.now();
  const recipe = options.recipe ?? plainViews;
  const views = options.views ?? [0];
  const { session, preprocess } = options;
  const store = options.store ?? (options.stores ?? diskStores(options.cacheRoot))(featureCacheKey(session, preprocess, recipe));
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
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const pixels = 3 * preprocess.width * preprocess.height;
  const progress = createProgress(options.label ?? 'Extracting', todo.length, { enabled: options.progress });
  const failures: SkippedImage[] = [];
  // Built-in recipes render on the worker threads; a recipe only this thread knows renders here.
  const candidate = options.renderPool ?? sharedRenderPool(session.device);
  const pool = candidate.size > 0 && recipeFromKey(recipe.key) ? candidate : undefined;
  const decodeConcurrency = Math.max(options.decodeConcurrency ?? 8, 2 * (pool?.size ?? 0));

  const prepare = async (batch: { item: ExtractItem; view: number }[]): Promise<PreparedBatch> => {
    const tensor = session.batchBuffer(batchSize * pixels);
    const ok = new Array<boolean>(batch.length).fill(false);
    // The views of one image sit next to each other in a batch: read and decode it once for all of them.
    const groups: { item: ExtractItem; slots: number[] }[] = [];
    batch.forEach(({ item }, i) => {
      const last = groups[groups.length - 1];
      if (last && last.item === item) last.slots.push(i);
      else groups.push({ item, slots: [i] });
    });
    await mapConcurrent(groups, decodeConcurrency, async ({ item, slots }) => {
      const views = slots.map((i) => batch[i].view);
      if (pool) {
        const rendered = await pool.render({ path: item.path, contentHash: item.contentHash, views, recipe: recipe.key, preprocess });
        if ('reason' in rendered) failures.push({ id: item.id, path: item.path, reason: rendered.reason });
        else
          slots.forEach((slot, k) => {
            tensor.set(rendered.data.subarray(k * pixels, (k + 1) * pixels), slot * pixels);
            ok[slot] = true;
          });
        return;
      }
      try {
        const bytes = await readImageBytes(item.path);
        const images = await renderViews(recipe, bytes, item, views, preprocess);
        slots.forEach((slot, k) => {
          writeNormalizedChw(images[k], preprocess, tensor, slot * pixels);
          ok[slot] = true;
        });
      } catch (err) {
        failures.push({ id: item.id, path: item.path, reason: await canonicalReason(item.path, err) });
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
  let done = 0;
  const embedAndStore = async ({ tensor, entries }: PreparedBatch, size: number) => {
    if (entries.length > 0) {
      const features = await session.embed(tensor, entries.length, preprocess.width, preprocess.height, { transfer: true });
      store.append(
        entries.map(({ item, view }, i) => ({
          contentHash: item.contentHash,
          view,
          features: features.data.subarray(i * features.cols, (i + 1) * features.cols),
        })),
      );
      computed += entries.length;
    }
    done += size;
    progress.tick(size);
    options.onBatch?.(done, todo.length);
  };
  const batches: { item: ExtractItem; view: number }[][] = [];
  for (let i = 0; i < todo.length; i += batchSize) batches.push(todo.slice(i, i + batchSize));
  // As many batches in the backbone as it has sessions, and the next one decoding meanwhile.
  const inFlight = new Set<Promise<void>>();
  let next = batches.length ? prepare(batches[0]) : undefined;
  try {
    for (let b = 0; b < batches.length; b++) {
      const current = await next!;
      next = b + 1 < batches.length ? prepare(batches[b + 1]) : undefined;
      const job: Promise<void> = embedAndStore(current, batches[b].length).finally(() => inFlight.delete(job));
      inFlight.add(job);
      if (inFlight.size >= session.parallelism) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.allSettled([...inFlight, ...(next ? [next] : [])]);
    progress.stop();
  }
  const order = new Map(options.items.map((item, i) => [item.id, i]));
  failures.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  return { store, computed, reused, failures, seconds: (performance.now() - started) / 1000 };
}
