import { availableParallelism } from 'node:os';
import type { SkippedImage } from '../dataset/scan.js';
import { selectColumns } from '../features/column-view.js';
import type { ExtractItem } from '../features/extract.js';
import { openFeatureStore, type FeatureEntry, type FeatureStore } from '../features/feature-store.js';
import { decodeImage, ImageReadError } from '../images/decode.js';
import { mapConcurrent } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { traceFeatureNames } from './em-trace.js';
import { createTracePool } from './trace-pool.js';
import type { TraceSettings } from './trace-options.js';

/**
 * Cached records always hold every channel's kernel, σ and iteration count, so the σ/iteration options only
 * select columns and the expensive EM runs once per (image, EM settings).
 */
export function traceCacheKey(options: TraceSettings): unknown {
  const { kernelSize, sigma0, p0, tolerance, maxIterations, seed } = options;
  return { kind: 'em-traces', version: 1, kernelSize, sigma0, p0, tolerance, maxIterations, seed };
}

const fullRecord = (o: TraceSettings): TraceSettings => ({ ...o, appendSigma: true, appendIterations: true });

/** Indices of the cached columns a member's head uses, and their names (RGB images). */
export function traceColumns(options: TraceSettings): { columns: number[]; names: string[] } {
  const all = traceFeatureNames(fullRecord(options), 3);
  const columns = all
    .map((name, i) => ({ name, i }))
    .filter(({ name }) => (name.endsWith(' sigma') ? options.appendSigma : name.endsWith(' iterations') ? options.appendIterations : true));
  return { columns: columns.map((c) => c.i), names: columns.map((c) => c.name) };
}

/** Iterations per channel (R, G, B) of cached records: the convergence report. */
export function iterationColumns(options: TraceSettings): number[] {
  return traceFeatureNames(fullRecord(options), 3)
    .map((name, i) => (name.endsWith(' iterations') ? i : -1))
    .filter((i) => i >= 0);
}

export interface TraceExtraction {
  /** The full cached records (kernels, σ, iterations). */
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
  /** Where records are looked up and written (default: the cache folder of these EM settings); a queue worker's is in memory. */
  store?: FeatureStore;
  /** Called after each image, done or skipped. */
  onImage?: (done: number, total: number) => void;
}

/** EM traces of every item on all cores, cached by image content; unreadable images are reported and skipped. */
export async function extractTraceFeatures(items: ExtractItem[], options: TraceSettings, extract: TraceExtractOptions): Promise<TraceExtraction> {
  const started = performance.now();
  const store = extract.store ?? openFeatureStore(extract.cacheDir, traceCacheKey(options));
  const seen = new Set<string>();
  const todo = items.filter((item) => {
    if (seen.has(item.contentHash) || store.has(item.contentHash, 0)) return false;
    seen.add(item.contentHash);
    return true;
  });
  const reused = new Set(items.map((i) => i.contentHash)).size - todo.length;
  const failures: SkippedImage[] = [];
  const progress = createProgress(extract.label ?? `EM traces N=${options.kernelSize}`, todo.length, { enabled: extract.progress });
  const poolSize = extract.poolSize ?? availableParallelism();
  const pool = createTracePool(poolSize);
  const pending: FeatureEntry[] = [];
  const flushEvery = extract.flushEvery ?? 16;
  const flush = () => {
    store.append(pending.splice(0));
  };
  let computed = 0;
  let done = 0;
  try {
    await mapConcurrent(todo, poolSize * 2, async (item) => {
      try {
        const image = await decodeImage(item.path);
        const trace = await pool.extract(image, fullRecord(options), true);
        pending.push({ contentHash: item.contentHash, view: 0, features: trace.features });
        computed++;
        if (pending.length >= flushEvery) flush();
      } catch (err) {
        failures.push({ id: item.id, path: item.path, reason: err instanceof ImageReadError ? err.reason : errorMessage(err) });
      } finally {
        progress.tick();
        extract.onImage?.(++done, todo.length);
      }
    });
    flush();
  } finally {
    progress.stop();
    await pool.close();
  }
  const { columns, names } = traceColumns(options);
  return { store, features: selectColumns(store, columns), names, computed, reused, failures, seconds: (performance.now() - started) / 1000 };
}
