import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { LensembleError, errorMessage } from '../util/errors.js';
import type { Matrix } from '../util/matrix.js';
import { poolOutput } from './pooling.js';
import type { ResolvedBackbone } from './resolve.js';
import type { BackboneSpec } from './spec.js';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; default: all cores. */
  threads?: number;
}

export interface BackboneSession {
  /** The spec with input/output names filled in from the model when they were not given. */
  spec: BackboneSpec;
  sha256: string;
  device: Device;
  /** Runs a batch of normalised NCHW images and returns one pooled feature row per image. */
  embed(batch: Float32Array, count: number, width: number, height: number): Promise<Matrix>;
  /** Raw logits when the model has an output named `logits` or `output` (for sanity checks). */
  outputNames: readonly string[];
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

/** Opens an ONNX Runtime session for a backbone: all cores, full graph optimisation, CPU or CUDA. */
export async function openBackbone(backbone: ResolvedBackbone, options: SessionOptions = {}): Promise<BackboneSession> {
  const device = options.device ?? 'cpu';
  if (device === 'cuda' && (process.platform !== 'linux' || !cudaProviderInstalled())) throw new LensembleError(CUDA_HELP);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(backbone.modelPath, {
      executionProviders: device === 'cuda' ? [{ name: 'cuda' }, 'cpu'] : ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (err) {
    const message = errorMessage(err);
    if (device === 'cuda') throw new LensembleError(`${CUDA_HELP} (${message})`);
    throw new LensembleError(`cannot load ONNX model (${message})`, backbone.modelPath);
  }
  const spec = completeSpec(backbone.spec, session, backbone.modelPath);

  const run: BackboneSession['run'] = async (batch, count, width, height, outputs) => {
    const input = new ort.Tensor('float32', batch.subarray(0, count * 3 * width * height), [count, 3, height, width]);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run({ [spec.inputName]: input }, outputs);
    } catch (err) {
      throw new LensembleError(`backbone ${spec.name} failed on a ${width}×${height} batch of ${count} (${errorMessage(err)})`, backbone.modelPath);
    }
    const out: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const name of outputs) {
      const t = results[name];
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    }
    return out;
  };

  return {
    spec,
    sha256: backbone.sha256,
    device,
    outputNames: session.outputNames,
    run,
    async embed(batch, count, width, height) {
      const { [spec.featureOutput]: out } = await run(batch, count, width, height, [spec.featureOutput]);
      return poolOutput(out.data, out.dims, spec.pooling);
    },
    close: () => session.release(),
  };
}

function completeSpec(spec: BackboneSpec, session: ort.InferenceSession, path: string): BackboneSpec {
  const inputName = spec.inputName || session.inputNames[0];
  const featureOutput = spec.featureOutput || FEATURE_OUTPUT_PREFERENCE.find((n) => session.outputNames.includes(n)) || session.outputNames[0];
  if (!session.inputNames.includes(inputName)) {
    throw new LensembleError(`model has no input "${inputName}" (inputs: ${session.inputNames.join(', ')})`, path);
  }
  if (!session.outputNames.includes(featureOutput)) {
    throw new LensembleError(`model has no output "${featureOutput}" (outputs: ${session.outputNames.join(', ')})`, path);
  }
  const meta = session.inputMetadata.find((m) => m.name === inputName);
  let fixedInputSize = spec.fixedInputSize;
  if (!fixedInputSize && meta && meta.isTensor) {
    const [, , h, w] = meta.shape;
    if (typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0) fixedInputSize = [w, h];
  }
  return { ...spec, inputName, featureOutput, fixedInputSize };
}
