import { resolve } from 'node:path';
import type { ExtractItem, ExtractResult } from '../features/extract.js';
import type { TraceExtraction } from '../forensics/trace-features.js';
import type { TraceSettings } from '../forensics/trace-options.js';
import { LensembleError } from '../util/errors.js';
import { extractFeaturesViaQueue, extractTracesViaQueue, type QueueExtractOptions } from './extract-via-queue.js';
import { openQueueConnection } from './queue-connection.js';
import { existsSync, statSync } from 'node:fs';

export const DEFAULT_SHARD_SIZE = 256;

/** A run's queue: `--queue <url>` with `--shard-size` and `--shared-root` (library option `queue`). */
export interface QueueOptions {
  /** redis://[user:password@]host[:port][/db] or rediss://… (TLS). */
  url: string;
  /** Image × views per job (default 256). */
  shardSize?: number;
  /** A folder every machine mounts (at this path, or at the worker's `--shared-root`): its images travel as paths, not bytes. */
  sharedRoot?: string;
  /** Most shards in Redis at once (default: two per connected worker, 2–32). */
  inFlight?: number;
  /** Where the coordinator's lines go (shards planned, no worker yet, reconnects). */
  log?: (line: string) => void;
}

/**
 * The seam between member sources and the queue: when a run has one (`SourceContext.queue`), sources extract
 * through it instead of locally, with the same options and the same results; everything after extraction
 * (heads, weights, evaluation) runs on this machine as before.
 */
export interface QueueExtraction {
  /** The queue URL, password hidden. */
  display: string;
  extractFeatures(options: QueueExtractOptions): Promise<ExtractResult>;
  extractTraces(items: ExtractItem[], traces: TraceSettings, options: { cacheDir: string; progress?: boolean; label?: string }): Promise<TraceExtraction>;
  close(): Promise<void>;
}

/** Connects a coordinator to its queue (one line at once when Redis cannot be used). */
export async function openQueueExtraction(options: QueueOptions): Promise<QueueExtraction> {
  const shardSize = options.shardSize ?? DEFAULT_SHARD_SIZE;
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new LensembleError(`--shard-size must be a positive integer, got ${shardSize}`);
  const sharedRoot = options.sharedRoot === undefined ? undefined : resolve(options.sharedRoot);
  if (sharedRoot && !(existsSync(sharedRoot) && statSync(sharedRoot).isDirectory())) throw new LensembleError('--shared-root is not a folder', sharedRoot);
  const log = options.log ?? (() => {});
  const connection = await openQueueConnection(options.url, log);
  const settings = { shardSize, sharedRoot, inFlight: options.inFlight, log };
  return {
    display: connection.target.display,
    extractFeatures: (extract) => extractFeaturesViaQueue(connection, settings, extract),
    extractTraces: (items, traces, extract) => extractTracesViaQueue(connection, settings, items, traces, extract),
    close: () => connection.close(),
  };
}

/** Runs `use` with the queue connected when options are given (closed afterwards), or without one. */
export async function withQueue<T>(options: QueueOptions | undefined, use: (queue: QueueExtraction | undefined) => Promise<T>): Promise<T> {
  const queue = options ? await openQueueExtraction(options) : undefined;
  try {
    return await use(queue);
  } finally {
    await queue?.close();
  }
}
