import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { LensembleError, errorMessage } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';
import { poolOutput } from './pooling.js';
import type { TensorInfo } from './session-protocol.js';
import { startSessionThread, type SessionOutputs, type SessionThread } from './session-thread.js';

export type { SessionOutputs };
import type { ResolvedBackbone } from './resolve.js';
import type { BackboneSpec } from './spec.js';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  device?: Device;
  /** Cores shared out between the sessions' intra-op threads; default: all cores. */
  threads?: number;
  /** Sessions run side by side on different batches; default {@link defaultSessionCount}. */
  sessions?: number;
  /** Let ONNX Runtime's idle threads spin (faster alone, slower beside concurrent decoding); default off. */
  spinning?: boolean;
}

/** How a run treats the batch it is given. */
export interface RunOptions {
  /**
   * Hand the batch's whole buffer to the backbone instead of copying it (the array is detached on return).
   * Buffers from {@link BackboneSession.batchBuffer} go back to its pool for the next batch.
   */
  transfer?: boolean;
}

export interface BackboneSession {
  /** The spec with input/output names filled in from the model when they were not given. */
  spec: BackboneSpec;
  sha256: string;
  device: Device;
  /** Batches it can run at once (its sessions); callers keep this many in flight. */
  parallelism: number;
  /**
   * A zeroed-or-reused tensor of `length` floats to fill and run with `transfer`: recycling them saves a fresh
   * allocation (and its page faults) per batch, which costs more than normalising the images into it.
   */
  batchBuffer(length: number): Float32Array;
  /** Runs a batch of normalised NCHW images and returns one pooled feature row per image. */
  embed(batch: Float32Array, count: number, width: number, height: number, options?: RunOptions): Promise<Matrix>;
  /** All outputs of the model (e.g. `logits`, `feature_map`), for `run`. */
  outputNames: readonly string[];
  /** Runs a batch and returns the named outputs as they are. */
  run(batch: Float32Array, count: number, width: number, height: number, outputs: string[], options?: RunOptions): Promise<SessionOutputs>;
  close(): Promise<void>;
}

const FEATURE_OUTPUT_PREFERENCE = ['features', 'pooler_output', 'image_embeds', 'last_hidden_state', 'feature_map'];

function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

export function cudaProviderInstalled(): boolean {
  return existsSync(join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so'));
}

export const CUDA_HELP =
  'the CUDA execution provider is not installed in onnxruntime-node (it is skipped by default). On a Linux x64 machine ' +
  'with CUDA 12 and cuDNN 9, run: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js';

/**
 * Sessions side by side: $LENSEMBLE_SESSIONS, else 2 on the CPU (each with half the cores; on this project's
 * 2-core machine 2 × 1 thread runs MobileNetV2 1.2× faster than 1 × 2), 1 on a GPU.
 */
export function defaultSessionCount(device: Device, cores = availableParallelism()): number {
  const fromEnv = Number(process.env.LENSEMBLE_SESSIONS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return device === 'cuda' ? 1 : Math.min(2, cores);
}

/**
 * Opens a backbone as a small pool of ONNX Runtime sessions — full graph optimisation, CPU or CUDA —
 * each in a worker thread of its own, so inference never blocks the event loop (decoding, progress, a
 * server). On the CPU the cores are shared out between the sessions: several narrower sessions running
 * different batches beat one wide session, whose threads wait for each other at every operator and stall
 * whenever decoding takes a core (BENCHMARKS.md, "Feature extraction").
 */
export async function openBackbone(backbone: ResolvedBackbone, options: SessionOptions = {}): Promise<BackboneSession> {
  const device = options.device ?? 'cpu';
  if (device === 'cuda' && (process.platform !== 'linux' || !cudaProviderInstalled())) throw new LensembleError(CUDA_HELP);
  const cores = options.threads ?? availableParallelism();
  const count = Math.max(1, Math.min(options.sessions ?? defaultSessionCount(device, cores), cores));
  const threads = Math.max(1, Math.floor(cores / count));
  const spinning = options.spinning ?? process.env.LENSEMBLE_ORT_SPIN === '1';
  let pool: SessionThread[];
  try {
    const started = await Promise.allSettled(
      Array.from({ length: count }, () => startSessionThread({ modelPath: backbone.modelPath, device, threads, spinning }, backbone.spec.name)),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    pool = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failed) {
      await Promise.all(pool.map((t) => t.close()));
      throw failed.reason;
    }
  } catch (err) {
    const message = errorMessage(err);
    if (device === 'cuda') throw new LensembleError(`${CUDA_HELP} (${message})`);
    throw new LensembleError(`cannot load ONNX model (${message})`, backbone.modelPath);
  }
  let spec: BackboneSpec;
  try {
    spec = completeSpec(backbone.spec, pool[0], backbone.modelPath);
  } catch (err) {
    await Promise.all(pool.map((t) => t.close()));
    throw err;
  }

  // Buffers back from the workers, by length, for batchBuffer; at most a few of each length are kept.
  const spare = new Map<number, Float32Array[]>();
  const keepSpare = pool.length + 2;
  const run: BackboneSession['run'] = async (batch, count, width, height, outputs, options = {}) => {
    const length = count * 3 * width * height;
    if (batch.length < length) throw new LensembleError(`batch holds ${batch.length} values, ${count} images need ${length}`);
    const whole = batch.byteOffset === 0 && batch.byteLength === batch.buffer.byteLength;
    const data = options.transfer && whole ? batch : batch.slice(0, length);
    const idlest = pool.reduce((best, t) => (t.busy < best.busy ? t : best));
    const result = await idlest.run(spec.inputName, data, [count, 3, height, width], outputs);
    const list = spare.get(result.input.length) ?? [];
    if (list.length < keepSpare) spare.set(result.input.length, [...list, result.input]);
    return result.outputs;
  };

  return {
    spec,
    sha256: backbone.sha256,
    device,
    parallelism: pool.length,
    batchBuffer: (length) => spare.get(length)?.pop() ?? new Float32Array(length),
    outputNames: pool[0].outputs,
    run,
    async embed(batch, count, width, height, options) {
      const { [spec.featureOutput]: out } = await run(batch, count, width, height, [spec.featureOutput], options);
      return poolOutput(out.data, out.dims, spec.pooling);
    },
    async close() {
      await Promise.all(pool.map((t) => t.close()));
    },
  };
}

function completeSpec(spec: BackboneSpec, info: { inputs: TensorInfo[]; outputs: string[] }, path: string): BackboneSpec {
  const inputNames = info.inputs.map((i) => i.name);
  const inputName = spec.inputName || inputNames[0];
  const featureOutput = spec.featureOutput || FEATURE_OUTPUT_PREFERENCE.find((n) => info.outputs.includes(n)) || info.outputs[0];
  if (!inputNames.includes(inputName)) throw new LensembleError(`model has no input "${inputName}" (inputs: ${inputNames.join(', ')})`, path);
  if (!info.outputs.includes(featureOutput)) throw new LensembleError(`model has no output "${featureOutput}" (outputs: ${info.outputs.join(', ')})`, path);
  let fixedInputSize = spec.fixedInputSize;
  const shape = info.inputs.find((i) => i.name === inputName)?.shape ?? [];
  const [, , h, w] = shape;
  if (!fixedInputSize && typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0) fixedInputSize = [w, h];
  return { ...spec, inputName, featureOutput, fixedInputSize };
}

/** Open sessions kept for reuse by a long-lived process (a server), keyed by model file and device. */
export interface SessionCache {
  open(backbone: ResolvedBackbone, options?: SessionOptions): Promise<BackboneSession>;
  closeAll(): Promise<void>;
}

export function createSessionCache(): SessionCache {
  const sessions = new Map<string, Promise<BackboneSession>>();
  return {
    open(backbone, options = {}) {
      const key = `${backbone.modelPath}\u0000${backbone.sha256}\u0000${options.device ?? 'cpu'}\u0000${options.sessions ?? ''}\u0000${options.threads ?? ''}`;
      let session = sessions.get(key);
      if (!session) {
        // A server answers one request at a time: one session with every core gives it the lowest latency.
        session = openBackbone(backbone, { sessions: 1, ...options });
        session.catch(() => sessions.delete(key));
        sessions.set(key, session);
      }
      return session;
    },
    async closeAll() {
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.close()));
    },
  };
}
