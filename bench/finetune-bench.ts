/**
 * Fine-tuning step speed, side by side in one run: our one-`session.run` training step of the shared MobileNetV2
 * (full, and trainable last:2) against PyTorch on the same architecture (bench/finetune_reference.py: torchvision
 * MobileNetV2 with BatchNorm folded, the same weights, AdamW, label-smoothed CE), rounds alternating so load from
 * other processes falls on both alike. PyTorch runs every configuration listed (eager NCHW, channels_last,
 * torch.jit.trace, channels_last with OpenMP threads that sleep rather than spin while waiting) and its fastest is
 * the reference; ours likewise takes the fastest of its session configurations. Also records peak RSS per mode.
 *
 *   npx tsx bench/finetune-bench.ts [--batch 32] [--size 224] [--rounds 3] [--steps 3] [--threads 2]
 *                                   [--modes full,last2] [--torch-configs eager,channels_last,jit,channels_last+passive]
 *                                   [--python /usr/bin/python3]
 *                                   [--ours sequential,parallel,nospin,longspin,extended,merged,tried-<name>]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { resolveTrainable, splitLayerGroups, discriminativeLrs } from '../src/autodiff/blocks.js';
import { createFineTuner, type FineTuner, type SessionConfig } from '../src/autodiff/fine-tuner.js';
import { dataInputs } from '../src/autodiff/model-assembly.js';
import { decodeModel, floatInitializers, graphOf } from '../src/autodiff/onnx-io.js';
import { writeSafetensors } from '../src/bundle/safetensors.js';
import type { GradientRule } from '../src/autodiff/rules/index.js';
import { formatBytes, trackPeakMemory } from '../src/util/memory.js';
import { createRng } from '../src/util/rng.js';
import { FORMULATION_VARIANTS } from './finetune-variants.js';

export interface FinetuneBenchOptions {
  batch?: number;
  size?: number;
  rounds?: number;
  /** Training steps per contender per round. */
  steps?: number;
  threads?: number;
  modes?: ('full' | 'last2')[];
  torchConfigs?: string[];
  /** Our session configurations to run side by side (default: sequential). */
  oursConfigs?: OursConfig[];
  python?: string;
  modelPath?: string;
  log?: (line: string) => void;
}

/**
 * One of our contenders: a session configuration (sequential — the default, idle threads spin 20 µs —, parallel,
 * nospin, longspin: 10 ms, about onnxruntime's own spinning; extended: graph optimizations without the layout
 * level) or another formulation from bench/finetune-variants.ts.
 */
export type OursConfig = string;
const OURS_SESSION: Record<string, SessionConfig> = {
  sequential: {},
  parallel: { executionMode: 'parallel', interOpNumThreads: 2, intraOpNumThreads: 1 },
  nospin: { spinning: false },
  longspin: { spinMicroseconds: 10_000 },
  extended: { graphOptimizationLevel: 'extended' },
};

function oursContender(config: OursConfig): { session: SessionConfig; rules?: Readonly<Record<string, GradientRule>> } {
  if (OURS_SESSION[config]) return { session: OURS_SESSION[config] };
  if (FORMULATION_VARIANTS[config]) return { session: {}, rules: FORMULATION_VARIANTS[config] };
  throw new Error(`finetune-bench: unknown contender ${config} (${[...Object.keys(OURS_SESSION), ...Object.keys(FORMULATION_VARIANTS)].join(', ')})`);
}

interface Timed {
  imagesPerSecond: number;
  /** CPU milliseconds per image (all threads), less sensitive to other processes than wall time. */
  cpuMsPerImage: number;
}

export interface FinetuneModeResult {
  mode: 'full' | 'last2';
  ours: Timed & { peakRss: number; buildSeconds: number; trainableParams: number; config: OursConfig };
  oursConfigs: Record<string, Timed>;
  torch: Record<string, Timed & { maxRss: number }>;
  torchBest: string;
  ratio: number;
  /** Full mode: the forward pass alone, weights constant (inference) and as inputs (the step's eval graph). */
  forward?: { constant: Timed; inputs: Timed };
}

export interface FinetuneBenchResult {
  batch: number;
  size: number;
  threads: number;
  torch: { torch: string; torchvision: string; threads: number; mkldnn: boolean };
  modes: FinetuneModeResult[];
}

const here = dirname(fileURLToPath(import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The PyTorch peer as a line-oriented child process. `passive`: OpenMP threads sleep instead of spinning while they
 * wait (OMP_WAIT_POLICY=PASSIVE, which must be set before the runtime starts, hence a process of its own).
 */
function startPeer(python: string, passive = false) {
  const env = passive ? { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } : process.env;
  const child = spawn(python, [join(here, 'finetune_reference.py')], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async call<T>(message: Record<string, unknown>): Promise<T> {
      child.stdin!.write(`${JSON.stringify(message)}\n`);
      const next = await lines.next();
      if (next.done) throw new Error('the PyTorch peer exited');
      const reply = JSON.parse(next.value) as { error?: string } & T;
      if (reply.error) throw new Error(`PyTorch peer: ${reply.error}`);
      return reply;
    },
    close: () => child.stdin!.end(),
  };
}

export async function runFinetuneBench(options: FinetuneBenchOptions = {}): Promise<FinetuneBenchResult> {
  const log = options.log ?? console.log;
  const batch = options.batch ?? 32;
  const size = options.size ?? 224;
  const rounds = options.rounds ?? 3;
  const steps = options.steps ?? 3;
  const threads = options.threads ?? 2;
  const modes = options.modes ?? ['full', 'last2'];
  const torchConfigs = options.torchConfigs ?? ['eager', 'channels_last', 'jit', 'channels_last+passive'];
  const modelPath = options.modelPath ?? resolve('../shared/models/mobilenetv2/model.onnx');
  const bytes = readFileSync(modelPath);
  const model = decodeModel(bytes, modelPath);
  const input = dataInputs(graphOf(model))[0].name!;
  const classes = 4;
  const rng = createRng(42);
  const head = { weight: Float32Array.from({ length: classes * 1280 }, () => rng.normal() * 0.02), bias: new Float32Array(classes) };
  const images = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
  const labels = Int32Array.from({ length: batch }, (_, i) => i % classes);

  const folder = mkdtempSync(join(tmpdir(), 'lensemble-finetune-bench-'));
  const weightsFile = join(folder, 'weights.safetensors');
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of floatInitializers(model)) tensors[name] = { shape: t.dims, data: t.data };
  writeSafetensors(weightsFile, tensors);
  // A config ending in +passive runs in a second peer whose OpenMP threads do not spin.
  const python = options.python ?? '/usr/bin/python3';
  const peer = startPeer(python);
  const passivePeer = torchConfigs.some((c) => c.endsWith('+passive')) ? startPeer(python, true) : undefined;
  const peerOf = (config: string) => (config.endsWith('+passive') ? { peer: passivePeer!, config: config.slice(0, -'+passive'.length) } : { peer, config });
  try {
    const torchInfo = await peer.call<FinetuneBenchResult['torch']>({ cmd: 'setup', weights: weightsFile, classes, batch, size, threads });
    if (passivePeer) await passivePeer.call({ cmd: 'setup', weights: weightsFile, classes, batch, size, threads });
    log(`PyTorch ${torchInfo.torch} (torchvision ${torchInfo.torchvision}), ${torchInfo.threads} threads, mkldnn ${torchInfo.mkldnn}; configs ${torchConfigs.join(', ')}`);
    log(`MobileNetV2 (BN folded) at ${size}², batch ${batch}, AdamW + label-smoothed CE; ${rounds} rounds × ${steps} steps, alternating; onnxruntime ${threads} intra-op threads`);
    const results: FinetuneModeResult[] = [];
    for (const mode of modes) {
      const memory = trackPeakMemory();
      const t0 = performance.now();
      const trainable = resolveTrainable(model, mode === 'full' ? 'all' : { last: 2 }, { input, features: 'features' });
      const groups = splitLayerGroups(trainable.blocks, Math.min(3, trainable.blocks.length));
      const oursConfigs = options.oursConfigs ?? ['sequential'];
      const tuners: FineTuner[] = [];
      for (const config of oursConfigs) {
        const { session, rules } = oursContender(config);
        tuners.push(await createFineTuner(bytes, { inputDims: [batch, 3, size, size], head, groups, session: { intraOpNumThreads: threads, ...session }, rules }));
      }
      const buildSeconds = (performance.now() - t0) / 1000 / tuners.length;
      const lrs = discriminativeLrs(1e-5, 1e-3, tuners[0].layout.groups);
      for (const tuner of tuners) await tuner.step(images, labels, { lr: lrs }); // warm-up
      // The floor of a full step: the forward alone, with the weights as constants (onnxruntime's fastest
      // inference: NCHWc kernels, prepacked weights) and as run-time inputs (what a trainable step must use).
      const inference = mode === 'full' ? await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '1', spin_duration_us: '20' } } } }) : undefined;
      const inferenceFeeds = { [input]: new ort.Tensor('float32', images, [batch, 3, size, size]) };
      if (inference) for (let w = 0; w < 3; w++) await inference.run(inferenceFeeds);
      if (inference) for (let w = 0; w < 3; w++) await tuners[0].evaluate(images, batch);
      const forwards: Record<'constant' | 'inputs', { wall: number; cpu: number }[]> = { constant: [], inputs: [] };
      const timeForward = async (kind: 'constant' | 'inputs', run: () => Promise<unknown>) => {
        const c0 = process.cpuUsage();
        const w0 = performance.now();
        for (let s = 0; s < steps; s++) await run();
        const cpu = process.cpuUsage(c0);
        forwards[kind].push({ wall: (performance.now() - w0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
      };
      const ours: { wall: number; cpu: number }[][] = oursConfigs.map(() => []);
      const peers: Record<string, { wall: number; cpu: number; maxRss: number }[]> = Object.fromEntries(torchConfigs.map((c) => [c, []]));
      for (let r = 0; r < rounds; r++) {
        for (const [i, tuner] of tuners.entries()) {
          const c0 = process.cpuUsage();
          const w0 = performance.now();
          for (let s = 0; s < steps; s++) await tuner.step(images, labels, { lr: lrs, beta1: 0.9, weightDecay: 0.01 });
          const cpu = process.cpuUsage(c0);
          ours[i].push({ wall: (performance.now() - w0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
        }
        if (inference) {
          await timeForward('constant', () => inference.run(inferenceFeeds));
          await timeForward('inputs', () => tuners[0].evaluate(images, batch));
        }
        for (const config of torchConfigs) {
          const target = peerOf(config);
          const reply = await target.peer.call<{ times: { wall: number; cpu: number }[]; maxRss: number }>({ cmd: 'run', config: target.config, mode, steps });
          peers[config].push({ wall: reply.times.reduce((a, t) => a + t.wall, 0), cpu: reply.times.reduce((a, t) => a + t.cpu, 0), maxRss: reply.maxRss });
        }
      }
      const timed = (runs: { wall: number; cpu: number }[]): Timed => ({
        imagesPerSecond: median(runs.map((x) => (steps * batch) / x.wall)),
        cpuMsPerImage: median(runs.map((x) => (1000 * x.cpu) / (steps * batch))),
      });
      const peakRss = memory.peak();
      memory.stop();
      const trainableParams = trainable.params.reduce((n, p) => n + floatInitializers(model).get(p)!.data.length, 0) + head.weight.length + head.bias.length;
      for (const tuner of tuners) await tuner.release();
      await inference?.release();
      const forward = inference ? { constant: timed(forwards.constant), inputs: timed(forwards.inputs) } : undefined;
      const oursTimed = Object.fromEntries(oursConfigs.map((c, i) => [c, timed(ours[i])]));
      // Earlier formulations are there to be compared with, not to be the result.
      const sessionConfigs = oursConfigs.filter((c) => OURS_SESSION[c]);
      const candidates = sessionConfigs.length ? sessionConfigs : oursConfigs;
      const oursBest = candidates.reduce((best, c) => (oursTimed[c].imagesPerSecond > oursTimed[best].imagesPerSecond ? c : best), candidates[0]);
      const torch = Object.fromEntries(torchConfigs.map((c) => [c, { ...timed(peers[c]), maxRss: Math.max(...peers[c].map((p) => p.maxRss)) }]));
      const torchBest = torchConfigs.reduce((best, c) => (torch[c].imagesPerSecond > torch[best].imagesPerSecond ? c : best), torchConfigs[0]);
      const result: FinetuneModeResult = {
        mode,
        ours: { ...oursTimed[oursBest], peakRss, buildSeconds, trainableParams, config: oursBest },
        oursConfigs: oursTimed,
        torch,
        torchBest,
        ratio: oursTimed[oursBest].imagesPerSecond / torch[torchBest].imagesPerSecond,
        forward,
      };
      results.push(result);
      for (const c of oursConfigs) log(`${mode}: ours ${c.padEnd(15)} ${oursTimed[c].imagesPerSecond.toFixed(1)} img/s (${oursTimed[c].cpuMsPerImage.toFixed(0)} CPU-ms/img)`);
      log(`${mode}: ours peak RSS ${formatBytes(peakRss)}${tuners.length > 1 ? ` (${tuners.length} configurations loaded)` : ''}, graphs built in ${buildSeconds.toFixed(1)} s, ${trainableParams} trainable values`);
      for (const c of torchConfigs) log(`${mode}: PyTorch ${c.padEnd(21)} ${torch[c].imagesPerSecond.toFixed(1)} img/s (${torch[c].cpuMsPerImage.toFixed(0)} CPU-ms/img, max RSS ${formatBytes(torch[c].maxRss)})`);
      log(`${mode}: ours (${oursBest}) / PyTorch (${torchBest}) = ${result.ratio.toFixed(2)}×`);
      if (forward) {
        const [c, i] = [forward.constant.cpuMsPerImage, forward.inputs.cpuMsPerImage];
        log(`${mode}: forward alone ${c.toFixed(1)} CPU-ms/img with constant weights, ${i.toFixed(1)} with the weights as inputs (${forward.inputs.imagesPerSecond.toFixed(0)} img/s)`);
        log(`${mode}: a step does ≈ 3 forwards of work (forward, dX, dW): floor ≈ ${(3 * c).toFixed(0)} CPU-ms/img at inference-kernel speed, ${(3 * i).toFixed(0)} at run-time-weight speed; 2× PyTorch needs ${(torch[torchBest].cpuMsPerImage / 2).toFixed(0)}`);
      }
    }
    return { batch, size, threads, torch: torchInfo, modes: results };
  } finally {
    peer.close();
    passivePeer?.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): FinetuneBenchOptions {
  const options: FinetuneBenchOptions = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--batch') options.batch = Number(value);
    else if (flag === '--size') options.size = Number(value);
    else if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--steps') options.steps = Number(value);
    else if (flag === '--threads') options.threads = Number(value);
    else if (flag === '--modes') options.modes = value.split(',') as FinetuneBenchOptions['modes'];
    else if (flag === '--torch-configs') options.torchConfigs = value.split(',');
    else if (flag === '--python') options.python = value;
    else if (flag === '--ours') options.oursConfigs = value.split(',');
    else if (flag === '--model') options.modelPath = value;
    else throw new Error(`finetune-bench: unknown option ${flag}`);
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runFinetuneBench(parseArgs(process.argv.slice(2))).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
