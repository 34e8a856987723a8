import type { RedisOptions } from 'ioredis';
import { LensembleError } from '../util/errors.js';

/** Where the queue lives: `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS. */
export interface RedisTarget {
  /** ioredis connection options (BullMQ opens its own connections from them). */
  options: RedisOptions;
  /** The URL with the password hidden, for messages. */
  display: string;
}

const DEFAULT_PORT = 6379;

/** Parses a queue URL, with one clear line for anything that is not one. */
export function parseRedisUrl(text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LensembleError(`--queue "${text}" is not a URL: give redis://host:port[/db] (or rediss:// for TLS, redis://user:password@host:port for auth)`);
  }
  const tls = url.protocol === 'rediss:';
  if (!tls && url.protocol !== 'redis:') throw new LensembleError(`--queue must be a redis:// or rediss:// URL, got ${url.protocol}//…`);
  if (!url.hostname) throw new LensembleError(`--queue "${text}" names no host`);
  const port = url.port ? Number(url.port) : DEFAULT_PORT;
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw new LensembleError(`--queue: the path of a Redis URL is the database number, got "/${dbText}"`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // IPv6 literals come bracketed
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  const options: RedisOptions = {
    host,
    port,
    db: dbText === '' ? 0 : Number(dbText),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(tls ? { tls: { servername: host } } : {}),
  };
  const auth = username || password ? `${username ?? ''}${password ? ':***' : ''}@` : '';
  return { options, display: `${url.protocol}//${auth}${url.host}${dbText ? `/${dbText}` : ''}` };
}
