// Feature extraction here vs through the Redis queue (BullMQ) with `lensemble worker` processes on this same
// machine: the queue's overhead (one worker; target ≥ 0.9 of local) and two workers (on a 2-core machine they
// compete for the same cores: contention, not scale-out).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  /** Which queue setups to time (default all): one, one-c2, one-shared, two. */
  setups?: string[];
  log?: (line: string) => void;
}

export interface QueueContender {
  name: string;
  /** Median over the rounds. */
  imagesPerSecond: number;
  /** Median over the rounds of this round's rate / the same round's local rate (load drifts between rounds). */
  ratioToLocal: number;
  /** CPU milliseconds per image of every process involved (coordinator, workers, redis-server), median over rounds. */
  cpuMsPerImage: number;
  /** local CPU per image / this CPU per image: what throughput would be on cores nobody else uses. */
  cpuEfficiency: number;
  rounds: number[];
  cpuRounds: number[];
}

export interface QueueBenchResult {
  backbone: string;
  images: number;
  shardSize: number;
  cores: number;
  contenders: QueueContender[];
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** CPU seconds (user + system, all threads) a process has used so far, from /proc. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
}
const ownCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const cliEntry = resolve(dirname(new URL(import.meta.url).pathname), '..', 'test', 'support', 'cli-entry.ts');

/** `lensemble worker` processes with the backbone already open, resolved once they wait for shards. */
async function startWorkers(count: number, url: string, backbone: string, extra: string[]): Promise<{ pids: number[]; stop(): Promise<void> }> {
  const children = await Promise.all(
    Array.from({ length: count }, (_, k) => {
      const args = ['--import', tsx, cliEntry, 'worker', '--queue', url, '--name', `bench-${k}`, '--preload', backbone, '-q', ...extra];
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
    pids: children.map((child) => child.pid!),
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

  /** Images/s and CPU-ms per image of every process taking part (this one, the workers, redis-server). */
  const timed = async (extract: (cacheRoot: string) => Promise<{ computed: number }>, pids: number[] = []) => {
    const cacheRoot = mkdtempSync(join(tmpdir(), 'lensemble-queue-bench-'));
    const cpu = () => ownCpuSeconds() + [redis.pid, ...pids].reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
    const cpuBefore = cpu();
    const started = performance.now();
    const { computed } = await extract(cacheRoot);
    const perSecond = computed / ((performance.now() - started) / 1000);
    const cpuMsPerImage = ((cpu() - cpuBefore) * 1000) / computed;
    rmSync(cacheRoot, { recursive: true, force: true });
    if (computed !== items.length) throw new Error(`extracted ${computed} of ${items.length} images`);
    return { perSecond, cpuMsPerImage };
  };
  const here = () => timed((cacheRoot) => extractFeatures({ session, preprocess, items, cacheRoot, progress: false }));
  const phases = [
    { key: 'one', name: 'queue, 1 worker', workers: 1 },
    { key: 'one-c2', name: 'queue, 1 worker, --concurrency 2', workers: 1, concurrency: 2 },
    { key: 'one-shared', name: 'queue, 1 worker, --shared-root', workers: 1, sharedRoot: dataDir },
    { key: 'two', name: 'queue, 2 workers', workers: 2 },
  ].filter((phase) => !options.setups || options.setups.includes(phase.key));
  const localRuns: { perSecond: number; cpuMsPerImage: number }[] = [];
  const contenders: QueueContender[] = [];
  try {
    await here(); // warm-up: the first batches of a session allocate
    for (const phase of phases) {
      const extra = [...(phase.sharedRoot ? ['--shared-root', phase.sharedRoot] : []), ...(phase.concurrency ? ['--concurrency', String(phase.concurrency)] : [])];
      const running = await startWorkers(phase.workers, redis.url, backboneName, extra);
      const via = phase.sharedRoot ? byPath : byBytes;
      const queued = () => timed((cacheRoot) => via.extractFeatures({ backbone: session, preprocess, items, cacheRoot, progress: false }), running.pids);
      const paired: { local: { perSecond: number; cpuMsPerImage: number }; queue: { perSecond: number; cpuMsPerImage: number } }[] = [];
      try {
        await queued(); // warm-up of the workers' sessions, as a long-running worker is
        for (let round = 0; round < (options.rounds ?? 3); round++) paired.push({ local: await here(), queue: await queued() });
      } finally {
        await running.stop();
      }
      localRuns.push(...paired.map((p) => p.local));
      contenders.push({
        name: phase.name,
        imagesPerSecond: median(paired.map((p) => p.queue.perSecond)),
        ratioToLocal: median(paired.map((p) => p.queue.perSecond / p.local.perSecond)),
        cpuMsPerImage: median(paired.map((p) => p.queue.cpuMsPerImage)),
        cpuEfficiency: median(paired.map((p) => p.local.cpuMsPerImage / p.queue.cpuMsPerImage)),
        rounds: paired.map((p) => p.queue.perSecond),
        cpuRounds: paired.map((p) => p.queue.cpuMsPerImage),
      });
    }
  } finally {
    await byBytes.close();
    await byPath.close();
    await session.close();
    await redis.stop();
  }
  contenders.unshift({
    name: 'local',
    imagesPerSecond: median(localRuns.map((r) => r.perSecond)),
    ratioToLocal: 1,
    cpuMsPerImage: median(localRuns.map((r) => r.cpuMsPerImage)),
    cpuEfficiency: 1,
    rounds: localRuns.map((r) => r.perSecond),
    cpuRounds: localRuns.map((r) => r.cpuMsPerImage),
  });
  const result: QueueBenchResult = { backbone: session.spec.name, images: items.length, shardSize, cores: availableParallelism(), contenders };
  log(
    `queue ${result.backbone}@224, ${result.images} rice images, shards of ${shardSize}, ${result.cores} cores; each queue setup: workers started and warmed up once, ` +
      `then ${options.rounds ?? 3} rounds alternating with a local run (ratios are medians of those pairs):`,
  );
  for (const c of contenders) {
    log(
      `  ${c.name.padEnd(34)} ${c.imagesPerSecond.toFixed(1).padStart(6)} img/s, ${c.ratioToLocal.toFixed(2)} of local (rounds ${c.rounds.map((v) => v.toFixed(0)).join('/')}); ` +
        `${c.cpuMsPerImage.toFixed(2)} CPU-ms/img, CPU efficiency ${c.cpuEfficiency.toFixed(2)}`,
    );
  }
  if (result.cores <= 2) log('  (two workers on this machine share its cores with each other and the coordinator: that measures contention, not scale-out)');
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  await runQueueBench({ images: Number(arg('images') ?? 512), shardSize: Number(arg('shard-size') ?? 256), rounds: Number(arg('rounds') ?? 3), setups: arg('setups')?.split(',') });
}
