// Owns one ONNX Runtime session. onnxruntime-node's `run` blocks the calling thread for the whole
// inference, so it lives here: the main thread keeps decoding the next batch meanwhile.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { SessionReply, SessionRequestWithId } from './session-protocol.js';

let session: ort.InferenceSession | undefined;
const reply = (message: SessionReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer);
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

parentPort!.on('message', async (request: SessionRequestWithId) => {
  if (request.type === 'open') {
    try {
      session = await ort.InferenceSession.create(request.modelPath, {
        executionProviders: request.device === 'cuda' ? [{ name: 'cuda' }, 'cpu'] : ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: request.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        logSeverityLevel: 3,
        // Spinning intra-op threads would steal the cores that decode the next batch meanwhile.
        extra: { session: { intra_op: { allow_spinning: request.spinning ? '1' : '0' } } },
      });
      reply({
        type: 'opened',
        id: request.id,
        inputs: session.inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? [...m.shape] : [] })),
        outputs: [...session.outputNames],
      });
    } catch (err) {
      reply({ type: 'error', id: request.id, message: messageOf(err) });
    }
    return;
  }
  try {
    const length = request.dims.reduce((a, b) => a * b, 1);
    const input = new ort.Tensor('float32', request.data.subarray(0, length), request.dims);
    const results = await session!.run({ [request.inputName]: input }, request.outputs);
    const outputs: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const name of request.outputs) outputs[name] = { data: results[name].data as Float32Array, dims: [...results[name].dims] };
    const transfer = [...Object.values(outputs).map((o) => o.data.buffer as ArrayBuffer), request.data.buffer as ArrayBuffer];
    reply({ type: 'result', id: request.id, outputs, input: request.data }, transfer);
  } catch (err) {
    reply({ type: 'error', id: request.id, message: messageOf(err) });
  }
});
