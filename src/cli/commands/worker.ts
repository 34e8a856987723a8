import type { Command } from 'commander';
import { startQueueWorker } from '../../queue/worker.js';
import { makeLogger, parseChoice, parseNumberOption } from '../options.js';
import { launchedByNpm, untilStopRequested } from '../stop-request.js';

interface WorkerFlags {
  queue: string;
  concurrency: number;
  device: 'cpu' | 'cuda';
  cacheDir?: string;
  sharedRoot?: string;
  lockSeconds: number;
  preload: string[];
  name?: string;
  quiet?: boolean;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'Join a Redis queue and extract features for coordinators (`train`, `predict`, `evaluate`, `traces extract` … with --queue) until stopped. ' +
        'SIGTERM or Ctrl+C finishes the shard in hand, then exits; a worker killed outright has its shard handed to another worker.',
    )
    .requiredOption('--queue <url>', 'the queue: redis://host:port[/db], redis://user:password@host:port, rediss://… for TLS')
    .option('--concurrency <n>', 'shards worked on at once (one shard already keeps every session of a backbone busy)', parseNumberOption('--concurrency', { integer: true, min: 1, max: 64 }), 1)
    .option('--device <device>', 'where the backbones run: cpu | cuda', parseChoice('--device', ['cpu', 'cuda'] as const), 'cpu')
    .option('--cache-dir <dir>', 'where backbones are found or downloaded (default: $LENSEMBLE_CACHE or ~/.cache/lensemble)')
    .option('--shared-root <dir>', "this machine's mount of the coordinators' --shared-root (default: the same path as on the coordinator)")
    .option('--lock-seconds <s>', 'a shard whose worker stops answering (killed, lost) goes to another worker after about this long', parseNumberOption('--lock-seconds', { min: 1, max: 3600 }), 30)
    .option('--preload <backbone>', 'open this backbone at start and keep it open (repeatable); a worker that cannot open it stops at once', (v: string, prev: string[]) => [...prev, v], [])
    .option('--name <name>', 'name shown by `lensemble queue status` and on the coordinator (default host:pid)')
    .option('-q, --quiet', 'no log line per shard')
    .action(async (flags: WorkerFlags) => {
      const log = makeLogger({ quiet: flags.quiet });
      const worker = await startQueueWorker({
        url: flags.queue,
        concurrency: flags.concurrency,
        device: flags.device,
        cacheDir: flags.cacheDir,
        sharedRoot: flags.sharedRoot,
        lockSeconds: flags.lockSeconds,
        preload: flags.preload,
        name: flags.name,
        log,
      });
      process.stderr.write(`lensemble worker ${worker.name}: waiting for shards on ${worker.display} (concurrency ${flags.concurrency}, ${flags.device})\n`);
      const reason = await untilStopRequested({ watchParent: launchedByNpm(), onSecondSignal: () => process.exit(130) });
      log(`${reason}: finishing ${worker.active} shard${worker.active === 1 ? '' : 's'} in hand, then stopping`);
      await worker.stop();
      log('stopped');
    });
}
