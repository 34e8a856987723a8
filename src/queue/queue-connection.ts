import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { checkRedisReachable, openRedisClient } from './connect.js';
import { QUEUE_NAME, QUEUE_PREFIX } from './jobs.js';
import { parseRedisUrl, type RedisTarget } from './redis-url.js';

/** A coordinator's hold on the queue: BullMQ's queue and event stream, and a client for the result keys. */
export interface QueueConnection {
  target: RedisTarget;
  queue: Queue;
  events: QueueEvents;
  redis: Redis;
  close(): Promise<void>;
}

/** Connects to the queue at `url`, failing with one line at once when Redis is unreachable or refuses the login. */
export async function openQueueConnection(url: string, log: (line: string) => void = () => {}): Promise<QueueConnection> {
  const target = parseRedisUrl(url);
  await checkRedisReachable(target);
  const connection = { ...target.options, maxRetriesPerRequest: null };
  const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  const events = new QueueEvents(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  const redis = openRedisClient(target);
  // BullMQ reconnects by itself; say once per kind of trouble that it is happening.
  const said = new Set<string>();
  const report = (err: Error) => {
    const line = `queue ${target.display}: ${err.message.split('\n')[0]} (reconnecting)`;
    if (!said.has(line)) log(line);
    said.add(line);
  };
  queue.on('error', report);
  events.on('error', report);
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  return {
    target,
    queue,
    events,
    redis,
    async close() {
      await Promise.allSettled([queue.close(), events.close()]);
      redis.disconnect();
    },
  };
}
