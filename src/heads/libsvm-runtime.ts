import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LensembleError } from '../util/errors.js';

/**
 * Fresh, synchronous libsvm-js instances.
 *
 * Why not `import 'libsvm-js'`: its main entry resolves to a Promise (the wasm build compiles
 * asynchronously), so a synchronous `fit` cannot use it; `libsvm-js/asm` is synchronous but half as
 * fast. Both share one process-wide emscripten instance, and libsvm draws the folds of its Platt-scaling
 * cross-validation from C `rand()`, which is never reseeded: the second identical fit in a process gets
 * different probabilities. And the emscripten glue installs `process.on('unhandledRejection', () =>
 * process.exit(1))`, which would silently kill the CLI on any unrelated rejected promise.
 *
 * So every fit gets its own instance: the wasm binary is compiled once (synchronously — Node allows it),
 * and the glue is evaluated per instance with a synchronous `instantiateWasm` hook and a `process` that
 * ignores that handler. A fresh instance starts `rand()` from the same state, so fits are reproducible,
 * and its memory is garbage once the trained model has been copied out.
 */

export interface LibsvmTrainOptions {
  type: string;
  kernel: string;
  gamma: number;
  cost: number;
  tolerance: number;
  cacheSize: number;
  shrinking: boolean;
  probabilityEstimates: boolean;
  quiet: true;
}

export interface LibsvmProbability {
  prediction: number;
  estimates: { label: number; probability: number }[];
}

export interface LibsvmModel {
  train(samples: number[][], labels: number[]): void;
  serializeModel(): string;
  predictOneProbability(sample: number[]): LibsvmProbability;
  getLabels(): number[];
  /** Training-set indices (0-based) of the support vectors, in model order; trained models only. */
  getSVIndices(): number[];
  free(): void;
}

export interface Libsvm {
  new (options: LibsvmTrainOptions): LibsvmModel;
  load(serialized: string): LibsvmModel;
  readonly SVM_TYPES: { C_SVC: string };
  readonly KERNEL_TYPES: { LINEAR: string; RBF: string };
}

export type LibsvmBuild = 'wasm' | 'asm';

interface MinimalWasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: unknown) => { exports: unknown };
}

type EmscriptenFactory = (options: Record<string, unknown>) => unknown;

const requireCjs = createRequire(import.meta.url);
const GLUE_TAIL = 'module.exports = SVM(Module);';
const factories = new Map<LibsvmBuild, { glue: string; dir: string }>();
let compiledWasm: object | undefined;

function packageDir(): string {
  return dirname(requireCjs.resolve('libsvm-js/package.json'));
}

/** The glue source with its last line (which would start the package's own shared instance) replaced. */
function glueSource(build: LibsvmBuild): { glue: string; dir: string } {
  let entry = factories.get(build);
  if (!entry) {
    const dir = join(packageDir(), 'out', build);
    const text = readFileSync(join(dir, 'libsvm.js'), 'utf8').trimEnd();
    if (!text.endsWith(GLUE_TAIL)) {
      throw new LensembleError(`libsvm-js: unexpected layout of ${join(dir, 'libsvm.js')} (is libsvm-js still 0.2.x?)`);
    }
    entry = { glue: text.slice(0, -GLUE_TAIL.length) + 'module.exports = SVM;', dir };
    factories.set(build, entry);
  }
  return entry;
}

const processWithoutExitOnRejection: NodeJS.Process = new Proxy(process, {
  get(target, prop) {
    if (prop === 'on') {
      return (event: string, listener: (...args: unknown[]) => void) =>
        event === 'unhandledRejection' ? processWithoutExitOnRejection : target.on(event, listener);
    }
    const value = Reflect.get(target, prop, target);
    return typeof value === 'function' ? value.bind(target) : value;
  },
});

function evaluateGlue(build: LibsvmBuild): EmscriptenFactory {
  const { glue, dir } = glueSource(build);
  const module = { exports: {} as unknown };
  const run = new Function('module', 'exports', 'require', '__dirname', '__filename', 'process', glue);
  run(module, module.exports, requireCjs, dir, join(dir, 'libsvm.js'), processWithoutExitOnRejection);
  return module.exports as EmscriptenFactory;
}

function wasmModule(): object {
  if (!compiledWasm) {
    const wasm = (globalThis as unknown as { WebAssembly: MinimalWasm }).WebAssembly;
    compiledWasm = new wasm.Module(readFileSync(join(glueSource('wasm').dir, 'libsvm.wasm')));
  }
  return compiledWasm;
}

/** A new libsvm-js `SVM` class backed by its own emscripten instance (own heap, own `rand()` state). */
export function createLibsvm(build: LibsvmBuild = 'wasm'): Libsvm {
  const factory = evaluateGlue(build);
  let ready = false;
  const options: Record<string, unknown> = {
    print: () => {},
    printErr: () => {},
    onRuntimeInitialized: () => {
      ready = true;
    },
  };
  if (build === 'wasm') {
    const compiled = wasmModule();
    options.instantiateWasm = (imports: unknown, receive: (instance: unknown, module: unknown) => void) => {
      const wasm = (globalThis as unknown as { WebAssembly: MinimalWasm }).WebAssembly;
      const instance = new wasm.Instance(compiled, imports);
      receive(instance, compiled);
      return instance.exports;
    };
  }
  const instance = factory(options);
  if (!ready) throw new LensembleError(`libsvm-js: the ${build} build did not initialise synchronously`);
  const loadSVM = requireCjs('libsvm-js/src/loadSVM.js') as (lib: unknown) => Libsvm;
  return loadSVM(instance);
}
