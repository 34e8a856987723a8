/**
 * The model's own thread: loads the bundle (checking and opening its backbones), then classifies the images it
 * is sent. onnxruntime-node runs a session synchronously on the calling thread, so inference lives here, keeping
 * the HTTP thread free to accept uploads and answer /healthz while a model runs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel, type Model } from '../bundle/load-model.js';
import { heatmapSupport } from '../explain/explain-images.js';
import { classifyImages } from './classify.js';
import { serializeError, type ModelReply, type ModelRequest, type ModelWorkerConfig } from './model-protocol.js';

const port = parentPort!;
const config = workerData as ModelWorkerConfig;
const reply = (message: ModelReply) => port.postMessage(message);

// The model (and its backbone sessions) stays loaded for the life of the worker: a request costs inference only.
let model: Model | undefined;
try {
  model = await loadModel(config.model, { device: config.device, cacheDir: config.cacheDir, batchSize: config.batchSize, memoryCacheRows: config.memoryCacheRows, progress: false, openNow: true });
  reply({ type: 'ready', heatmaps: heatmapSupport(model.ensemble.members) });
} catch (err) {
  reply({ type: 'failed', error: serializeError(err) });
}

if (model) {
  const loaded = model;
  port.on('message', (request: ModelRequest) => {
    classifyImages(loaded, request.images, { tta: config.tta, explain: request.explain }).then(
      (result) => reply({ type: 'result', id: request.id, result }),
      (err: unknown) => reply({ type: 'error', id: request.id, error: serializeError(err) }),
    );
  });
}
