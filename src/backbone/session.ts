import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { LensembleError, errorMessage } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';
import { poolOutput } from './pooling.js';
import type { SessionReply, SessionRequest, TensorInfo } from './session-protocol.js';
import { siblingModule, startModuleWorker } from '../util/worker-module.js';
import type { ResolvedBackbone } from './resolve.js';
import type { BackboneSpec } from './spec.js';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; default: all cores. */
  threads?: number;
  /** Let ONNX Runtime's idle threads spin (faster alone, slower beside concurrent decoding); default off. */
  spinning?: boolean;
}

export interface BackboneSession {
  /** The spec with input/output names filled in from the model when they were not given. */
  spec: BackboneSpec;
  sha256: string;
  device: Device;
  /** Runs a batch of normalised NCHW images and returns one pooled feature row per image. */
  embed(batch: Float32Array, count: number, width: number, height: number): Promise<Matrix>;
  /** All outputs of the model (e.g. `logits`, `feature_map`), for `run`. */
  outputNames: readonly string[];
  /** Runs a batch and returns the named outputs as they are. */
  run(batch: Float32Array, count: number, width: number, height: number, outputs: string[]): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>>;
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

const CUDA_HELP =
  'the CUDA execution provider is not installed in onnxruntime-node (it is skipped by default). On a Linux x64 machine ' +
  'with CUDA 12 and cuDNN 9, run: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js';

interface Pending {
  resolve(outputs: Record<string, { data: Float32Array; dims: readonly number[] }>): void;
  reject(error: Error): void;
}

/**
 * Opens an ONNX Runtime session for a backbone — all cores, full graph optimisation, CPU or CUDA — in a
 * worker thread of its own, so inference never blocks the event loop (decoding, progress, a server).
 */
export async function openBackbone(backbone: ResolvedBackbone, options: SessionOptions = {}): Promise<BackboneSession> {
  const device = options.device ?? 'cpu';
  if (device === 'cuda' && (process.platform !== 'linux' || !cudaProviderInstalled())) throw new LensembleError(CUDA_HELP);
  const worker = startModuleWorker(siblingModule(import.meta.url, 'session-worker'));
  const pending = new Map<number, Pending>();
  let opened: ((r: Extract<SessionReply, { type: 'opened' }>) => void) | undefined;
  let openFailed: ((e: Error) => void) | undefined;
  const failAll = (error: Error) => {
    openFailed?.(error);
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (message: SessionReply) => {
    if (message.type === 'opened') opened?.(message);
    else if (message.type === 'result') {
      pending.get(message.id)?.resolve(message.outputs);
      pending.delete(message.id);
    } else if (message.id === undefined) openFailed?.(new Error(message.message));
    else {
      pending.get(message.id)?.reject(new LensembleError(`backbone ${backbone.spec.name} failed (${message.message})`, backbone.modelPath));
      pending.delete(message.id);
    }
    if (pending.size === 0) worker.unref(); // an idle session never keeps the process alive
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`the backbone worker stopped (exit code ${code})`)));

  let info: Extract<SessionReply, { type: 'opened' }>;
  try {
    info = await new Promise((resolve, reject) => {
      opened = resolve;
      openFailed = reject;
      worker.postMessage({ type: 'open', modelPath: backbone.modelPath, device, threads: options.threads ?? availableParallelism(), spinning: options.spinning ?? process.env.LENSEMBLE_ORT_SPIN === '1' } satisfies SessionRequest);
    });
  } catch (err) {
    await worker.terminate();
    const message = errorMessage(err);
    if (device === 'cuda') throw new LensembleError(`${CUDA_HELP} (${message})`);
    throw new LensembleError(`cannot load ONNX model (${message})`, backbone.modelPath);
  }
  openFailed = undefined;
  const spec = completeSpec(backbone.spec, info, backbone.modelPath);
  let nextId = 0;

  const run: BackboneSession['run'] = (batch, count, width, height, outputs) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.ref();
      const data = batch.slice(0, count * 3 * width * height);
      worker.postMessage({ type: 'run', id, inputName: spec.inputName, data, dims: [count, 3, height, width], outputs } satisfies SessionRequest, [data.buffer]);
    });

  return {
    spec,
    sha256: backbone.sha256,
    device,
    outputNames: info.outputs,
    run,
    async embed(batch, count, width, height) {
      const { [spec.featureOutput]: out } = await run(batch, count, width, height, [spec.featureOutput]);
      return poolOutput(out.data, out.dims, spec.pooling);
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
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
      const key = `${backbone.modelPath}\u0000${backbone.sha256}\u0000${options.device ?? 'cpu'}`;
      let session = sessions.get(key);
      if (!session) {
        session = openBackbone(backbone, options);
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
