// Feature extraction here vs through the Redis queue (BullMQ) with `lensemble worker` processes on this same
// machine: the queue's overhead (one worker; target ≥ 0.9 of local) and two workers (on a 2-core machine they
// compete for the same cores: contention, not scale-out).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveDataConfig } from '../src/backbone/data-config.js';
import { resolveBackbone } from '../src/backbone/resolve.js';
import { openBackbone } from '../src/backbone/session.js';
import { identifyImages } from '../src/dataset/identify.js';
import { readDataset } from '../src/dataset/read-dataset.js';
import { extractFeatures } from '../src/features/extract.js';
import { openQueueExtraction } from '../src/queue/queue-extraction.js';
import { HAS_REDIS, startRedis } from '../test/support/redis.js';

export interface QueueBenchOptions {
  dataDir?: string;
  backbone?: string;
  images?: number;
  shardSize?: number;
  rounds?: number;
  log?: (line: string) => void;
}

export interface QueueBenchResult {
  backbone: string;
  images: number;
  shardSize: number;
  cores: number;
  /** Median images/s of each contender. */
  localImagesPerSecond: number;
  oneWorkerImagesPerSecond: number;
  oneWorkerSharedRootImagesPerSecond: number;
  twoWorkersImagesPerSecond: number;
  /** Through the queue with one worker, as a share of local: the queue's overhead. */
  oneWorkerRatio: number;
  oneWorkerSharedRootRatio: number;
  twoWorkersRatio: number;
  rounds: Record<string, number[]>;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const cliEntry = resolve(dirname(new URL(import.meta.url).pathname), '..', 'test', 'support', 'cli-entry.ts');

/** `lensemble worker` processes with the backbone already open, resolved once they wait for shards. */
async function startWorkers(count: number, url: string, backbone: string, sharedRoot?: string): Promise<{ stop(): Promise<void> }> {
  const children = await Promise.all(
    Array.from({ length: count }, (_, k) => {
      const args = ['--import', tsx, cliEntry, 'worker', '--queue', url, '--name', `bench-${k}`, '--preload', backbone, '-q', ...(sharedRoot ? ['--shared-root', sharedRoot] : [])];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      return new Promise<typeof child>((ready, fail) => {
        let err = '';
        child.stderr.on('data', (c: Buffer) => {
          err += c.toString();
          if (/waiting for shards/.test(err)) ready(child);
        });
        child.on('exit', (code) => fail(new Error(`worker exited (${code}): ${err}`)));
      });
    }),
  );
  return {
    stop: () =>
      Promise.all(
        children.map(
          (child) =>
            new Promise<void>((done) => {
              child.removeAllListeners('exit');
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        ),
      ).then(() => {}),
  };
}

export async function runQueueBench(options: QueueBenchOptions = {}): Promise<QueueBenchResult | undefined> {
  const log = options.log ?? console.log;
  if (!HAS_REDIS) {
    log('queue bench skipped: redis-server is not installed');
    return undefined;
  }
  const dataDir = resolve(options.dataDir ?? '../shared/data/rice-leaf');
  const count = options.images ?? 512;
  const shardSize = options.shardSize ?? 256;
  const backboneName = options.backbone ?? 'mobilenetv2_100';
  const dataset = await readDataset(dataDir);
  const step = Math.max(1, Math.floor(dataset.records.length / count));
  const { ok } = await identifyImages(dataset.records.filter((_, i) => i % step === 0).slice(0, count));
  const items = ok.map((o) => ({ id: o.record.id, path: o.record.path, contentHash: o.contentHash }));
  const backbone = await resolveBackbone(backboneName);
  const session = await openBackbone(backbone);
  const preprocess = resolveDataConfig(session.spec, { size: 224 });
  const redis = await startRedis();
  const byBytes = await openQueueExtraction({ url: redis.url, shardSize });
  const byPath = await openQueueExtraction({ url: redis.url, shardSize, sharedRoot: dataDir });

  const timed = async (extract: (cacheRoot: string) => Promise<{ computed: number }>) => {
    const cacheRoot = mkdtempSync(join(tmpdir(), 'lensemble-queue-bench-'));
    const started = performance.now();
    const { computed } = await extract(cacheRoot);
    const perSecond = computed / ((performance.now() - started) / 1000);
    rmSync(cacheRoot, { recursive: true, force: true });
    if (computed !== items.length) throw new Error(`extracted ${computed} of ${items.length} images`);
    return perSecond;
  };
  const local = () => timed((cacheRoot) => extractFeatures({ session, preprocess, items, cacheRoot, progress: false }));
  const queued = async (workers: number, sharedRoot?: string) => {
    const running = await startWorkers(workers, redis.url, backboneName, sharedRoot);
    try {
      return await timed((cacheRoot) => (sharedRoot ? byPath : byBytes).extractFeatures({ backbone: session, preprocess, items, cacheRoot, progress: false }));
    } finally {
      await running.stop();
    }
  };

  const contenders: Record<string, () => Promise<number>> = {
    local,
    'queue, 1 worker': () => queued(1),
    'queue, 1 worker, --shared-root': () => queued(1, dataDir),
    'queue, 2 workers': () => queued(2),
  };
  const rounds: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  try {
    await local(); // warm-up: the first batches of a session allocate
    await queued(1);
    for (let round = 0; round < (options.rounds ?? 3); round++) {
      for (const [name, run] of Object.entries(contenders)) rounds[name].push(await run());
    }
  } finally {
    await byBytes.close();
    await byPath.close();
    await session.close();
    await redis.stop();
  }
  const m = Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, median(v)]));
  const result: QueueBenchResult = {
    backbone: session.spec.name,
    images: items.length,
    shardSize,
    cores: availableParallelism(),
    localImagesPerSecond: m.local,
    oneWorkerImagesPerSecond: m['queue, 1 worker'],
    oneWorkerSharedRootImagesPerSecond: m['queue, 1 worker, --shared-root'],
    twoWorkersImagesPerSecond: m['queue, 2 workers'],
    oneWorkerRatio: m['queue, 1 worker'] / m.local,
    oneWorkerSharedRootRatio: m['queue, 1 worker, --shared-root'] / m.local,
    twoWorkersRatio: m['queue, 2 workers'] / m.local,
    rounds,
  };
  log(`queue ${result.backbone}@224, ${result.images} rice images, shards of ${shardSize}, ${result.cores} cores, median of ${rounds.local.length} alternating rounds (worker processes started per round, backbone preloaded):`);
  for (const [name, values] of Object.entries(rounds)) {
    log(`  ${name.padEnd(30)} ${m[name].toFixed(1).padStart(6)} img/s  (${(m[name] / m.local).toFixed(2)} of local; rounds ${values.map((v) => v.toFixed(0)).join('/')})`);
  }
  if (result.cores <= 2) log('  (two workers on this machine share its cores with each other and the coordinator: that measures contention, not scale-out)');
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  await runQueueBench({ images: Number(arg('images') ?? 512), shardSize: Number(arg('shard-size') ?? 256), rounds: Number(arg('rounds') ?? 3) });
}
