// Reads, decodes and renders the views of images off the main thread, normalised and ready to batch.
import { parentPort } from 'node:worker_threads';
import { canonicalReason, readImageBytes } from '../images/decode.js';
import { writeNormalizedChw } from '../images/preprocess.js';
import type { RenderReply, RenderRequest } from './render-protocol.js';
import { recipeFromKey, renderViews } from './recipes.js';

parentPort!.on('message', async (request: RenderRequest) => {
  let reply: RenderReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const recipe = recipeFromKey(request.recipe);
    if (!recipe) throw new Error('this recipe cannot be rebuilt in a worker');
    const { preprocess, views } = request;
    const bytes = await readImageBytes(request.path);
    const images = await renderViews(recipe, bytes, request, views, preprocess);
    const pixels = 3 * preprocess.width * preprocess.height;
    const data = new Float32Array(views.length * pixels);
    images.forEach((image, k) => writeNormalizedChw(image, preprocess, data, k * pixels));
    reply = { id: request.id, data };
    transfer.push(data.buffer);
  } catch (err) {
    reply = { id: request.id, reason: await canonicalReason(request.path, err) };
  }
  parentPort!.postMessage(reply, transfer);
});
