import * as ort from 'onnxruntime-node';
import { LensembleError, errorMessage } from '../util/errors.js';
import type { ExportMetadata } from './ensemble-onnx.js';

/** Runs the exported model with onnxruntime-node (from its bytes) on pixels given per input name, → probabilities. */
export async function runExportedModel(bytes: Uint8Array, metadata: ExportMetadata, pixels: Record<string, Uint8Array>, count: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  try {
    const feeds = Object.fromEntries(metadata.inputs.map((i) => [i.name, new ort.Tensor('uint8', pixels[i.name], [count, i.height, i.width, 3])]));
    const out = await session.run(feeds);
    return out[metadata.output].data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * Loads the exported model in ONNX Runtime and runs it on a grey image: it must give one probability row per
 * image that sums to 1. A graph that ONNX Runtime rejects fails here, at export, rather than in a browser.
 */
export async function checkExportedModel(bytes: Uint8Array, metadata: ExportMetadata): Promise<void> {
  let probabilities: Float32Array;
  try {
    const grey = Object.fromEntries(metadata.inputs.map((i) => [i.name, new Uint8Array(i.width * i.height * 3).fill(128)]));
    probabilities = await runExportedModel(bytes, metadata, grey, 1);
  } catch (err) {
    throw new LensembleError(`the exported model does not run in ONNX Runtime (${errorMessage(err).split('\n')[0]})`);
  }
  const sum = probabilities.reduce((a, b) => a + b, 0);
  if (probabilities.length !== metadata.labels.length || !(Math.abs(sum - 1) < 1e-3)) {
    throw new LensembleError(`the exported model gives ${probabilities.length} values summing to ${sum}, not ${metadata.labels.length} probabilities`);
  }
}
