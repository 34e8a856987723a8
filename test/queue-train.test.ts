// The Done-means test of the Redis queue: a coordinator (`train --queue`) and two `lensemble worker` processes
// train on a rice-leaf subset; one worker is killed with SIGKILL while it holds a shard. The run finishes, every
// (image, view) is in the coordinator's store exactly once, bit for bit what a local run computes, and the
// validation metrics equal the local run's.
// Also: a worker stopped with SIGTERM finishes the shard in hand first.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME, QUEUE_PREFIX } from '../src/queue/jobs.js';
import { parseRedisUrl } from '../src/queue/redis-url.js';
import { runCli, startCli, type CliProcess } from './support/cli.js';
import { HAS_REDIS, startRedis, type TestRedis } from './support/redis.js';
import { riceSubset } from './support/rice.js';
import { SHARED_DIR } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-queue-train-'));
const MEMBER = 'squeezenet1_1,size=128,views=2,tta=flip,head=linear';

/** Every record of every feature store under `cacheDir`, by store key: "hash:view" → the record's bytes (hex). */
function storeRecords(cacheDir: string): Map<string, string[]> {
  const stores = new Map<string, string[]>();
  for (const key of readdirSync(join(cacheDir, 'features'))) {
    const meta = JSON.parse(readFileSync(join(cacheDir, 'features', key, 'meta.json'), 'utf8')) as { recordBytes: number };
    const data = readFileSync(join(cacheDir, 'features', key, 'features.bin'));
    expect(data.length % meta.recordBytes).toBe(0);
    const records: string[] = [];
    for (let offset = 0; offset < data.length; offset += meta.recordBytes) records.push(data.subarray(offset, offset + meta.recordBytes).toString('hex'));
    stores.set(key, records);
  }
  return stores;
}

describe.skipIf(!SHARED_DIR || !HAS_REDIS)('a coordinator and lensemble worker processes', () => {
  let redis: TestRedis;
  let data: string;
  const workers: CliProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    data = riceSubset(join(work, 'data'), 6);
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('train --queue with two workers, one SIGKILLed holding a shard: every image-view stored once, bit-identical to a local run, same metrics', async () => {
    const trainArgs = (out: string, cache: string) => ['train', '--data', data, '--member', MEMBER, '--out', join(work, out), '--cache-dir', join(work, cache), '--json'];
    const local = await runCli(trainArgs('local', 'cache-local'));
    expect(local.code, local.stderr).toBe(0);

    const env = { LENSEMBLE_SHARED: SHARED_DIR! };
    for (const name of ['a', 'b']) {
      const worker = startCli(['worker', '--queue', redis.url, '--name', name, '--lock-seconds', '2', '--cache-dir', join(work, `worker-${name}`)], env);
      workers.push(worker);
      await worker.waitFor(/waiting for shards/);
    }
    const connection = { ...parseRedisUrl(redis.url).options, maxRetriesPerRequest: null };
    const events = new QueueEvents(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    const jobs = new Redis(connection);
    let stalled = 0;
    events.on('stalled', () => stalled++);
    // Worker a is killed as soon as it takes a shard (its first: it is still opening the backbone), so it dies holding it.
    events.on('active', async ({ jobId }) => {
      if ((await jobs.hget(`${QUEUE_PREFIX}:${QUEUE_NAME}:${jobId}`, 'pb')) === 'a') workers[0].child.kill('SIGKILL');
    });
    await events.waitUntilReady();

    const queued = await runCli([...trainArgs('queued', 'cache-queued'), '--queue', redis.url, '--shard-size', '4']);
    await events.close();
    jobs.disconnect();
    expect(queued.code, queued.stderr).toBe(0);
    expect(await workers[0].exited).toBe('SIGKILL');
    expect(stalled, 'the killed worker held a shard, which BullMQ handed to the other one').toBeGreaterThanOrEqual(1);
    expect(workers[1].output()).toMatch(/^shard s[0-9a-f]+: /m);

    // Every (image, view) once in each store of the coordinator, and the very bytes a local run writes.
    const localStores = storeRecords(join(work, 'cache-local'));
    const queuedStores = storeRecords(join(work, 'cache-queued'));
    expect([...queuedStores.keys()].sort()).toEqual([...localStores.keys()].sort());
    for (const [key, records] of queuedStores) {
      const pairs = records.map((r) => r.slice(0, 72)); // 32-byte hash + 4-byte view, in hex
      expect(new Set(pairs).size, `store ${key} holds a record twice`).toBe(records.length);
      expect([...records].sort()).toEqual([...localStores.get(key)!].sort());
    }

    const a = JSON.parse(local.stdout);
    const b = JSON.parse(queued.stdout);
    for (const field of ['accuracy', 'errorRate', 'logLoss', 'n', 'perClass', 'confusion', 'plain']) expect(b[field], field).toEqual(a[field]);
    expect(b.members.map((m: { errorRate: number }) => m.errorRate)).toEqual(a.members.map((m: { errorRate: number }) => m.errorRate));

    // Inference too: evaluate and predict with --queue on an empty cache answer as they do here.
    const model = join(work, 'queued');
    const [evalLocal, evalQueued] = await Promise.all([
      runCli(['evaluate', '--model', model, '--data', data, '--cache-dir', join(work, 'cache-eval-local'), '--json']),
      runCli(['evaluate', '--model', model, '--data', data, '--cache-dir', join(work, 'cache-eval-queued'), '--json', '--queue', redis.url, '--shard-size', '8']),
    ]);
    expect(evalQueued.code, evalQueued.stderr).toBe(0);
    expect(JSON.parse(evalQueued.stdout)).toEqual(JSON.parse(evalLocal.stdout));
    const photos = readdirSync(join(data, 'blast')).slice(0, 3).map((f) => join(data, 'blast', f));
    const [predictLocal, predictQueued] = await Promise.all([
      runCli(['predict', '--model', model, ...photos, '--cache-dir', join(work, 'cache-predict-local'), '--json']),
      runCli(['predict', '--model', model, ...photos, '--cache-dir', join(work, 'cache-predict-queued'), '--json', '--queue', redis.url]),
    ]);
    expect(predictQueued.code, predictQueued.stderr).toBe(0);
    expect(JSON.parse(predictQueued.stdout)).toEqual(JSON.parse(predictLocal.stdout));
    expect(readdirSync(join(work, 'cache-predict-queued', 'features')).length).toBe(2); // plain and flip views, filled by the worker
  }, 300_000);

  it('SIGTERM: a worker finishes the shard in hand, then exits; nothing stalls', async () => {
    for (const earlier of workers.splice(0)) {
      earlier.child.kill('SIGTERM');
      await earlier.exited;
    }
    const connection = { ...parseRedisUrl(redis.url).options, maxRetriesPerRequest: null };
    const events = new QueueEvents(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    const jobs = new Redis(connection);
    const leaving = startCli(['worker', '--queue', redis.url, '--name', 'leaving', '--lock-seconds', '2', '--cache-dir', join(work, 'worker-leaving')], { LENSEMBLE_SHARED: SHARED_DIR! });
    workers.push(leaving);
    await leaving.waitFor(/waiting for shards/);
    let stalled = 0;
    let staying: CliProcess | undefined;
    events.on('stalled', () => stalled++);
    events.on('active', async ({ jobId }) => {
      if (staying || (await jobs.hget(`${QUEUE_PREFIX}:${QUEUE_NAME}:${jobId}`, 'pb')) !== 'leaving') return;
      leaving.child.kill('SIGTERM');
      staying = startCli(['worker', '--queue', redis.url, '--name', 'staying', '--cache-dir', join(work, 'worker-staying')], { LENSEMBLE_SHARED: SHARED_DIR! });
      workers.push(staying);
    });
    await events.waitUntilReady();
    const run = await runCli(['traces', 'extract', '--data', data, '--queue', redis.url, '--shard-size', '6', '--cache-dir', join(work, 'cache-traces'), '--json']);
    await events.close();
    jobs.disconnect();
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ images: 24, computed: 24 });
    expect(await leaving.exited).toBe(0);
    expect(leaving.output()).toMatch(/SIGTERM: finishing 1 shard in hand, then stopping\nshard s[0-9a-f]+: 6 EM traces N=5 rows[^\n]*\nstopped\n$/);
    expect(stalled).toBe(0);
  }, 300_000);
});
