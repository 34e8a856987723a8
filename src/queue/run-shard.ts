import { UnrecoverableError } from 'bullmq';
import type { ResolvedBackbone } from '../backbone/resolve.js';
import type { BackboneSession } from '../backbone/session.js';
import type { SkippedImage } from '../dataset/scan.js';
import { extractFeatures, featureCacheKey } from '../features/extract.js';
import { featureKeyId, type FeatureEntry } from '../features/feature-store.js';
import { createMemoryFeatureStore } from '../features/memory-store.js';
import { recipeFromKey } from '../features/recipes.js';
import { extractTraceFeatures, traceCacheKey } from '../forensics/trace-features.js';
import type { BackboneShard, TracesShard } from './jobs.js';
import { materialiseImages, type MaterialisedImages } from './payload.js';

export interface ShardOutput {
  entries: FeatureEntry[];
  skipped: SkippedImage[];
}

export interface ShardEnvironment {
  sharedRoot?: string;
  /** The shard's packed image bytes (its input key), when any image travels as bytes. */
  bytes?: Buffer;
  /** Image × views done so far in this shard. */
  onProgress(done: number): void;
}

/** Refuses a shard this worker would file under another key than its coordinator (another lensemble version). */
function checkKey(keyId: string, expected: string): void {
  if (keyId !== expected) {
    throw new UnrecoverableError(`this worker would store these features under cache key ${keyId}, the coordinator under ${expected}: run the same lensemble version on both`);
  }
}

async function withImages<T>(shard: BackboneShard | TracesShard, env: ShardEnvironment, use: (images: MaterialisedImages) => Promise<T>): Promise<T> {
  const images = materialiseImages(shard.images, env.bytes, { sharedRoot: env.sharedRoot, coordinatorRoot: shard.sharedRoot });
  try {
    return await use(images);
  } finally {
    images.cleanup();
  }
}

/** A backbone shard: the views of its images through the same `extractFeatures` a local run uses, into memory. */
export async function runBackboneShard(
  shard: BackboneShard,
  backbone: ResolvedBackbone,
  withSession: <T>(use: (session: BackboneSession) => Promise<T>) => Promise<T>,
  env: ShardEnvironment,
): Promise<ShardOutput> {
  const recipe = recipeFromKey(shard.recipe);
  if (!recipe) throw new UnrecoverableError(`view recipe ${JSON.stringify(shard.recipe)} is not one this worker knows`);
  return withSession((session) =>
    withImages(shard, env, async (images) => {
      checkKey(featureKeyId(featureCacheKey({ spec: session.spec, sha256: backbone.sha256 }, shard.preprocess, recipe)), shard.keyId);
      const store = createMemoryFeatureStore();
      const skipped = [...images.skipped];
      // One extraction per distinct set of views (usually one: the coordinator asks all images for the same views).
      const byViews = new Map<string, typeof images.items>();
      for (const item of images.items) byViews.set(item.views.join(','), [...(byViews.get(item.views.join(',')) ?? []), item]);
      let before = 0;
      for (const group of byViews.values()) {
        const views = group[0].views;
        const result = await extractFeatures({
          session,
          preprocess: shard.preprocess,
          items: group,
          cacheRoot: '',
          recipe,
          views,
          batchSize: shard.batchSize,
          progress: false,
          store,
          onBatch: (done) => env.onProgress(before + done),
        });
        before += group.length * views.length;
        skipped.push(...result.failures.map((f) => images.asCoordinatorSaw(f)));
      }
      return { entries: store.entries(), skipped };
    }),
  );
}

/** A traces shard: EM traces of its images through the same `extractTraceFeatures` a local run uses, into memory. */
export async function runTracesShard(shard: TracesShard, env: ShardEnvironment & { poolSize?: number }): Promise<ShardOutput> {
  checkKey(featureKeyId(traceCacheKey(shard.traces)), shard.keyId);
  return withImages(shard, env, async (images) => {
    const store = createMemoryFeatureStore();
    const result = await extractTraceFeatures(images.items, shard.traces, { cacheDir: '', store, progress: false, poolSize: env.poolSize, onImage: (done) => env.onProgress(done) });
    return { entries: store.entries(), skipped: [...images.skipped, ...result.failures.map((f) => images.asCoordinatorSaw(f))] };
  });
}
