import type { Command } from 'commander';
import { formatTable } from '../../evaluate/table.js';
import { queueStatus } from '../../queue/status.js';

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('Look at the Redis queue that `lensemble worker` processes take feature extraction from.');
  queue
    .command('status')
    .description('Jobs waiting, running and failed; the workers connected; images × views extracted per second; the latest failures.')
    .requiredOption('--queue <url>', 'the queue: redis://host:port[/db], redis://user:password@host:port, rediss://… for TLS')
    .option('--json', 'print the status as JSON')
    .action(async (flags: { queue: string; json?: boolean }) => {
      const status = await queueStatus(flags.queue);
      if (flags.json) {
        process.stdout.write(JSON.stringify(status, null, 2) + '\n');
        return;
      }
      const { jobs, throughput } = status;
      const out = [
        `Queue ${status.url}`,
        `  shards: ${jobs.waiting + jobs.prioritized} waiting, ${jobs.active} active, ${jobs.delayed} delayed (retrying), ${jobs.failed} failed${jobs.paused ? `, ${jobs.paused} paused` : ''}`,
        `  throughput: ${throughput.lastMinute.toFixed(1)} img/s last minute, ${throughput.last5Minutes.toFixed(1)} img/s last 5 minutes (${throughput.thisMinuteSoFar.toFixed(1)} so far this minute)`,
        `  workers: ${status.workers.length}`,
      ];
      if (status.workers.length) {
        out.push(formatTable(['worker', 'address', 'connected', 'idle'], status.workers.map((w) => [w.name, w.address, `${w.connectedSeconds} s`, `${w.idleSeconds} s`]), ['left', 'left', 'right', 'right']));
      }
      if (status.recentFailures.length) {
        out.push('  latest failures:');
        for (const f of status.recentFailures) out.push(`    ${f.failedAt} shard ${f.shard.slice(0, 9)}: ${f.reason}`);
      }
      process.stdout.write(out.join('\n') + '\n');
    });
}
