// Reaching the queue from the command line: an unreachable Redis or a wrong password is one line at once;
// password and TLS URLs work end to end.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../src/queue/redis-url.js';
import { runCli, startCli } from './support/cli.js';
import { freePort, HAS_REDIS, startRedis } from './support/redis.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-queue-connect-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Exactly one line on stderr, `lensemble: …`, matching `pattern`. */
function expectOneLineError(run: { code: number; stderr: string }, pattern: RegExp): void {
  expect(run.code).toBe(1);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^lensemble: /);
  expect(lines[0]).toMatch(pattern);
}

describe('queue URLs', () => {
  it('reads host, port, database, user, password and TLS, and hides the password in messages', () => {
    expect(parseRedisUrl('redis://localhost')).toEqual({ options: { host: 'localhost', port: 6379, db: 0 }, display: 'redis://localhost' });
    const full = parseRedisUrl('rediss://ops:p%40ss@queue.example:6380/2');
    expect(full.options).toEqual({ host: 'queue.example', port: 6380, db: 2, username: 'ops', password: 'p@ss', tls: { servername: 'queue.example' } });
    expect(full.display).toBe('rediss://ops:***@queue.example:6380/2');
    expect(parseRedisUrl('redis://:secret@[::1]:7000').options).toMatchObject({ host: '::1', port: 7000, password: 'secret' });
    expect(() => parseRedisUrl('http://localhost:6379')).toThrow(/must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => parseRedisUrl('redis://localhost/queue')).toThrow(/database number/);
    expect(() => parseRedisUrl('localhost:6379')).toThrow(/redis:\/\/ or rediss:\/\//);
  });

  it('an unreachable Redis is one line at once, for coordinators, workers and `queue status`', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const runs = await Promise.all([
      runCli(['queue', 'status', '--queue', url]),
      runCli(['worker', '--queue', url]),
      runCli(['train', '--data', join(work, 'photos'), '--backbone', 'squeezenet1_1', '--out', join(work, 'run'), '--queue', url]),
    ]);
    for (const run of runs) expectOneLineError(run, /cannot use the Redis queue at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe.skipIf(!HAS_REDIS)('queue authentication and TLS', () => {
  it('a password URL works end to end (worker and coordinator); a missing or wrong one is one line', async () => {
    const redis = await startRedis({ password: 'pa ss:w0rd' });
    const hostPort = `127.0.0.1:${redis.port}`;
    try {
      expectOneLineError(await runCli(['queue', 'status', '--queue', `redis://${hostPort}`]), /asks for a password/);
      expectOneLineError(await runCli(['queue', 'status', '--queue', `redis://:wrong@${hostPort}`]), /refused the user name or password/);
      const status = await runCli(['queue', 'status', '--queue', `redis://default:${encodeURIComponent('pa ss:w0rd')}@${hostPort}/1`, '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ url: `redis://default:***@${hostPort}/1`, jobs: { waiting: 0, failed: 0 }, workers: [] });
      if (!SHARED_DIR) return;

      const worker = startCli(['worker', '--queue', redis.url, '--name', 'authed', '--cache-dir', join(work, 'worker')]);
      try {
        await worker.waitFor(/waiting for shards/);
        const data = join(work, 'faces');
        for (const label of ['fake', 'real']) {
          mkdirSync(join(data, label), { recursive: true });
          for (const file of readdirSync(sharedPath('data', 'fake-faces', label)).sort().slice(0, 6)) copyFileSync(sharedPath('data', 'fake-faces', label, file), join(data, label, file));
        }
        const extract = await runCli(['traces', 'extract', '--data', data, '--queue', redis.url, '--shard-size', '4', '--cache-dir', join(work, 'traces'), '--json']);
        expect(extract.code, extract.stderr).toBe(0);
        expect(JSON.parse(extract.stdout)).toMatchObject({ images: 12, computed: 12, fromCache: 0, skipped: 0 });
        expect(worker.output().match(/^shard s[0-9a-f]+: 4 EM traces N=5 rows/gm)).toHaveLength(3);
        // A traces member of `traces train` extracts through the queue too (a fresh cache: all 12 on the worker).
        const trained = await runCli(['traces', 'train', '--data', data, '--out', join(work, 'faces-model'), '--queue', redis.url, '--shard-size', '6', '--cache-dir', join(work, 'traces-train'), '--json']);
        expect(trained.code, trained.stderr).toBe(0);
        expect(JSON.parse(trained.stdout).n).toBeGreaterThan(0);
        expect(worker.output().match(/^shard s[0-9a-f]+: 6 EM traces N=5 rows/gm)).toHaveLength(2);
      } finally {
        worker.child.kill('SIGTERM');
        expect(await worker.exited).toBe(0);
      }
    } finally {
      await redis.stop();
    }
  });

  it('a rediss:// URL speaks TLS, trusting the CA in NODE_EXTRA_CA_CERTS', async () => {
    const cert = join(work, 'cert.pem');
    const key = join(work, 'key.pem');
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    } catch {
      console.warn('[lensemble tests] openssl not found: the TLS queue test is skipped');
      return;
    }
    const redis = await startRedis({ tls: { cert, key } });
    try {
      const trusted = await runCli(['queue', 'status', '--queue', redis.url, '--json'], { NODE_EXTRA_CA_CERTS: cert });
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(JSON.parse(trusted.stdout).url).toBe(`rediss://localhost:${redis.port}`);
      expectOneLineError(await runCli(['queue', 'status', '--queue', redis.url]), /self[- ]signed certificate/);
      expectOneLineError(await runCli(['queue', 'status', '--queue', `redis://127.0.0.1:${redis.port}`]), /cannot use the Redis queue/);
    } finally {
      await redis.stop();
    }
  });
});
