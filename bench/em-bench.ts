/**
 * EM trace extraction speed, side by side in one run: the straightforward numpy implementation
 * (bench/em_reference.py) against ours on one thread and on the worker pool, on the same decoded
 * images from the same initial kernels; also checks that the kernels agree.
 *
 *   npx tsx bench/em-bench.ts [--images 100] [--kernel-size 3] [--pool-size N] [--rounds 4]
 *                             [--numpy-threads 1|default] [--data DIR] [--python python3]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import {
  channelSeed,
  emGuards,
  extractTraces,
  initialKernel,
  resolveTraceOptions,
  type ImageTrace,
  type TraceOptions,
} from '../src/forensics/em-trace.js';
import { createTracePool } from '../src/forensics/trace-pool.js';
import type { RawImage } from '../src/images/raw-image.js';

export interface EmBenchOptions {
  /** How many images (alternately real and fake). */
  images?: number;
  kernelSize?: number;
  /** Workers in the pool; defaults to os.availableParallelism(). */
  poolSize?: number;
  /**
   * The images are run in this many chunks, each chunk by all three contenders in turn, so that
   * load from other processes on the machine falls on all of them alike.
   */
  rounds?: number;
  /** Folder with real/ and fake/ image folders. */
  dataDir?: string;
  python?: string;
  /**
   * BLAS threads for numpy (OPENBLAS/OMP/MKL_NUM_THREADS). Default 1: at these sizes threading
   * gains numpy little, and its spinning threads collapse when the machine is loaded.
   */
  numpyThreads?: number | 'default';
  log?: (line: string) => void;
}

/** Wall-clock and CPU milliseconds per image (CPU: all threads of the process). */
export interface Timing {
  wallMs: number;
  cpuMs: number;
}

export interface EmBenchResult {
  images: number;
  kernelSize: number;
  poolSize: number;
  numpy: Timing;
  singleThread: Timing;
  pool: Timing;
  /** numpy wall ms / ours wall ms. */
  speedupSingleThread: number;
  speedupPool: number;
  /** The same from CPU time (what each would take on an idle core). */
  cpuSpeedupSingleThread: number;
  /** Cores the pool actually had (its CPU time over its wall time): below its size on a busy machine. */
  poolCoresUsed: number;
  /** Largest |k_ours − k_numpy| over every kernel weight of every channel. */
  maxKernelDifference: number;
  /** Channels where the two stopped after a different number of iterations. */
  iterationMismatches: number;
  /** Kernels within AGREEMENT_TOLERANCE of numpy's, and the same iteration counts. */
  agrees: boolean;
  meanIterations: number;
  poolStartupMs: number;
}

interface NumpyChannel {
  kernel: number[];
  sigma: number;
  iterations: number;
  converged: boolean;
}

interface NumpyOutput {
  msPerImage: number;
  cpuMsPerImage: number;
  results: NumpyChannel[][];
}

const here = fileURLToPath(new URL('.', import.meta.url));
/**
 * Both run the same float64 algorithm from the same initial kernels; only summation order and the
 * linear solver differ (~1e-10 seen). A channel whose change lands within rounding of the stopping
 * tolerance could legitimately take one more iteration in one of them, but none has so far.
 */
const AGREEMENT_TOLERANCE = 1e-6;
const execFileAsync = promisify(execFile);

function defaultDataDir(): string {
  const shared = process.env.LENSEMBLE_SHARED ?? resolve(here, '../../shared');
  return join(shared, 'data', 'fake-faces');
}

async function decodeImages(dataDir: string, count: number): Promise<RawImage[]> {
  const lists = ['real', 'fake'].map((dir) =>
    readdirSync(join(dataDir, dir))
      .filter((f) => /\.(jpe?g|png|webp)$/i.test(f))
      .sort()
      .map((f) => join(dir, f)),
  );
  const names: string[] = [];
  for (let i = 0; names.length < count && i < Math.max(...lists.map((l) => l.length)); i++) {
    for (const list of lists) if (i < list.length && names.length < count) names.push(list[i]);
  }
  return Promise.all(
    names.map(async (name) => {
      const { data, info } = await sharp(join(dataDir, name))
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      return { data: pixels, width: info.width, height: info.height, channels: info.channels };
    }),
  );
}

/** Raw pixels, plus per chunk a manifest with the options and every channel's initial kernel, for em_reference.py. */
function writeReferenceInput(folder: string, images: RawImage[], chunks: number[][], options: TraceOptions): string[] {
  const entries = images.map((image, i) => {
    const file = `${i}.u8`;
    writeFileSync(join(folder, file), image.data);
    const init = Array.from({ length: image.channels }, (_, c) =>
      Array.from(initialKernel(options.kernelSize, channelSeed(options.seed, c))),
    );
    return { file, width: image.width, height: image.height, channels: image.channels, init };
  });
  return chunks.map((chunk, r) => {
    const path = join(folder, `manifest-${r}.json`);
    writeFileSync(path, JSON.stringify({ options: { ...options, ...emGuards }, images: chunk.map((i) => entries[i]) }));
    return path;
  });
}

function compareWithNumpy(ours: ImageTrace[], numpy: NumpyChannel[][], n: number) {
  const centre = Math.floor(n / 2) * n + Math.floor(n / 2);
  let maxKernelDifference = 0;
  let iterationMismatches = 0;
  ours.forEach((trace, i) =>
    trace.channels.forEach((channel, c) => {
      const theirs = numpy[i][c];
      const mine = Array.from(channel.kernel).filter((_, j) => j !== centre);
      mine.forEach((v, j) => (maxKernelDifference = Math.max(maxKernelDifference, Math.abs(v - theirs.kernel[j]))));
      if (channel.iterations !== theirs.iterations) iterationMismatches++;
    }),
  );
  return { maxKernelDifference, iterationMismatches };
}

async function timed<T>(work: () => T | Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await work();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { value, wallMs, cpuMs: (used.user + used.system) / 1000 };
}

function numpyEnv(threads: number | 'default'): NodeJS.ProcessEnv {
  if (threads === 'default') return process.env;
  const t = String(threads);
  return { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
}

export async function runEmBench(options: EmBenchOptions = {}): Promise<EmBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const count = options.images ?? 100;
  const rounds = Math.max(1, Math.min(options.rounds ?? 4, count));
  const traceOptions = resolveTraceOptions({ kernelSize: options.kernelSize ?? 3 });
  const dataDir = options.dataDir ?? defaultDataDir();
  const images = await decodeImages(dataDir, count);
  const chunks = Array.from({ length: rounds }, (_, r) => images.map((_, i) => i).filter((i) => i % rounds === r));
  log(`EM trace bench: ${images.length} images from ${dataDir}, N=${traceOptions.kernelSize}, ${rounds} interleaved rounds`);

  const folder = mkdtempSync(join(tmpdir(), 'em-bench-'));
  const pool = createTracePool(options.poolSize);
  try {
    const manifests = writeReferenceInput(folder, images, chunks, traceOptions);
    // Warm-up, untimed like numpy's import: WebAssembly compile and tier-up, worker start.
    extractTraces(images[0], traceOptions);
    const startup = await timed(() =>
      Promise.all(Array.from({ length: pool.size }, () => pool.extract(images[0], traceOptions))),
    );

    const single: ImageTrace[] = new Array(images.length);
    const numpyResults: NumpyChannel[][] = new Array(images.length);
    const total = { single: { wallMs: 0, cpuMs: 0 }, pool: { wallMs: 0, cpuMs: 0 }, numpy: { wallMs: 0, cpuMs: 0 } };
    for (let r = 0; r < rounds; r++) {
      const chunk = chunks[r];
      const one = await timed(() => chunk.map((i) => extractTraces(images[i], traceOptions)));
      chunk.forEach((i, k) => (single[i] = one.value[k]));
      total.single.wallMs += one.wallMs;
      total.single.cpuMs += one.cpuMs;

      const { stdout } = await execFileAsync(options.python ?? 'python3', [join(here, 'em_reference.py'), manifests[r]], {
        maxBuffer: 1 << 28,
        env: numpyEnv(options.numpyThreads ?? 1),
      });
      const numpy = JSON.parse(stdout) as NumpyOutput;
      chunk.forEach((i, k) => (numpyResults[i] = numpy.results[k]));
      total.numpy.wallMs += numpy.msPerImage * chunk.length;
      total.numpy.cpuMs += numpy.cpuMsPerImage * chunk.length;

      const pooled = await timed(() => Promise.all(chunk.map((i) => pool.extract(images[i], traceOptions))));
      total.pool.wallMs += pooled.wallMs;
      total.pool.cpuMs += pooled.cpuMs;
      pooled.value.forEach((trace, k) => {
        if (!trace.features.every((v, j) => v === single[chunk[k]].features[j])) {
          throw new Error('EM bench: the pool and the in-thread extraction disagree');
        }
      });
    }
    const perImage = (t: Timing): Timing => ({ wallMs: t.wallMs / images.length, cpuMs: t.cpuMs / images.length });
    const { maxKernelDifference, iterationMismatches } = compareWithNumpy(single, numpyResults, traceOptions.kernelSize);
    const channels = single.flatMap((t) => t.channels);
    const result: EmBenchResult = {
      images: images.length,
      kernelSize: traceOptions.kernelSize,
      poolSize: pool.size,
      numpy: perImage(total.numpy),
      singleThread: perImage(total.single),
      pool: perImage(total.pool),
      speedupSingleThread: total.numpy.wallMs / total.single.wallMs,
      speedupPool: total.numpy.wallMs / total.pool.wallMs,
      cpuSpeedupSingleThread: total.numpy.cpuMs / total.single.cpuMs,
      poolCoresUsed: total.pool.cpuMs / total.pool.wallMs,
      maxKernelDifference,
      iterationMismatches,
      agrees: maxKernelDifference < AGREEMENT_TOLERANCE && iterationMismatches === 0,
      meanIterations: channels.reduce((s, c) => s + c.iterations, 0) / channels.length,
      poolStartupMs: startup.wallMs,
    };
    const ms = (v: number) => v.toFixed(2).padStart(9);
    const row = (name: string, t: Timing) => `  ${name.padEnd(20)} ${ms(t.wallMs)} ms/image wall  ${ms(t.cpuMs)} ms/image CPU`;
    log(row('numpy reference', result.numpy));
    log(row('ours, one thread', result.singleThread));
    log(
      row(`ours, pool of ${pool.size}`, result.pool) +
        `  (had ${result.poolCoresUsed.toFixed(2)} cores; startup ${startup.wallMs.toFixed(0)} ms, untimed)`,
    );
    log(
      `  speed-up vs numpy (wall): ${result.speedupSingleThread.toFixed(1)}× one thread, ` +
        `${result.speedupPool.toFixed(1)}× pool;` +
        ` CPU time, one thread: ${result.cpuSpeedupSingleThread.toFixed(1)}×`,
    );
    log(
      `  agreement: max |k_ours − k_numpy| = ${maxKernelDifference.toExponential(2)}, ` +
        `${iterationMismatches}/${channels.length} channels with a different iteration count, ` +
        `${result.meanIterations.toFixed(1)} iterations per channel on average` +
        (result.agrees ? '' : `  — DISAGREES beyond ${AGREEMENT_TOLERANCE}`),
    );
    return result;
  } finally {
    await pool.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): EmBenchOptions {
  const options: EmBenchOptions = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--images') options.images = Number(value);
    else if (flag === '--kernel-size') options.kernelSize = Number(value);
    else if (flag === '--pool-size') options.poolSize = Number(value);
    else if (flag === '--data') options.dataDir = value;
    else if (flag === '--python') options.python = value;
    else if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--numpy-threads') options.numpyThreads = value === 'default' ? 'default' : Number(value);
    else throw new Error(`em-bench: unknown option ${flag}`);
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runEmBench(parseArgs(process.argv.slice(2))).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
