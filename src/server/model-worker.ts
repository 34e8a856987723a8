/**
 * The model's own thread: loads the bundle (checking its backbones), then classifies the images it is sent.
 * onnxruntime-node runs a session synchronously on the calling thread, so inference lives here, keeping the
 * HTTP thread free to accept uploads and answer /healthz while a model runs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createSessionCache } from '../backbone/session.js';
import type { LoadedBundle } from '../bundle/bundle.js';
import { classifyImages } from './classify.js';
import { loadServedModel } from './load-model.js';
import { serializeError, type ModelReply, type ModelRequest, type ModelWorkerConfig } from './model-protocol.js';

const port = parentPort!;
const config = workerData as ModelWorkerConfig;
const reply = (message: ModelReply) => port.postMessage(message);

// Sessions stay open for the life of the worker: a request then costs inference only.
const sessions = createSessionCache();
let bundle: LoadedBundle | undefined;
try {
  bundle = await loadServedModel(config.model, { device: config.device, cacheDir: config.cacheDir, sessions });
  reply({ type: 'ready' });
} catch (err) {
  reply({ type: 'failed', error: serializeError(err) });
}

if (bundle) {
  const loaded = bundle;
  port.on('message', (request: ModelRequest) => {
    classifyImages(loaded, request.images, { ...config, sessions }).then(
      (result) => reply({ type: 'result', id: request.id, result }),
      (err: unknown) => reply({ type: 'error', id: request.id, error: serializeError(err) }),
    );
  });
}
