// Extraction through the Redis queue against extraction here: the same rows bit for bit, the same skipped
// images and reasons, images by path under a shared root, a coordinator killed and restarted, a worker that
// refuses other weights, and EM traces.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDataConfig } from '../src/backbone/data-config.js';
import { resolveBackbone } from '../src/backbone/resolve.js';
import { openBackbone, type BackboneSession } from '../src/backbone/session.js';
import { augmentedViews } from '../src/features/augmented-views.js';
import { extractFeatures, type ExtractItem } from '../src/features/extract.js';
import type { FeatureStore } from '../src/features/feature-store.js';
import { extractTraceFeatures } from '../src/forensics/trace-features.js';
import { traceOptionsSchema } from '../src/forensics/trace-options.js';
import { fastaiDefaults } from '../src/images/augment-spec.js';
import type { PreprocessSpec } from '../src/images/preprocess-spec.js';
import { openQueueExtraction, type QueueExtraction } from '../src/queue/queue-extraction.js';
import { parseRedisUrl } from '../src/queue/redis-url.js';
import { queueStatus } from '../src/queue/status.js';
import { startQueueWorker, type QueueWorker } from '../src/queue/worker.js';
import { sha256File } from '../src/util/hash.js';
import { HAS_REDIS, startRedis, type TestRedis } from './support/redis.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-queue-extract-'));
const recipe = augmentedViews(fastaiDefaults, 42);
const VIEWS = [0, 1, 2];

async function itemsOf(paths: string[]): Promise<ExtractItem[]> {
  return Promise.all(paths.map(async (path) => ({ id: path, path, contentHash: await sha256File(path) })));
}

/** Rice images spread over the four classes. */
function ricePaths(perClass: number): string[] {
  return ['bacterial_leaf_blight', 'blast', 'brown_spot', 'tungro'].flatMap((label) => {
    const files = readdirSync(sharedPath('data', 'rice-leaf', label)).sort();
    return Array.from({ length: perClass }, (_, i) => sharedPath('data', 'rice-leaf', label, files[i * 7]));
  });
}

function expectSameRows(a: FeatureStore, b: FeatureStore, items: ExtractItem[], views: number[]): number {
  let compared = 0;
  for (const item of items)
    for (const view of views) {
      const x = a.get(item.contentHash, view);
      const y = b.get(item.contentHash, view);
      expect(Boolean(x), `${item.path} view ${view}`).toBe(Boolean(y));
      if (!x || !y) continue;
      expect(Buffer.from(y.buffer).equals(Buffer.from(x.buffer)), `${item.path} view ${view} is not bit-identical`).toBe(true);
      compared++;
    }
  return compared;
}

const fresh = (name: string) => mkdtempSync(join(work, `${name}-`));

describe.skipIf(!SHARED_DIR || !HAS_REDIS)('feature extraction through the queue', () => {
  let redis: TestRedis;
  let session: BackboneSession;
  let preprocess: PreprocessSpec;
  let worker: QueueWorker;
  let queue: QueueExtraction;
  const workerLog: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    session = await openBackbone(await resolveBackbone('squeezenet1_1'));
    preprocess = resolveDataConfig(session.spec, { size: 128 });
    worker = await startQueueWorker({ url: redis.url, lockSeconds: 3, name: 'in-test', log: (line) => workerLog.push(line) });
    queue = await openQueueExtraction({ url: redis.url, shardSize: 6 });
  });

  afterAll(async () => {
    await queue?.close();
    await worker?.stop();
    await session?.close();
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('computes the rows a local run computes, bit for bit, and skips unreadable images with the same reasons', async () => {
    const broken = join(work, 'truncated.jpg');
    writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
    const notImage = join(work, 'notes.jpg');
    writeFileSync(notImage, 'not an image at all');
    const items = [...(await itemsOf([...ricePaths(3), broken, notImage])), { id: 'gone', path: join(work, 'gone.jpg'), contentHash: 'e'.repeat(64) }];
    const local = await extractFeatures({ session, preprocess, items, cacheRoot: fresh('local'), recipe, views: VIEWS, progress: false });
    const cacheRoot = fresh('queued');
    const queued = await queue.extractFeatures({ backbone: session, preprocess, items, cacheRoot, recipe, views: VIEWS, progress: false });

    expect(queued.computed).toBe(12 * 3);
    expect(queued.computed).toBe(local.computed);
    expect(queued.failures).toEqual(local.failures);
    expect(queued.failures.map((f) => f.id)).toEqual([broken, notImage, 'gone']);
    expect(expectSameRows(local.store, queued.store, items, VIEWS)).toBe(36);
    // Unreadable images are results, not failed jobs retried forever; the worker shows up with its throughput.
    const status = await queueStatus(redis.url);
    expect(status.jobs).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    expect(status.workers.map((w) => w.name)).toContain('in-test');
    expect(status.throughput.thisMinuteSoFar + status.throughput.lastMinute).toBeGreaterThan(0);
    // Nothing of the finished shards is left in Redis: no job, no image bytes, no result (throughput counters expire in 2 h).
    const client = new Redis(parseRedisUrl(redis.url).options);
    const keys = await client.keys('lensemble:*');
    client.disconnect();
    expect(keys.filter((k) => !/^lensemble:extract-throughput:\d+$/.test(k) && !/^lensemble:extract:(meta|events|id|stalled-check|marker)$/.test(k))).toEqual([]);

    const again = await queue.extractFeatures({ backbone: session, preprocess, items, cacheRoot, recipe, views: VIEWS, progress: false });
    expect(again).toMatchObject({ computed: 0, reused: 36 });
  });

  it('sends paths under a shared root, which a worker finds under its own mount, checking each file’s content', async () => {
    const coordinatorRoot = fresh('mount-coordinator');
    const workerRoot = fresh('mount-worker');
    const paths = ricePaths(2).map((source, i) => {
      const rel = join(`class${i % 2}`, basename(source));
      for (const root of [coordinatorRoot, workerRoot]) {
        mkdirSync(join(root, `class${i % 2}`), { recursive: true });
        copyFileSync(source, join(root, rel));
      }
      return join(coordinatorRoot, rel);
    });
    const items = await itemsOf(paths);
    rmSync(join(workerRoot, items[1].path.slice(coordinatorRoot.length)));
    writeFileSync(join(workerRoot, items[2].path.slice(coordinatorRoot.length)), 'another file under the same name');
    const mounted = await startQueueWorker({ url: redis.url, sharedRoot: workerRoot, name: 'mounted' });
    await worker.stop(); // only the worker with the mount takes these shards
    try {
      const shared = await openQueueExtraction({ url: redis.url, shardSize: 6, sharedRoot: coordinatorRoot });
      const queued = await shared.extractFeatures({ backbone: session, preprocess, items, cacheRoot: fresh('shared'), recipe, views: VIEWS, progress: false });
      await shared.close();
      const local = await extractFeatures({ session, preprocess, items, cacheRoot: fresh('shared-local'), recipe, views: VIEWS, progress: false });
      expect(queued.failures.map((f) => [f.path, f.reason.replace(/ \(.*$/, '')])).toEqual([
        [items[1].path, "not found under this worker's shared root"],
        [items[2].path, "the file under this worker's shared root differs from the coordinator's"],
      ]);
      expect(expectSameRows(local.store, queued.store, [items[0], ...items.slice(3)], VIEWS)).toBe(6 * 3);
    } finally {
      worker = await startQueueWorker({ url: redis.url, lockSeconds: 3, name: 'in-test', log: (line) => workerLog.push(line) });
      await mounted.stop();
    }
  });

  it('a coordinator killed mid-run and restarted enqueues only what is missing, and no shard is extracted twice', async () => {
    const paths = ricePaths(4);
    const cacheDir = fresh('restart');
    const storeFile = () => {
      const dirs = existsSync(join(cacheDir, 'features')) ? readdirSync(join(cacheDir, 'features')) : [];
      return dirs.length ? join(cacheDir, 'features', dirs[0], 'features.bin') : undefined;
    };
    const recordBytes = 32 + 4 + 4 * 512; // SqueezeNet: 512 features
    const rows = () => {
      const file = storeFile();
      return file && existsSync(file) ? statSync(file).size / recordBytes : 0;
    };
    const runChild = (killWhenRows?: number) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/queue-extract-child.ts', redis.url, cacheDir, '6', ...paths], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        const poll = killWhenRows === undefined ? undefined : setInterval(() => rows() >= killWhenRows && child.kill('SIGKILL'), 20);
        child.on('exit', (code, signal) => {
          clearInterval(poll);
          if (code === 0 || signal === 'SIGKILL') resolve(out);
          else reject(new Error(`child failed (${code}): ${err}`));
        });
      });
    workerLog.length = 0;
    const first = await runChild(6);
    expect(first).not.toMatch(/^done/m);
    // The worker finishes the shards the dead coordinator left in the queue; their results wait in Redis.
    for (let i = 0; i < 100 && (worker.active > 0 || (await queueStatus(redis.url)).jobs.waiting > 0); i++) await new Promise((r) => setTimeout(r, 100));
    const cached = rows();
    expect(cached).toBeGreaterThanOrEqual(6);
    expect(cached).toBeLessThan(48);

    const second = await runChild();
    expect(second).toContain(`Extracting: ${48 - cached} image-views in `);
    expect(second).toContain(`; ${cached} from the cache`);
    expect(second).toMatch(new RegExp(`^done computed=${48 - cached} reused=${cached}$`, 'm'));
    expect(rows()).toBe(48);
    const shards = workerLog.map((line) => /^shard (s[0-9a-f]+):/.exec(line)?.[1]).filter(Boolean);
    expect(shards.length).toBe(8); // 16 images × 3 views in shards of 6
    expect(new Set(shards).size).toBe(shards.length);
  });

  it('a worker refuses a backbone whose file has another sha256, and the coordinator stops with that one line', async () => {
    const items = await itemsOf(ricePaths(1));
    const other = { spec: session.spec, sha256: 'b'.repeat(64) };
    const error = await queue.extractFeatures({ backbone: other, preprocess, items, cacheRoot: fresh('other'), progress: false }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^a queue worker could not extract shard s[0-9a-f]+: .*has sha256 [0-9a-f]{64}, but b{64} was expected/);
    expect((error as Error).message).not.toContain('\n');
    const status = await queueStatus(redis.url);
    expect(status.recentFailures[0].reason).toMatch(/but b{64} was expected/);
  });

  it('extracts EM traces on the workers, identical to a local extraction', async () => {
    const dir = sharedPath('data', 'fake-faces', 'fake');
    const items = await itemsOf(readdirSync(dir).sort().slice(0, 6).map((f) => join(dir, f)));
    const traces = traceOptionsSchema.parse({ kernelSize: 3 });
    const local = await extractTraceFeatures(items, traces, { cacheDir: fresh('traces-local'), progress: false });
    const queued = await queue.extractTraces(items, traces, { cacheDir: fresh('traces-queued'), progress: false });
    expect(queued).toMatchObject({ computed: 6, reused: 0, failures: [], names: local.names });
    expect(expectSameRows(local.store, queued.store, items, [0])).toBe(6);
  });
});
