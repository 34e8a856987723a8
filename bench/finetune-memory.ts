/**
 * Peak memory of fine-tuning steps: for each (input size, batch, trainable) a fresh process builds the step graph
 * for the shared MobileNetV2 and runs two steps, and reports its peak RSS (so sizes do not inherit each other's
 * heap). The activations kept for the backward pass are what grows with batch × size².
 *
 *   npx tsx bench/finetune-memory.ts [--sizes 224,320] [--batches 16,32,64] [--trainable all,last:2]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolveTrainable, splitLayerGroups } from '../src/autodiff/blocks.js';
import { createFineTuner } from '../src/autodiff/fine-tuner.js';
import { decodeModel } from '../src/autodiff/onnx-io.js';
import { formatBytes, trackPeakMemory } from '../src/util/memory.js';
import { createRng } from '../src/util/rng.js';

export interface MemoryRow {
  size: number;
  batch: number;
  trainable: string;
  peakRss: number;
  stepSeconds: number;
}

const modelPath = resolve('../shared/models/mobilenetv2/model.onnx');

async function measure(size: number, batch: number, trainable: string): Promise<MemoryRow> {
  const memory = trackPeakMemory(20);
  const bytes = readFileSync(modelPath);
  const model = decodeModel(bytes, modelPath);
  const spec = trainable === 'all' ? 'all' : { last: Number(trainable.split(':')[1]) };
  const resolved = resolveTrainable(model, spec, { input: 'input', features: 'features' });
  const rng = createRng(1);
  const head = { weight: Float32Array.from({ length: 4 * 1280 }, () => rng.normal() * 0.02), bias: new Float32Array(4) };
  const tuner = await createFineTuner(bytes, { inputDims: [batch, 3, size, size], head, groups: splitLayerGroups(resolved.blocks, 3) });
  const x = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
  const y = Int32Array.from({ length: batch }, (_, i) => i % 4);
  await tuner.step(x, y, { lr: 1e-4 });
  const t0 = performance.now();
  await tuner.step(x, y, { lr: 1e-4 });
  const stepSeconds = (performance.now() - t0) / 1000;
  const peakRss = memory.peak();
  await tuner.release();
  return { size, batch, trainable, peakRss, stepSeconds };
}

export function runFinetuneMemoryBench(options: { sizes?: number[]; batches?: number[]; trainable?: string[]; log?: (line: string) => void } = {}): MemoryRow[] {
  const log = options.log ?? console.log;
  const rows: MemoryRow[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const trainable of options.trainable ?? ['all', 'last:2']) {
    for (const size of options.sizes ?? [224, 320]) {
      for (const batch of options.batches ?? [16, 32, 64]) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', String(size), String(batch), trainable], { encoding: 'utf8', maxBuffer: 1 << 20 });
        const row = JSON.parse(out.trim().split('\n').pop()!) as MemoryRow;
        rows.push(row);
        log(`${trainable.padEnd(7)} ${size}² batch ${String(batch).padStart(3)}: peak RSS ${formatBytes(row.peakRss).padStart(8)}, step ${row.stepSeconds.toFixed(1)} s`);
      }
    }
  }
  return rows;
}

function parseList(argv: string[], flag: string): string[] | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1].split(',') : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    measure(Number(argv[1]), Number(argv[2]), argv[3]).then((row) => console.log(JSON.stringify(row)));
  } else {
    runFinetuneMemoryBench({ sizes: parseList(argv, '--sizes')?.map(Number), batches: parseList(argv, '--batches')?.map(Number), trainable: parseList(argv, '--trainable') });
  }
}
