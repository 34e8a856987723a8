/**
 * EM trace extraction speed, side by side in one run: numpy at its fastest configuration on this
 * machine (bench/em_reference.py) against ours — the float32 pass on one thread and on the worker
 * pool, and today's float64 pass on one thread — on the same decoded images from the same initial
 * kernels; also checks that the kernels agree.
 *
 * numpy's configuration is chosen in the same run: every Python found (the first python3 on PATH,
 * /usr/bin/python3) × formulation (textbook, blocked) × BLAS threads (1, all cores) runs a
 * calibration set, twice, alternating; the fastest runs the timed rounds. OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE are unset for numpy (they pin older OpenBLAS kernels); the loaded BLAS and its
 * core kernel are printed.
 *
 *   npx tsx bench/em-bench.ts [--images 100] [--kernel-size 3] [--pool-size N] [--rounds 5]
 *                             [--calibration-images 8] [--numpy python:formulation:threads]
 *                             [--data DIR] [--python python3]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
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
  type EmBackend,
  type ImageTrace,
  type TraceOptions,
} from '../src/forensics/em-trace.js';
import { nativeEmIsa, nativeEmStatus } from '../src/forensics/em-native.js';
import { createTracePool, type TracePool } from '../src/forensics/trace-pool.js';
import type { RawImage } from '../src/images/raw-image.js';

export interface EmBenchOptions {
  /** How many images (alternately real and fake). */
  images?: number;
  kernelSize?: number;
  /** Workers in the pool; defaults to os.availableParallelism(). */
  poolSize?: number;
  /** Rounds; each runs every image through every contender, in an order that rotates per round. */
  rounds?: number;
  /** Images numpy's configurations are calibrated on. */
  calibrationImages?: number;
  /** Fixes numpy's configuration instead of calibrating. */
  numpy?: NumpyConfig;
  /** Folder with real/ and fake/ image folders. */
  dataDir?: string;
  /** Only this Python (default: every one found). */
  python?: string;
  log?: (line: string) => void;
}

export interface NumpyConfig {
  python: string;
  formulation: 'blocked' | 'textbook';
  /** BLAS threads (OPENBLAS/OMP/MKL_NUM_THREADS). */
  threads: number;
}

/** Milliseconds per image: the median over rounds (wall) and the median CPU time (all threads). */
export interface Timing {
  wallMs: number;
  cpuMs: number;
}

export interface NumpyRuntime {
  python: string;
  executable: string;
  numpy: string;
  blas: { path: string; config?: string; core?: string; threads?: number }[];
}

export interface EmBenchResult {
  images: number;
  kernelSize: number;
  poolSize: number;
  rounds: number;
  numpyConfig: NumpyConfig;
  numpyRuntime: NumpyRuntime;
  /** Every configuration tried: best ms per image on the calibration set. */
  calibration: { config: NumpyConfig; msPerImage: number; numpy: string }[];
  numpy: Timing;
  /** The float32 pass 'auto' took: the native kernel and its instruction set, or WebAssembly SIMD. */
  float32Pass: string;
  singleThread: Timing;
  /** The WebAssembly float32 pass, one thread, where the native one is what 'auto' takes. */
  wasm32SingleThread?: Timing;
  /** Today's float64 pass, one thread. */
  float64SingleThread: Timing;
  pool: Timing;
  /** Medians over rounds of numpy wall ms / ours wall ms (same round). */
  speedupSingleThread: number;
  speedupPool: number;
  speedupFloat64SingleThread: number;
  /** The same from CPU time (what each would take on an idle core). */
  cpuSpeedupSingleThread: number;
  /** Cores the pool actually had (its CPU time over its wall time): below its size on a busy machine. */
  poolCoresUsed: number;
  /** Largest |k_ours − k_numpy| over every kernel weight of every channel. */
  maxKernelDifference: number;
  /** Largest |k_float32 − k_float64| (ours). */
  maxFloat32Difference: number;
  /** Channels where ours and numpy stopped after a different number of iterations. */
  iterationMismatches: number;
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
  info: NumpyRuntime;
  results: NumpyChannel[][];
}

const here = fileURLToPath(new URL('.', import.meta.url));
/** The float32 pass stays within 1e-6 of float64 (4e-7 seen); numpy's float64 within 1e-9 of ours. */
const AGREEMENT_TOLERANCE = 1e-5;
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

/** Raw pixels, and a manifest per image subset with the options and every channel's initial kernel, for em_reference.py. */
function writeReferenceInput(folder: string, images: RawImage[], subsets: Record<string, number[]>, options: TraceOptions) {
  const entries = images.map((image, i) => {
    const file = `${i}.u8`;
    writeFileSync(join(folder, file), image.data);
    const init = Array.from({ length: image.channels }, (_, c) =>
      Array.from(initialKernel(options.kernelSize, channelSeed(options.seed, c))),
    );
    return { file, width: image.width, height: image.height, channels: image.channels, init };
  });
  const manifests: Record<string, string> = {};
  for (const [name, indices] of Object.entries(subsets)) {
    const path = join(folder, `manifest-${name}.json`);
    writeFileSync(path, JSON.stringify({ options: { ...options, ...emGuards }, images: indices.map((i) => entries[i]) }));
    manifests[name] = path;
  }
  return manifests;
}

function kernelDifference(a: ImageTrace[], b: { kernel: ArrayLike<number>; iterations: number }[][], n: number) {
  const centre = Math.floor(n / 2) * n + Math.floor(n / 2);
  let max = 0;
  let iterationMismatches = 0;
  a.forEach((trace, i) =>
    trace.channels.forEach((channel, c) => {
      const theirs = b[i][c];
      // numpy's kernels have no centre; ours do.
      const mine = theirs.kernel.length === channel.kernel.length ? Array.from(channel.kernel) : Array.from(channel.kernel).filter((_, j) => j !== centre);
      mine.forEach((v, j) => (max = Math.max(max, Math.abs(v - theirs.kernel[j]))));
      if (channel.iterations !== theirs.iterations) iterationMismatches++;
    }),
  );
  return { max, iterationMismatches };
}

async function timed<T>(work: () => T | Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await work();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { value, wallMs, cpuMs: (used.user + used.system) / 1000 };
}

function numpyEnv(threads: number): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // Together, as the machine notes say: they select older OpenBLAS kernels, which slow a current numpy.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const t = String(threads);
  return { ...env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
}

async function runNumpy(config: NumpyConfig, manifest: string): Promise<NumpyOutput> {
  const { stdout } = await execFileAsync(config.python, [join(here, 'em_reference.py'), manifest, '--formulation', config.formulation], {
    maxBuffer: 1 << 28,
    env: numpyEnv(config.threads),
  });
  return JSON.parse(stdout) as NumpyOutput;
}

/** Pythons that import numpy, each once (the first python3 on PATH may be /usr/bin/python3). */
async function findPythons(only?: string): Promise<string[]> {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const python of only ? [only] : ['python3', '/usr/bin/python3']) {
    try {
      const { stdout } = await execFileAsync(python, [join(here, 'em_reference.py'), '--info']);
      const executable = realpathSync((JSON.parse(stdout) as NumpyRuntime).executable);
      if (!seen.has(executable)) {
        seen.add(executable);
        found.push(python);
      }
    } catch {
      // no such Python, or no numpy in it
    }
  }
  if (found.length === 0) throw new Error(`em-bench: no Python with numpy found (tried ${only ?? 'python3, /usr/bin/python3'})`);
  return found;
}

const configName = (c: NumpyConfig) => `${c.python} ${c.formulation}, ${c.threads} BLAS thread${c.threads === 1 ? '' : 's'}`;

async function calibrateNumpy(pythons: string[], manifest: string, log: (line: string) => void) {
  const configs: NumpyConfig[] = [];
  const threadCounts = [...new Set([1, availableParallelism()])];
  for (const python of pythons) for (const formulation of ['blocked', 'textbook'] as const) for (const threads of threadCounts) configs.push({ python, formulation, threads });
  const best = new Map<NumpyConfig, { ms: number; numpy: string }>();
  for (let pass = 0; pass < 2; pass++) {
    for (const config of pass ? [...configs].reverse() : configs) {
      const out = await runNumpy(config, manifest);
      const previous = best.get(config);
      if (!previous || out.msPerImage < previous.ms) best.set(config, { ms: out.msPerImage, numpy: out.info.numpy });
    }
  }
  const calibration = configs.map((config) => ({ config, msPerImage: best.get(config)!.ms, numpy: best.get(config)!.numpy }));
  calibration.sort((a, b) => a.msPerImage - b.msPerImage);
  log('  numpy configurations (best of 2 on the calibration images):');
  for (const c of calibration) log(`    ${c.msPerImage.toFixed(1).padStart(8)} ms/image  ${configName(c.config)} (numpy ${c.numpy})`);
  return calibration;
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

type Contender = 'float32' | 'wasm32' | 'float64' | 'numpy' | 'pool';

export async function runEmBench(options: EmBenchOptions = {}): Promise<EmBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const count = options.images ?? 100;
  const rounds = Math.max(1, options.rounds ?? 5);
  const traceOptions = resolveTraceOptions({ kernelSize: options.kernelSize ?? 3 });
  const dataDir = options.dataDir ?? defaultDataDir();
  const images = await decodeImages(dataDir, count);
  const all = images.map((_, i) => i);
  const calibrationCount = Math.min(options.calibrationImages ?? 8, images.length);
  log(`EM trace bench: ${images.length} images from ${dataDir}, N=${traceOptions.kernelSize}, ${rounds} rounds, contenders alternating`);

  const folder = mkdtempSync(join(tmpdir(), 'em-bench-'));
  const pool: TracePool = createTracePool(options.poolSize);
  try {
    const manifests = writeReferenceInput(folder, images, { all, calibration: all.slice(0, calibrationCount) }, traceOptions);
    const calibration = options.numpy
      ? [{ config: options.numpy, msPerImage: NaN, numpy: '' }]
      : await calibrateNumpy(await findPythons(options.python), manifests.calibration, log);
    const numpyConfig = calibration[0].config;

    // Warm-up, untimed like numpy's import: WebAssembly compile and tier-up, worker start.
    const native = nativeEmStatus().loaded;
    const float32Pass = native ? `native ${nativeEmIsa().name}` : 'WebAssembly SIMD';
    for (const backend of (native ? ['auto', 'wasm32', 'wasm'] : ['auto', 'wasm']) as EmBackend[]) extractTraces(images[0], traceOptions, backend);
    const startup = await timed(() => Promise.all(Array.from({ length: pool.size }, () => pool.extract(images[0], traceOptions))));

    const contenders: Contender[] = native ? ['float32', 'numpy', 'wasm32', 'float64', 'pool'] : ['float32', 'numpy', 'float64', 'pool'];
    const perRound: Record<Contender, { wallMs: number; cpuMs: number }[]> = { float32: [], wasm32: [], float64: [], numpy: [], pool: [] };
    let float32: ImageTrace[] = [];
    let float64: ImageTrace[] = [];
    let numpyResults: NumpyChannel[][] = [];
    let numpyRuntime: NumpyRuntime | undefined;
    for (let r = 0; r < rounds; r++) {
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      for (const contender of order) {
        if (contender === 'numpy') {
          const out = await runNumpy(numpyConfig, manifests.all);
          numpyResults = out.results;
          numpyRuntime = out.info;
          perRound.numpy.push({ wallMs: out.msPerImage, cpuMs: out.cpuMsPerImage });
        } else if (contender === 'pool') {
          const pooled = await timed(() => Promise.all(images.map((image) => pool.extract(image, traceOptions))));
          perRound.pool.push({ wallMs: pooled.wallMs / images.length, cpuMs: pooled.cpuMs / images.length });
          if (float32.length && pooled.value.some((t, i) => !t.features.every((v, j) => v === float32[i].features[j]))) {
            throw new Error('EM bench: the pool and the in-thread extraction disagree');
          }
        } else {
          const backend: EmBackend = contender === 'float32' ? 'auto' : contender === 'wasm32' ? 'wasm32' : 'wasm';
          const one = await timed(() => images.map((image) => extractTraces(image, traceOptions, backend)));
          perRound[contender].push({ wallMs: one.wallMs / images.length, cpuMs: one.cpuMs / images.length });
          if (contender === 'float32') float32 = one.value;
          else if (contender === 'float64') float64 = one.value;
        }
      }
    }
    const timing = (c: Contender): Timing => ({ wallMs: median(perRound[c].map((t) => t.wallMs)), cpuMs: median(perRound[c].map((t) => t.cpuMs)) });
    const ratio = (c: Contender, of: 'wallMs' | 'cpuMs' = 'wallMs') => median(perRound.numpy.map((t, r) => t[of] / perRound[c][r][of]));
    const vsNumpy = kernelDifference(float32, numpyResults, traceOptions.kernelSize);
    const vsFloat64 = kernelDifference(float32, float64.map((t) => t.channels), traceOptions.kernelSize);
    const channels = float32.flatMap((t) => t.channels);
    const pooled = timing('pool');
    const result: EmBenchResult = {
      images: images.length,
      kernelSize: traceOptions.kernelSize,
      poolSize: pool.size,
      rounds,
      numpyConfig,
      numpyRuntime: numpyRuntime!,
      calibration,
      numpy: timing('numpy'),
      float32Pass,
      singleThread: timing('float32'),
      wasm32SingleThread: native ? timing('wasm32') : undefined,
      float64SingleThread: timing('float64'),
      pool: pooled,
      speedupSingleThread: ratio('float32'),
      speedupPool: ratio('pool'),
      speedupFloat64SingleThread: ratio('float64'),
      cpuSpeedupSingleThread: ratio('float32', 'cpuMs'),
      poolCoresUsed: pooled.cpuMs / pooled.wallMs,
      maxKernelDifference: vsNumpy.max,
      maxFloat32Difference: vsFloat64.max,
      iterationMismatches: vsNumpy.iterationMismatches,
      agrees: vsNumpy.max < AGREEMENT_TOLERANCE && vsNumpy.iterationMismatches === 0 && vsFloat64.iterationMismatches === 0,
      meanIterations: channels.reduce((s, c) => s + c.iterations, 0) / channels.length,
      poolStartupMs: startup.wallMs,
    };
    const blas = result.numpyRuntime.blas.map((b) => (b.config ? `${b.config}, core ${b.core}, ${b.threads} threads` : b.path)).join('; ');
    log(`  numpy: ${configName(numpyConfig)} — Python ${result.numpyRuntime.python}, numpy ${result.numpyRuntime.numpy}, BLAS ${blas || 'none found'}`);
    const ms = (v: number) => v.toFixed(2).padStart(9);
    const row = (name: string, t: Timing) => `  ${name.padEnd(32)} ${ms(t.wallMs)} ms/image wall  ${ms(t.cpuMs)} ms/image CPU`;
    log(`  medians of ${rounds} rounds:`);
    log(row('numpy', result.numpy));
    log(row('ours, float64 pass, one thread', result.float64SingleThread) + `  (${result.speedupFloat64SingleThread.toFixed(1)}×)`);
    if (result.wasm32SingleThread) {
      log(row('ours, WebAssembly f32, 1 thread', result.wasm32SingleThread) + `  (${ratio('wasm32').toFixed(1)}×)`);
    }
    log(row(`ours (${float32Pass}), 1 thread`, result.singleThread));
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
      `  agreement: max |k_ours − k_numpy| = ${vsNumpy.max.toExponential(2)}, float32 vs float64 pass ${vsFloat64.max.toExponential(2)}, ` +
        `${vsNumpy.iterationMismatches}/${channels.length} channels with a different iteration count, ` +
        `${result.meanIterations.toFixed(1)} iterations per channel on average` +
        (result.agrees ? '' : `  — DISAGREES beyond ${AGREEMENT_TOLERANCE}`),
    );
    return result;
  } finally {
    await pool.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

function parseNumpyConfig(value: string): NumpyConfig {
  const [python, formulation, threads] = value.split(':');
  if (!python || (formulation !== 'blocked' && formulation !== 'textbook') || !(Number(threads) >= 1)) {
    throw new Error(`em-bench: --numpy takes python:blocked|textbook:threads, got ${value}`);
  }
  return { python, formulation, threads: Number(threads) };
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
    else if (flag === '--calibration-images') options.calibrationImages = Number(value);
    else if (flag === '--numpy') options.numpy = parseNumpyConfig(value);
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
