import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { resolveBackbone, type ResolvedBackbone } from '../backbone/resolve.js';
import { cudaProviderInstalled, CUDA_HELP, type Device } from '../backbone/session.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { defaultCacheDir } from '../util/paths.js';
import { checkRedisReachable, openRedisClient } from './connect.js';
import { inputKey, MAX_STALLED, QUEUE_NAME, QUEUE_PREFIX, RESULT_TTL_SECONDS, resultKey, shardSchema, THROUGHPUT_TTL_SECONDS, throughputKey, type Shard } from './jobs.js';
import { parseRedisUrl } from './redis-url.js';
import { runBackboneShard, runTracesShard, type ShardOutput } from './run-shard.js';
import { encodeShardResult } from './shard-result.js';
import { resolveShardBackbone } from './worker-backbone.js';
import { createWorkerSessions } from './worker-sessions.js';

export interface QueueWorkerOptions {
  /** redis://[user:password@]host[:port][/db] or rediss://… */
  url: string;
  /** Shards worked on at once (default 1: one shard already keeps every session of a backbone busy). */
  concurrency?: number;
  device?: Device;
  /** Where backbones are found or downloaded (hub cache); default $LENSEMBLE_CACHE or ~/.cache/lensemble. */
  cacheDir?: string;
  /** This machine's mount of the coordinators' shared root (default: the coordinator's own path). */
  sharedRoot?: string;
  /** A job this worker stops renewing (killed, machine lost) goes to another worker after about this long (default 30). */
  lockSeconds?: number;
  /** Backbones to open at start and keep open (a worker that cannot open them fails at once). */
  preload?: string[];
  /** A backbone without jobs for this long is closed (default 60 s). */
  idleSeconds?: number;
  /** Shown by `lensemble queue status` and on the coordinator's progress bar (default host:pid). */
  name?: string;
  log?: (line: string) => void;
}

export interface QueueWorker {
  name: string;
  /** The queue URL, password hidden. */
  display: string;
  /** Finishes the shards in hand, then leaves the queue and closes the backbones. */
  stop(): Promise<void>;
  /** Shards being worked on now. */
  readonly active: number;
}

const DEFAULT_LOCK_SECONDS = 30;
const DEFAULT_IDLE_SECONDS = 60;
const PROGRESS_EVERY_MS = 250;

/**
 * Joins the queue and extracts shards until stopped: opens each backbone once and keeps it open while jobs for
 * it keep coming, and stores each shard's rows under the shard's result key (binary, expiring) before the job
 * completes. An image it cannot read is reported in the result, not as a failed job.
 */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const target = parseRedisUrl(options.url);
  const device = options.device ?? 'cpu';
  if (device === 'cuda' && (process.platform !== 'linux' || !cudaProviderInstalled())) throw new LensembleError(CUDA_HELP);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const sharedRoot = options.sharedRoot === undefined ? undefined : resolve(options.sharedRoot);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const log = options.log ?? (() => {});
  await checkRedisReachable(target);

  const sessions = createWorkerSessions(device, (options.idleSeconds ?? DEFAULT_IDLE_SECONDS) * 1000);
  try {
    for (const reference of options.preload ?? []) await sessions.pin(await resolveBackbone(reference, { cacheDir }));
  } catch (err) {
    await sessions.closeAll();
    throw err;
  }
  const backbones = new Map<string, Promise<ResolvedBackbone>>();
  const backboneOf = (shard: Extract<Shard, { kind: 'backbone' }>) => {
    const key = `${shard.backbone.sha256}\u0000${shard.sharedRoot ?? ''}`;
    let found = backbones.get(key);
    if (!found) {
      found = resolveShardBackbone(shard.backbone, { cacheDir, sharedRoot, coordinatorRoot: shard.sharedRoot });
      found.catch(() => backbones.delete(key));
      backbones.set(key, found);
    }
    return found;
  };

  const redis = openRedisClient(target);
  let active = 0;

  const processShard = async (job: Job): Promise<{ rows: number; skipped: number }> => {
    const parsed = shardSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job ${job.id} is not a lensemble shard of this version (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    const shard = parsed.data;
    const started = performance.now();
    let lastProgress = 0;
    const onProgress = (done: number) => {
      const now = performance.now();
      if (now - lastProgress < PROGRESS_EVERY_MS) return;
      lastProgress = now;
      void job.updateProgress({ done, worker: name }).catch(() => {});
    };
    active++;
    try {
      const bytes = shard.images.some((image) => image.bytes) ? await redis.getBuffer(inputKey(job.id!)) : undefined;
      if (bytes === null) throw new UnrecoverableError('the images of this shard are no longer in Redis (its coordinator stopped more than an hour ago): run the coordinator again');
      const env = { sharedRoot, bytes, onProgress };
      let output: ShardOutput;
      let what: string;
      if (shard.kind === 'backbone') {
        const backbone = await backboneOf(shard);
        output = await runBackboneShard(shard, backbone, (use) => sessions.with(backbone, use), env);
        what = `${shard.backbone.spec.name}@${shard.preprocess.width}`;
      } else {
        output = await runTracesShard(shard, env);
        what = `EM traces N=${shard.traces.kernelSize}`;
      }
      const seconds = (performance.now() - started) / 1000;
      const pairs = shard.images.reduce((n, image) => n + image.views.length, 0);
      const result = encodeShardResult({ worker: name, skipped: output.skipped, seconds }, output.entries);
      const minute = Math.floor(Date.now() / 60_000);
      const replies = await redis.multi().set(resultKey(job.id!), result, 'EX', RESULT_TTL_SECONDS).incrby(throughputKey(minute), pairs).expire(throughputKey(minute), THROUGHPUT_TTL_SECONDS).exec();
      const refused = replies?.find(([err]) => err)?.[0];
      if (refused) throw new Error(`Redis refused the shard's result (${errorMessage(refused)})`);
      log(`shard ${job.id!.slice(0, 9)}: ${output.entries.length} ${what} rows${output.skipped.length ? `, ${output.skipped.length} skipped` : ''} in ${seconds.toFixed(1)} s (${(pairs / seconds).toFixed(1)} img/s)`);
      return { rows: output.entries.length, skipped: output.skipped.length };
    } finally {
      active--;
    }
  };

  const lockMs = (options.lockSeconds ?? DEFAULT_LOCK_SECONDS) * 1000;
  const worker = new Worker(QUEUE_NAME, processShard, {
    connection: { ...target.options, maxRetriesPerRequest: null },
    prefix: QUEUE_PREFIX,
    concurrency: options.concurrency ?? 1,
    name,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: MAX_STALLED,
    autorun: false,
  });
  const said = new Set<string>();
  worker.on('error', (err) => {
    const line = `queue ${target.display}: ${errorMessage(err).split('\n')[0]}`;
    if (!said.has(line)) log(line);
    said.add(line);
  });
  worker.on('failed', (job, err) => log(`shard ${job?.id?.slice(0, 9) ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}): ${errorMessage(err).split('\n')[0]}`));
  const running = worker.run();
  await worker.waitUntilReady();

  return {
    name,
    display: target.display,
    get active() {
      return active;
    },
    async stop() {
      await worker.close(); // waits for the shards in hand
      await running.catch(() => {});
      await sessions.closeAll();
      redis.disconnect();
    },
  };
}
