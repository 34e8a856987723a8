import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FineTunerState } from '../autodiff/fine-tuner.js';
import type { FineTuneEpoch } from './fine-tune.js';

/** What survives a killed run: the optimizer after the last finished epoch, and the best epoch's weights. */
export interface Checkpoint {
  /** Unfrozen epochs finished. */
  epochsDone: number;
  history: FineTuneEpoch[];
  best: { epoch: number; validLoss: number; params: Map<string, Float32Array> } | null;
  state: FineTunerState;
}

interface Header {
  version: 1;
  epochsDone: number;
  history: FineTuneEpoch[];
  step: number;
  buckets: number[];
  best: { epoch: number; validLoss: number; names: string[]; sizes: number[] } | null;
}

const FILE = 'checkpoint.bin';

/** Header length (uint32) | JSON header | float32 data: every bucket's param, expAvg, expAvgSq, then the best weights. */
export function writeCheckpoint(dir: string, c: Checkpoint): void {
  mkdirSync(dir, { recursive: true });
  const bestNames = c.best ? [...c.best.params.keys()] : [];
  const header: Header = {
    version: 1,
    epochsDone: c.epochsDone,
    history: c.history,
    step: c.state.step,
    buckets: c.state.buffers.map((b) => b.param.length),
    best: c.best ? { epoch: c.best.epoch, validLoss: c.best.validLoss, names: bestNames, sizes: bestNames.map((n) => c.best!.params.get(n)!.length) } : null,
  };
  const json = Buffer.from(JSON.stringify(header));
  const arrays = [...c.state.buffers.flatMap((b) => [b.param, b.expAvg, b.expAvgSq]), ...bestNames.map((n) => c.best!.params.get(n)!)];
  const pad = (4 - ((4 + json.length) % 4)) % 4;
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length + pad);
  const parts = [length, json, Buffer.alloc(pad, 0x20), ...arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))];
  const tmp = join(dir, `${FILE}.partial`);
  writeFileSync(tmp, Buffer.concat(parts));
  renameSync(tmp, join(dir, FILE)); // a kill mid-write leaves the previous checkpoint whole
}

export function readCheckpoint(dir: string): Checkpoint | undefined {
  const path = join(dir, FILE);
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  const headerLength = bytes.readUInt32LE(0);
  const header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as Header;
  if (header.version !== 1) return undefined;
  let offset = 4 + headerLength;
  const take = (n: number): Float32Array => {
    const out = new Float32Array(n);
    Buffer.from(out.buffer).set(bytes.subarray(offset, offset + n * 4));
    offset += n * 4;
    return out;
  };
  const buffers = header.buckets.map((n) => ({ param: take(n), expAvg: take(n), expAvgSq: take(n) }));
  const best = header.best ? { epoch: header.best.epoch, validLoss: header.best.validLoss, params: new Map(header.best.names.map((name, i) => [name, take(header.best!.sizes[i])])) } : null;
  return { epochsDone: header.epochsDone, history: header.history, best, state: { step: header.step, buffers } };
}

export function removeCheckpoint(dir: string): void {
  rmSync(join(dir, FILE), { force: true });
}
