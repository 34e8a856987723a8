import { checkRedisReachable, openRedisClient } from './connect.js';
import { Queue } from 'bullmq';
import { QUEUE_NAME, QUEUE_PREFIX, throughputKey } from './jobs.js';
import { parseRedisUrl } from './redis-url.js';

export interface QueueStatus {
  url: string;
  jobs: { waiting: number; active: number; delayed: number; failed: number; prioritized: number; paused: number };
  workers: { name: string; address: string; connectedSeconds: number; idleSeconds: number }[];
  /** Image × views extracted per second by all workers: over the last full minute and the last 5 full minutes. */
  throughput: { lastMinute: number; last5Minutes: number; thisMinuteSoFar: number };
  /** The most recent failed shards (kept a day). */
  recentFailures: { shard: string; reason: string; failedAt: string }[];
}

/** The queue as a whole: jobs by state, the workers connected, recent throughput and failures. */
export async function queueStatus(url: string): Promise<QueueStatus> {
  const target = parseRedisUrl(url);
  await checkRedisReachable(target);
  const queue = new Queue(QUEUE_NAME, { connection: { ...target.options, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX });
  queue.on('error', () => {});
  const redis = openRedisClient(target);
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'paused');
    const clients = await queue.getWorkers().catch(() => []);
    const workerPrefix = `${QUEUE_PREFIX}:${Buffer.from(QUEUE_NAME).toString('base64')}:w:`;
    const workers = clients.map((c) => ({
      name: String(c.rawname ?? '').startsWith(workerPrefix) ? String(c.rawname).slice(workerPrefix.length) : String(c.rawname ?? c.name ?? '?'),
      address: String(c.addr ?? ''),
      connectedSeconds: Number(c.age ?? 0),
      idleSeconds: Number(c.idle ?? 0),
    }));
    const minute = Math.floor(Date.now() / 60_000);
    const perMinute = (await redis.mget(Array.from({ length: 6 }, (_, k) => throughputKey(minute - k)))).map((v) => Number(v ?? 0));
    const secondsThisMinute = Math.max(1, (Date.now() % 60_000) / 1000);
    // Not queue.getFailed: it would fetch each job's payload (image bytes) just to show its reason.
    const failedIds = await redis.zrevrange(queue.keys.failed, 0, 4);
    const failed = await Promise.all(failedIds.map(async (id) => ({ id, fields: await redis.hmget(queue.toKey(id), 'failedReason', 'finishedOn') })));
    return {
      url: target.display,
      jobs: { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0, prioritized: counts.prioritized ?? 0, paused: counts.paused ?? 0 },
      workers,
      throughput: { lastMinute: perMinute[1] / 60, last5Minutes: perMinute.slice(1, 6).reduce((a, b) => a + b, 0) / 300, thisMinuteSoFar: perMinute[0] / secondsThisMinute },
      recentFailures: failed.map(({ id, fields: [reason, finishedOn] }) => ({ shard: id, reason: (reason ?? '').split('\n')[0], failedAt: new Date(Number(finishedOn ?? 0)).toISOString() })),
    };
  } finally {
    await queue.close().catch(() => {});
    redis.disconnect();
  }
}
