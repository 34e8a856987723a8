import type { BackboneSpec } from '../backbone/spec.js';
import type { SkippedImage } from '../dataset/scan.js';
import { selectColumns } from '../features/column-view.js';
import { featureCacheKey, type ExtractItem, type ExtractOptions, type ExtractResult } from '../features/extract.js';
import { openFeatureStore, type FeatureEntry, type FeatureStore } from '../features/feature-store.js';
import { recipeFromKey } from '../features/recipes.js';
import { plainViews } from '../features/view-recipe.js';
import { concatenated, traceCacheKey, traceColumns, type TraceExtraction } from '../forensics/trace-features.js';
import { singleSizeSettings, type TraceSettings } from '../forensics/trace-options.js';
import { DEFAULT_BATCH_SIZE } from '../defaults.js';
import { LensembleError } from '../util/errors.js';
import { runShards } from './coordinator.js';
import { QUEUE_PROTOCOL, type Shard } from './jobs.js';
import { packImages } from './payload.js';
import type { QueueConnection } from './queue-connection.js';
import type { ShardResult } from './shard-result.js';
import { planShards, type ImageViews, type PlannedShard } from './shards.js';

/** How a coordinator uses the queue (the flags `--shard-size`, `--shared-root`). */
export interface QueueRunSettings {
  /** Image × views per job (default 256). */
  shardSize: number;
  /** A folder every machine mounts: images inside it travel as paths instead of bytes. */
  sharedRoot?: string;
  /** Most shards in Redis at once (default: two per connected worker). */
  inFlight?: number;
  log: (line: string) => void;
}

/** What `extractFeatures` takes, with the backbone named by spec and sha256 instead of an open session. */
export type QueueExtractOptions = Omit<ExtractOptions, 'session' | 'renderPool' | 'decodeConcurrency' | 'store' | 'onBatch'> & {
  backbone: { spec: BackboneSpec; sha256: string };
};

/** Each image once, with the views wanted of it (the first item of a content hash stands for all of its copies). */
function wantedViews(items: ExtractItem[], views: number[]): ImageViews[] {
  const seen = new Set<string>();
  const wanted: ImageViews[] = [];
  for (const item of items) {
    if (seen.has(item.contentHash)) continue;
    seen.add(item.contentHash);
    wanted.push({ item, views: [...new Set(views)] });
  }
  return wanted;
}

/** Appends the rows a shard asked for that the store lacks: a shard delivered twice (a worker lost mid-shard) adds nothing twice. */
function appendNew(store: FeatureStore, result: ShardResult, shard: PlannedShard): number {
  const asked = new Set(shard.images.flatMap(({ item, views }) => views.map((v) => `${item.contentHash}:${v}`)));
  const fresh: FeatureEntry[] = [];
  for (const entry of result.entries) {
    const key = `${entry.contentHash}:${entry.view}`;
    if (!asked.has(key) || store.has(entry.contentHash, entry.view)) continue;
    asked.delete(key);
    fresh.push(entry);
  }
  if (fresh.length && store.dim !== undefined && fresh[0].features.length !== store.dim) {
    throw new LensembleError(`worker ${result.header.worker} returned ${fresh[0].features.length} features per row, the cache holds ${store.dim}`, store.dir);
  }
  store.append(fresh);
  return fresh.length;
}

function inputOrder(items: ExtractItem[], failures: SkippedImage[]): SkippedImage[] {
  const order = new Map(items.map((item, i) => [item.id, i]));
  return [...failures].sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}

function describeStart(settings: QueueRunSettings, label: string, shards: PlannedShard[], reused: number, display: string): void {
  const pairs = shards.reduce((n, s) => n + s.pairs, 0);
  settings.log(`${label}: ${pairs} image-views in ${shards.length} shard${shards.length === 1 ? '' : 's'} for the workers on ${display}; ${reused} from the cache`);
}

/**
 * The coordinator's side of one cache key: the wanted (image, view) pairs not yet in `store` cut into shards, each
 * enqueued with the job data `job` builds around its packed images, the rows appended as results come back.
 */
async function extractShards(
  connection: QueueConnection,
  settings: QueueRunSettings,
  store: FeatureStore,
  wanted: ReturnType<typeof wantedViews>,
  options: { label: string; progress?: boolean; job: (images: Awaited<ReturnType<typeof packImages>>['images']) => Shard },
): Promise<{ computed: number; reused: number; skipped: SkippedImage[] }> {
  const reused = wanted.reduce((n, { item, views }) => n + views.filter((v) => store.has(item.contentHash, v)).length, 0);
  const shards = planShards(store.keyId, wanted, (hash, view) => store.has(hash, view), settings.shardSize);
  if (shards.length) describeStart(settings, options.label, shards, reused, connection.target.display);
  let computed = 0;
  const { skipped } = await runShards(connection, shards, {
    label: options.label,
    progress: options.progress,
    inFlight: settings.inFlight,
    log: settings.log,
    payload: async (shard) => {
      const { images, bytes, skipped } = await packImages(shard.images, settings.sharedRoot);
      if (images.length === 0) return { skipped };
      return { data: options.job(images), bytes, skipped };
    },
    apply: (result, shard) => {
      computed += appendNew(store, result, shard);
    },
  });
  return { computed, reused, skipped };
}

/**
 * `extractFeatures` on the queue's workers: the same cache lookup, the rows appended to this machine's store as
 * shards come back, the same result. Workers decode, resample and augment with the same code and seeds, so the
 * rows are the ones a local run would have computed.
 */
export async function extractFeaturesViaQueue(connection: QueueConnection, settings: QueueRunSettings, options: QueueExtractOptions): Promise<ExtractResult> {
  const started = performance.now();
  const recipe = options.recipe ?? plainViews;
  if (!recipeFromKey(recipe.key)) {
    throw new LensembleError(`view recipe ${JSON.stringify(recipe.key)} is not a built-in one (plain, flip, fastai augmentation): queue workers cannot rebuild it; extract without --queue`);
  }
  const key = featureCacheKey(options.backbone, options.preprocess, recipe);
  const store = openFeatureStore(options.cacheRoot, key);
  const { computed, reused, skipped } = await extractShards(connection, settings, store, wantedViews(options.items, options.views ?? [0]), {
    label: options.label ?? 'Extracting',
    progress: options.progress,
    job: (images) => ({
      kind: 'backbone' as const,
      protocol: QUEUE_PROTOCOL,
      keyId: store.keyId,
      sharedRoot: settings.sharedRoot,
      images,
      backbone: { spec: options.backbone.spec, sha256: options.backbone.sha256 },
      preprocess: options.preprocess,
      recipe: recipe.key,
      batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
    }),
  });
  return { store, computed, reused, failures: inputOrder(options.items, skipped), seconds: (performance.now() - started) / 1000 };
}

/** `extractTraceFeatures` on the queue's workers (EM traces of the untouched pixels; one record per image and N). */
export async function extractTracesViaQueue(
  connection: QueueConnection,
  settings: QueueRunSettings,
  items: ExtractItem[],
  traces: TraceSettings,
  options: { cacheDir: string; progress?: boolean; label?: string },
): Promise<TraceExtraction> {
  const started = performance.now();
  // Each kernel size has its own cache (as locally), so each is its own queue run; the records are concatenated.
  const parts = [];
  for (const n of traces.kernelSizes) parts.push(await tracesOfOneSize(connection, settings, items, singleSizeSettings(traces, n), options));
  const store = concatenated(parts.map((p) => p.store));
  const { columns, names } = traceColumns(traces);
  const failures = parts.flatMap((p) => p.failures).filter((f, i, all) => all.findIndex((x) => x.path === f.path) === i);
  return {
    store,
    features: selectColumns(store, columns),
    names,
    computed: Math.max(...parts.map((p) => p.computed)),
    reused: Math.min(...parts.map((p) => p.reused)),
    failures: inputOrder(items, failures),
    seconds: (performance.now() - started) / 1000,
  };
}

async function tracesOfOneSize(
  connection: QueueConnection,
  settings: QueueRunSettings,
  items: ExtractItem[],
  traces: TraceSettings,
  options: { cacheDir: string; progress?: boolean; label?: string },
) {
  const store = openFeatureStore(options.cacheDir, traceCacheKey(traces));
  const { computed, reused, skipped } = await extractShards(connection, settings, store, wantedViews(items, [0]), {
    label: options.label ?? `EM traces N=${traces.kernelSize}`,
    progress: options.progress,
    job: (images) => ({ kind: 'traces' as const, protocol: QUEUE_PROTOCOL, keyId: store.keyId, sharedRoot: settings.sharedRoot, images, traces }),
  });
  return { store, computed, reused, failures: skipped };
}
