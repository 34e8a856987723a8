import { Redis } from 'ioredis';
import { LensembleError, errorMessage } from '../util/errors.js';
import type { RedisTarget } from './redis-url.js';

const CONNECT_TIMEOUT_MS = 5000;

/** What went wrong reaching Redis, in words (ioredis reports refusals and auth failures in several shapes). */
function describeRedisFailure(err: unknown): string {
  const message = errorMessage(err).split('\n')[0];
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message)) return `it refused the user name or password (${message})`;
  if (/NOAUTH/i.test(message)) return `it asks for a password: give redis://:password@host:port or redis://user:password@host:port (${message})`;
  if (/Protocol error/i.test(message)) return `what answers there does not speak Redis (${message}); with TLS, the URL starts rediss://`;
  return message;
}

/**
 * Checks that Redis answers — within a few seconds, trying once — so an unreachable server or a wrong password is
 * one line at once instead of a silent wait (ioredis and BullMQ otherwise reconnect forever).
 */
export async function checkRedisReachable(target: RedisTarget): Promise<void> {
  const client = new Redis({ ...target.options, lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  let lastError: unknown;
  client.on('error', (err) => (lastError = err));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new LensembleError(`cannot use the Redis queue at ${target.display}: ${describeRedisFailure(lastError ?? err)}`);
  } finally {
    client.disconnect();
  }
}

/** A plain client for lensemble's own keys beside BullMQ's (results, throughput counters). */
export function openRedisClient(target: RedisTarget): Redis {
  const client = new Redis({ ...target.options, maxRetriesPerRequest: null });
  client.on('error', () => {}); // reconnects on its own; BullMQ's connections report the outage
  return client;
}
