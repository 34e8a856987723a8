import { availableParallelism } from 'node:os';
import type { SkippedImage } from '../dataset/scan.js';
import { selectColumns } from '../features/column-view.js';
import type { ExtractItem } from '../features/extract.js';
import { diskStores, type FeatureStores } from '../features/store-provider.js';
import type { FeatureEntry, FeatureStore } from '../features/feature-store.js';
import { decodeImage, ImageReadError } from '../images/decode.js';
import { mapConcurrent } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import type { RawImage } from '../images/raw-image.js';
import { extractTraces, traceFeatureNames, type ChannelTrace } from './em-trace.js';
import { createTracePool } from './trace-pool.js';
import { singleSizeSettings, type TraceSettings } from './trace-options.js';

/**
 * Cached records always hold every channel's kernel, σ and iteration count, one store per N, so the
 * σ/iteration options only select columns, the expensive EM runs once per (image, N, EM settings),
 * and several N concatenated reuse each single N's cache.
 */
export function traceCacheKey(options: TraceSettings): unknown {
  const { kernelSize, sigma0, p0, tolerance, maxIterations, seed } = options;
  return { kind: 'em-traces', version: 1, kernelSize, sigma0, p0, tolerance, maxIterations, seed };
}

const fullRecord = (o: TraceSettings): TraceSettings => ({ ...o, appendSigma: true, appendIterations: true });

/** The names of every cached column, N after N (prefixed `N5 ` when there are several N). */
function fullRecordNames(options: TraceSettings): string[] {
  const multi = options.kernelSizes.length > 1;
  return options.kernelSizes.flatMap((n) =>
    traceFeatureNames(fullRecord(singleSizeSettings(options, n)), 3).map((name) => (multi ? `N${n} ${name}` : name)),
  );
}

/** Indices of the cached columns (all N's records concatenated) a member's head uses, and their names (RGB images). */
export function traceColumns(options: TraceSettings): { columns: number[]; names: string[] } {
  const columns = fullRecordNames(options)
    .map((name, i) => ({ name, i }))
    .filter(({ name }) => (name.endsWith(' sigma') ? options.appendSigma : name.endsWith(' iterations') ? options.appendIterations : true));
  return { columns: columns.map((c) => c.i), names: columns.map((c) => c.name) };
}

/** Iterations per channel (R, G, B, for each N) of cached records: the convergence report. */
export function iterationColumns(options: TraceSettings): number[] {
  return fullRecordNames(options)
    .map((name, i) => (name.endsWith(' iterations') ? i : -1))
    .filter((i) => i >= 0);
}

/** One image's full record (what the cache holds for it, every N's) in this thread, and every channel's trace (N after N). */
export function extractFullTraceRecord(image: RawImage, options: TraceSettings): { features: Float32Array; channels: ChannelTrace[] } {
  const traces = options.kernelSizes.map((n) => extractTraces(image, fullRecord(singleSizeSettings(options, n))));
  const features = new Float32Array(traces.reduce((sum, t) => sum + t.features.length, 0));
  let at = 0;
  for (const t of traces) {
    features.set(t.features, at);
    at += t.features.length;
  }
  return { features, channels: traces.flatMap((t) => t.channels) };
}

/** One read-only store whose rows are the rows of `stores`, side by side. */
export function concatenated(stores: FeatureStore[]): FeatureStore {
  if (stores.length === 1) return stores[0];
  return {
    dir: stores[0].dir,
    keyId: stores.map((s) => s.keyId).join('+'),
    get dim() {
      const dims = stores.map((s) => s.dim);
      return dims.every((d) => d !== undefined) ? dims.reduce((a, b) => a! + b!, 0) : undefined;
    },
    get size() {
      return Math.min(...stores.map((s) => s.size));
    },
    has: (hash, view) => stores.every((s) => s.has(hash, view)),
    get(hash, view) {
      const rows = stores.map((s) => s.get(hash, view));
      if (rows.some((r) => !r)) return undefined;
      const out = new Float32Array(rows.reduce((n, r) => n + r!.length, 0));
      let at = 0;
      for (const r of rows) {
        out.set(r!, at);
        at += r!.length;
      }
      return out;
    },
    append() {
      throw new Error('concatenated trace records are read-only');
    },
  };
}

export interface TraceExtraction {
  /** The full cached records (kernels, σ, iterations; every N's, concatenated). */
  store: FeatureStore;
  /** The columns the head sees. */
  features: FeatureStore;
  names: string[];
  computed: number;
  reused: number;
  failures: SkippedImage[];
  seconds: number;
}

export interface TraceExtractOptions {
  cacheDir: string;
  progress?: boolean;
  label?: string;
  poolSize?: number;
  /** Results written to the cache per append (resumability granularity). */
  flushEvery?: number;
  /** Where the records of each EM setting live (default: the disk cache under `cacheDir`). */
  stores?: FeatureStores;
  /** Where records are looked up and written (default: the cache folder of these EM settings); a queue worker's is in memory. */
  store?: FeatureStore;
  /** Called after each image, done or skipped. */
  onImage?: (done: number, total: number) => void;
}

/** EM traces of every item on all cores, cached by image content; unreadable images are reported and skipped. */
export async function extractTraceFeatures(items: ExtractItem[], options: TraceSettings, extract: TraceExtractOptions): Promise<TraceExtraction> {
  const started = performance.now();
  const sizes = options.kernelSizes;
  if (extract.store && sizes.length !== 1) throw new Error('a given trace store holds one kernel size; split multi-N settings first');
  const stores = extract.store ? [extract.store] : sizes.map((n) => (extract.stores ?? diskStores(extract.cacheDir))(traceCacheKey(singleSizeSettings(options, n))));
  const seen = new Set<string>();
  const todo = items.filter((item) => {
    if (seen.has(item.contentHash) || stores.every((s) => s.has(item.contentHash, 0))) return false;
    seen.add(item.contentHash);
    return true;
  });
  const reused = new Set(items.map((i) => i.contentHash)).size - todo.length;
  const failures: SkippedImage[] = [];
  const label = extract.label ?? `EM traces N=${sizes.join('+')}`;
  const progress = createProgress(label, todo.length, { enabled: extract.progress });
  const poolSize = extract.poolSize ?? availableParallelism();
  const pool = createTracePool(poolSize);
  const pending: FeatureEntry[][] = stores.map(() => []);
  const flushEvery = extract.flushEvery ?? 16;
  const flush = (k: number) => {
    stores[k].append(pending[k].splice(0));
  };
  let computed = 0;
  let done = 0;
  try {
    await mapConcurrent(todo, poolSize * 2, async (item) => {
      try {
        const image = await decodeImage(item.path);
        const missing = sizes.map((n, k) => ({ n, k })).filter(({ k }) => !stores[k].has(item.contentHash, 0));
        // Every N's traces first, then into the caches: an image fails or is cached whole.
        const traces = await Promise.all(
          missing.map(({ n }, j) => pool.extract(image, fullRecord(singleSizeSettings(options, n)), j === missing.length - 1)),
        );
        missing.forEach(({ k }, j) => {
          pending[k].push({ contentHash: item.contentHash, view: 0, features: traces[j].features });
          if (pending[k].length >= flushEvery) flush(k);
        });
        computed++;
      } catch (err) {
        failures.push({ id: item.id, path: item.path, reason: err instanceof ImageReadError ? err.reason : errorMessage(err) });
      } finally {
        progress.tick();
        extract.onImage?.(++done, todo.length);
      }
    });
    stores.forEach((_, k) => flush(k));
  } finally {
    progress.stop();
    await pool.close();
  }
  const store = concatenated(stores);
  const { columns, names } = traceColumns(options);
  return { store, features: selectColumns(store, columns), names, computed, reused, failures, seconds: (performance.now() - started) / 1000 };
}
