import type { SkippedImage } from '../dataset/scan.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { FAILED_JOB_AGE_SECONDS, INPUT_TTL_SECONDS, inputKey, JOB_ATTEMPTS, resultKey, shardProgressSchema, type Shard } from './jobs.js';
import type { QueueConnection } from './queue-connection.js';
import { decodeShardResult, type ShardResult } from './shard-result.js';
import type { PlannedShard } from './shards.js';

/** How often the coordinator looks at its jobs itself, besides listening to BullMQ's events (which can be missed). */
const SWEEP_MS = 2000;
/** Shards in flight per worker connected: one running, one waiting so the worker never idles between shards. */
const IN_FLIGHT_PER_WORKER = 2;
const MAX_IN_FLIGHT = 32;

export interface RunShardsOptions {
  label: string;
  progress?: boolean;
  /** Most shards in Redis at once (default: two per connected worker, 2–32): bounds Redis memory. */
  inFlight?: number;
  log: (line: string) => void;
  /** A shard's job and packed image bytes, built when it is enqueued (reading files then, not before); images it could not read are skipped. */
  payload(shard: PlannedShard): Promise<{ data?: Shard; bytes?: Buffer; skipped: SkippedImage[] }>;
  /** Applies a shard's result to the coordinator's store (de-duplicating); called once per shard. */
  apply(result: ShardResult, shard: PlannedShard): void;
}

export interface RunShardsResult {
  skipped: SkippedImage[];
  workers: Set<string>;
}

interface InFlight {
  shard: PlannedShard;
  data: Shard;
  bytes?: Buffer;
  /** Pairs already shown on the progress bar. */
  counted: number;
}

/**
 * Runs shards on the queue's workers: a few in flight at a time, results collected as they finish, one progress
 * bar for all workers. A shard whose worker died is handed to another one by BullMQ's stalled-job recovery; one
 * whose job vanished is enqueued again; one that failed on every attempt stops the run with its reason.
 */
export async function runShards(connection: QueueConnection, shards: PlannedShard[], options: RunShardsOptions): Promise<RunShardsResult> {
  const { queue, events, redis } = connection;
  const total = shards.reduce((n, s) => n + s.pairs, 0);
  const workers = new Set<string>();
  const skipped: SkippedImage[] = [];
  const bar = createProgress(options.label, total, { enabled: options.progress });
  const note = () => `| ${workers.size} worker${workers.size === 1 ? '' : 's'} seen`;
  const inFlight = new Map<string, InFlight>();
  const toCollect = new Set<string>();
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const signal = () => wake?.();

  const show = (state: InFlight, done: number) => {
    const delta = Math.min(done, state.shard.pairs) - state.counted;
    if (delta <= 0) return;
    state.counted += delta;
    bar.tick(delta, note());
  };
  const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
    const state = inFlight.get(jobId);
    const progress = shardProgressSchema.safeParse(data);
    if (!state || !progress.success) return;
    workers.add(progress.data.worker);
    show(state, progress.data.done);
  };
  const onCompleted = ({ jobId }: { jobId: string }) => {
    if (!inFlight.has(jobId)) return;
    toCollect.add(jobId);
    signal();
  };
  const onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) => {
    if (!inFlight.has(jobId)) return;
    failure ??= shardFailure(jobId, failedReason);
    signal();
  };
  events.on('progress', onProgress);
  events.on('completed', onCompleted);
  events.on('failed', onFailed);

  const jobOptions = (jobId: string) => ({
    jobId,
    attempts: JOB_ATTEMPTS,
    backoff: { type: 'exponential', delay: 1000 },
    // Done jobs leave Redis at once (their result waits under its own key); failed ones stay a day for `queue status`.
    removeOnComplete: true,
    removeOnFail: { age: FAILED_JOB_AGE_SECONDS, count: 1000 },
  });
  const add = async (jobId: string, data: Shard) => {
    await queue.add(data.kind, data, jobOptions(jobId));
    // The same shard failed in an earlier run and is still kept as failed: adding it again was a no-op. Start afresh.
    if ((await queue.getJobState(jobId)) === 'failed') {
      await queue.remove(jobId);
      await queue.add(data.kind, data, jobOptions(jobId));
    }
  };

  const enqueue = async (shard: PlannedShard) => {
    const { data, bytes, skipped: unreadable } = await options.payload(shard);
    skipped.push(...unreadable);
    const carried = data ? data.images.reduce((n, image) => n + image.views.length, 0) : 0;
    bar.tick(shard.pairs - carried, note());
    if (!data) return;
    const state: InFlight = { shard: { ...shard, pairs: carried }, data, bytes, counted: 0 };
    inFlight.set(shard.jobId, state);
    // A restarted coordinator: the shard its first run enqueued may have finished while nobody was listening.
    if (await redis.exists(resultKey(shard.jobId))) toCollect.add(shard.jobId);
    else {
      // The bytes first: a worker may take the job the moment it is added.
      if (bytes) await redis.set(inputKey(shard.jobId), bytes, 'EX', INPUT_TTL_SECONDS);
      await add(shard.jobId, data);
    }
  };

  const collect = async (jobId: string): Promise<boolean> => {
    const state = inFlight.get(jobId);
    if (!state) return true;
    const data = await redis.getBuffer(resultKey(jobId));
    if (!data) return false;
    let result: ShardResult;
    try {
      result = decodeShardResult(data);
    } catch (err) {
      throw new LensembleError(`shard ${jobId.slice(0, 9)}: unreadable result in Redis (${errorMessage(err)})`);
    }
    options.apply(result, state.shard);
    skipped.push(...result.header.skipped);
    workers.add(result.header.worker);
    show(state, state.shard.pairs);
    inFlight.delete(jobId);
    await redis.del(resultKey(jobId), inputKey(jobId));
    return true;
  };

  /** What events may not have told: results already there, jobs that vanished, jobs that failed. */
  const sweep = async () => {
    // Bytes of shards still waiting live as long as this coordinator waits for them.
    if (inFlight.size) await Promise.all([...inFlight.keys()].map((jobId) => redis.expire(inputKey(jobId), INPUT_TTL_SECONDS)));
    for (const [jobId, state] of inFlight) {
      const jobState = await queue.getJobState(jobId);
      if (jobState === 'failed') {
        const job = await queue.getJob(jobId);
        failure ??= shardFailure(jobId, job?.failedReason ?? 'failed');
        return;
      }
      if (await collect(jobId)) continue;
      if (jobState === 'unknown') {
        options.log(`shard ${jobId.slice(0, 9)} is no longer in the queue and left no result: enqueued again`);
        if (state.bytes) await redis.set(inputKey(jobId), state.bytes, 'EX', INPUT_TTL_SECONDS);
        await add(jobId, state.data);
      }
    }
  };

  const liveWorkers = async (): Promise<number> => {
    try {
      return await queue.getWorkersCount();
    } catch {
      return 1;
    }
  };
  const limit = async () => options.inFlight ?? Math.min(MAX_IN_FLIGHT, Math.max(IN_FLIGHT_PER_WORKER, IN_FLIGHT_PER_WORKER * (await liveWorkers())));

  try {
    if (shards.length && (await liveWorkers()) === 0) {
      options.log(`No worker is connected to ${connection.target.display} yet: start one with \`lensemble worker --queue <url>\`. Waiting for one…`);
    }
    let next = 0;
    let maxInFlight = await limit();
    let lastSweep = performance.now();
    while ((next < shards.length || inFlight.size) && !failure) {
      while (inFlight.size < maxInFlight && next < shards.length) await enqueue(shards[next++]);
      if (toCollect.size === 0 && inFlight.size) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, SWEEP_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      for (const jobId of [...toCollect]) {
        toCollect.delete(jobId);
        await collect(jobId);
      }
      if (performance.now() - lastSweep >= SWEEP_MS && !failure) {
        await sweep();
        maxInFlight = await limit();
        lastSweep = performance.now();
      }
    }
    if (failure) {
      // Best effort: take our waiting shards back out of the queue (running ones finish and expire unread; the
      // failed one stays, for `queue status`).
      await Promise.allSettled(
        [...inFlight.keys()].map(async (jobId) => {
          if (['waiting', 'delayed', 'prioritized'].includes(await queue.getJobState(jobId))) await queue.remove(jobId);
          await redis.del(inputKey(jobId));
        }),
      );
      throw failure;
    }
    return { skipped, workers };
  } finally {
    events.off('progress', onProgress);
    events.off('completed', onCompleted);
    events.off('failed', onFailed);
    bar.stop();
  }
}

function shardFailure(jobId: string, reason: string): LensembleError {
  return new LensembleError(`a queue worker could not extract shard ${jobId.slice(0, 9)}: ${reason.split('\n')[0]}`);
}
