import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_SHARD_SIZE, type QueueOptions } from '../queue/queue-extraction.js';

export function parseNumberOption(name: string, { min, max, integer }: { min?: number; max?: number; integer?: boolean } = {}) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) throw new InvalidArgumentError(`${name} must be ${integer ? 'an integer' : 'a number'}, got "${text}"`);
    if (min !== undefined && value < min) throw new InvalidArgumentError(`${name} must be ≥ ${min}, got ${value}`);
    if (max !== undefined && value > max) throw new InvalidArgumentError(`${name} must be ≤ ${max}, got ${value}`);
    return value;
  };
}

export function parseChoice<T extends string>(name: string, choices: readonly T[]) {
  return (text: string): T => {
    if (!choices.includes(text as T)) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got "${text}"`);
    return text as T;
  };
}

export function parseTriple(name: string) {
  return (text: string): [number, number, number] => {
    const parts = text.split(',').map(Number);
    if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p))) throw new InvalidArgumentError(`${name} must be three comma-separated numbers, got "${text}"`);
    return parts as [number, number, number];
  };
}

/** Common output flags. */
export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
}

/** Logs go to stderr so stdout stays clean for tables and JSON. */
export function makeLogger(flags: OutputFlags): (line: string) => void {
  if (flags.quiet) return () => {};
  return (line) => process.stderr.write(line + '\n');
}

export function progressFor(flags: OutputFlags): boolean | undefined {
  return flags.quiet ? false : undefined;
}

/** Flags of every command that runs a saved model (evaluate, predict, submit, serve). */
export interface InferenceFlags {
  device: 'cpu' | 'cuda';
  cacheDir?: string;
  batchSize: number;
  tta: boolean;
}

export function addInferenceOptions(cmd: Command): Command {
  return cmd
    .option('--device <device>', 'where the backbones run: cpu | cuda', parseChoice('--device', ['cpu', 'cuda'] as const), 'cpu')
    .option('--batch-size <n>', 'images per backbone batch', parseNumberOption('--batch-size', { integer: true, min: 1 }), 32)
    .option('--cache-dir <dir>', 'feature cache folder (default: $LENSEMBLE_CACHE or ~/.cache/lensemble)')
    .option('--no-tta', "skip the members' test-time augmentation (faster, usually a little less accurate)");
}

/** The library options those flags stand for. */
export function inferenceOptions(flags: InferenceFlags & OutputFlags) {
  return { device: flags.device, cacheDir: flags.cacheDir, batchSize: flags.batchSize, tta: flags.tta, progress: progressFor(flags) };
}

/** Flags of every command that extracts features and can leave that to queue workers. */
export interface QueueFlags {
  queue?: string;
  shardSize: number;
  sharedRoot?: string;
}

export function addQueueOptions(cmd: Command): Command {
  return cmd
    .option('--queue <url>', 'extract features on the workers of this Redis queue (start them with `lensemble worker`): redis://host:port[/db], redis://user:password@host:port, rediss://… for TLS')
    .option('--shard-size <n>', 'with --queue: images × views per job', parseNumberOption('--shard-size', { integer: true, min: 1 }), DEFAULT_SHARD_SIZE)
    .option('--shared-root <dir>', 'with --queue: a folder every machine mounts; images inside it travel as paths instead of bytes');
}

/** The library's `queue` option those flags stand for (undefined without --queue). */
export function queueOptions(flags: QueueFlags, log: (line: string) => void): QueueOptions | undefined {
  return flags.queue ? { url: flags.queue, shardSize: flags.shardSize, sharedRoot: flags.sharedRoot, log } : undefined;
}
