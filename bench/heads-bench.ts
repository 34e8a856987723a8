import { pathToFileURL } from 'node:url';
import { type BackendName, createBackend } from '../src/heads/dense-backend.js';
import { wasmSimdAvailable } from '../src/heads/dense-wasm.js';
import { createLinearHead } from '../src/heads/linear.js';
import { createMlpHead, MLP_HEAD_DEFAULTS } from '../src/heads/mlp.js';
import type { NeuralFitReport, NeuralHead } from '../src/heads/neural-head.js';
import type { Matrix } from '../src/util/matrix.js';
import { createRng } from '../src/util/rng.js';

export interface HeadsBenchOptions {
  /** Rows of the "one view per image" problem (default 3,296: the rice-leaf set). */
  rows?: number;
  /** Rows of the "five augmented views" problem for the MLP (default 16,480); 0 skips it. */
  bigRows?: number;
  features?: number;
  classes?: number;
  /** Epochs for the MLP fits (default: the head's default). */
  mlpEpochs?: number;
  mlpHidden?: number[];
  /** Seconds each matmul shape is repeated for. */
  matmulSeconds?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface MatmulResult {
  name: string;
  backend: string;
  m: number;
  n: number;
  k: number;
  /** Over wall-clock time. */
  gflops: number;
  /** Over this process's CPU time: steadier than wall time on a shared machine. */
  gflopsCpu: number;
}

export interface FitTiming {
  head: string;
  rows: number;
  epochs: number;
  /** Wall-clock seconds of fit, lr_find included. */
  fitSeconds: number;
  /** CPU seconds of this process over the fit: steadier than wall time on a shared machine. */
  fitCpuSeconds: number;
  lr: number;
  lrFound: boolean;
  accuracy: number;
}

export interface HeadsBenchResult {
  matmul: MatmulResult[];
  linear: FitTiming;
  mlp: FitTiming[];
}

/**
 * Features shaped like pooled CNN activations: non-negative, class means that differ a little in
 * every dimension, and noise larger than the differences (so the heads have something to learn).
 */
function syntheticFeatures(rows: number, cols: number, classes: number, seed: number, noiseSeed = seed + 1): { X: Matrix; y: Int32Array } {
  const rng = createRng(seed);
  const base = Float32Array.from({ length: cols }, () => Math.abs(rng.normal()) * 0.5);
  const means = Array.from({ length: classes }, () => Float32Array.from(base, (b) => b + 0.04 * rng.normal()));
  const X: Matrix = { rows, cols, data: new Float32Array(rows * cols) };
  const y = new Int32Array(rows);
  const noiseRng = createRng(noiseSeed);
  for (let i = 0; i < rows; i++) {
    y[i] = noiseRng.int(classes);
    const mean = means[y[i]];
    for (let j = 0; j < cols; j++) X.data[i * cols + j] = Math.max(0, mean[j] + 0.5 * noiseRng.normal());
  }
  return { X, y };
}

function timeMatmul(name: string, backendName: BackendName, m: number, n: number, k: number, transposedA: boolean, seconds: number): MatmulResult {
  const backend = createBackend(backendName, [m * k, k * n, m * n]);
  const a = backend.alloc(m * k);
  const b = backend.alloc(k * n);
  const c = backend.alloc(m * n);
  const rng = createRng(m + n + k);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  for (let i = 0; i < b.length; i++) b[i] = rng.normal();
  const [aRow, aCol] = transposedA ? [1, m] : [k, 1];
  const run = (): void => backend.gemm(m, n, k, a, aRow, aCol, b, n, c, n);
  for (let i = 0; i < 3; i++) run();
  let reps = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    run();
    reps++;
  }
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const flops = 2 * m * n * k * reps;
  return { name, backend: backend.name, m, n, k, gflops: flops / elapsed / 1e9, gflopsCpu: flops / ((used.user + used.system) / 1e6) / 1e9 };
}

function timeFit(make: () => NeuralHead, train: { X: Matrix; y: Int32Array }, test: { X: Matrix; y: Int32Array }): FitTiming {
  const head = make();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const report: NeuralFitReport = head.fit(train.X, train.y);
  const fitSeconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const predicted = head.predict(test.X);
  let correct = 0;
  for (let i = 0; i < test.y.length; i++) if (predicted[i] === test.y[i]) correct++;
  return {
    head: head.kind + (head.options.hidden.length ? ` [${head.options.hidden.join(', ')}]` : ''),
    rows: train.X.rows,
    epochs: report.epochs.length,
    fitSeconds,
    fitCpuSeconds: (used.user + used.system) / 1e6,
    lr: report.lr,
    lrFound: report.lrFind !== null,
    accuracy: correct / test.y.length,
  };
}

export function runHeadsBench(options: HeadsBenchOptions = {}): HeadsBenchResult {
  const rows = options.rows ?? 3296;
  const bigRows = options.bigRows ?? 16480;
  const features = options.features ?? 1280;
  const classes = options.classes ?? 4;
  const seed = options.seed ?? 1;
  const hidden = options.mlpHidden ?? MLP_HEAD_DEFAULTS.hidden;
  const matmulSeconds = options.matmulSeconds ?? 0.5;
  const log = options.log ?? (() => {});

  const matmul: MatmulResult[] = [];
  const shapes: [string, number, number, number, boolean][] = [
    ['forward X·W (batch 64, 1280 → 512)', 64, 512, 1280, false],
    ['weight grad Xᵀ·D (1280 × 512 over 64 rows)', 1280, 512, 64, true],
    ['linear forward X·W (batch 64, 1280 → 4)', 64, 4, 1280, false],
  ];
  const backends: BackendName[] = wasmSimdAvailable() ? ['wasm-simd', 'js-f32'] : ['js-f32'];
  for (const backend of backends) {
    for (const [name, m, n, k, transposed] of shapes) {
      const r = timeMatmul(name, backend, m, n, k, transposed, matmulSeconds);
      matmul.push(r);
      log(`matmul ${r.backend.padEnd(9)} ${name}: ${r.gflops.toFixed(1)} GFLOP/s (${r.gflopsCpu.toFixed(1)} per CPU second)`);
    }
  }

  const train = syntheticFeatures(rows, features, classes, seed);
  const test = syntheticFeatures(1000, features, classes, seed, seed + 2); // same class means, fresh rows
  const describe = (t: FitTiming): string =>
    `${t.head} on ${t.rows} × ${features}, ${classes} classes, ${t.epochs} epochs: fit ${t.fitSeconds.toFixed(2)} s ` +
    `(CPU ${t.fitCpuSeconds.toFixed(2)} s), lr ${t.lr.toExponential(2)}${t.lrFound ? ' from lr_find' : ''}, test accuracy ${t.accuracy.toFixed(3)}`;

  const linear = timeFit(() => createLinearHead(classes, { seed }), train, test);
  log(describe(linear));

  const mlp: FitTiming[] = [];
  const mlpOptions = { seed, hidden, ...(options.mlpEpochs ? { epochs: options.mlpEpochs } : {}) };
  mlp.push(timeFit(() => createMlpHead(classes, mlpOptions), train, test));
  log(describe(mlp[0]));
  if (bigRows > 0) {
    const big = syntheticFeatures(bigRows, features, classes, seed);
    mlp.push(timeFit(() => createMlpHead(classes, mlpOptions), big, test));
    log(describe(mlp[1]));
  }
  return { matmul, linear, mlp };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const number = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));
  runHeadsBench({
    bigRows: number('big-rows'),
    mlpEpochs: number('mlp-epochs'),
    mlpHidden: arg('hidden')?.split(',').map(Number),
    log: (line) => console.log(line),
  });
}
