import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServedPrediction } from './classify.js';
import { HttpError } from './http-error.js';
import type { ModelThread } from './model-thread.js';
import { sendJson } from './respond.js';
import { screenUploads, type ScreenedSkip } from './screen-uploads.js';
import type { SerialQueue } from './serial-queue.js';
import type { UploadLimits } from './upload-limits.js';
import { receiveUploads } from './uploads.js';

export interface PredictRouteContext {
  /** The model, in its worker thread. */
  model: ModelThread;
  queue: SerialQueue;
  /** The server's temp folder; each request gets its own folder inside, removed when it is answered. */
  tempRoot: string;
  limits: UploadLimits;
  /** Requests allowed to wait for the model before new ones get a 503. */
  maxWaiting: number;
}

/** Nothing left to predict: 413 when every file was over a size limit, else 400. */
function nothingToPredict(skipped: ScreenedSkip[]): HttpError {
  const list = skipped.map((s) => `${s.name}: ${s.reason}`);
  const overLimits = skipped.every((s) => s.limit);
  const summary = skipped.some((s) => s.limit) ? 'can be predicted' : 'is a readable image';
  const message = skipped.length === 1 ? list[0] : `none of the ${skipped.length} files ${summary} (${list.join('; ')})`;
  return new HttpError(overLimits ? 413 : 400, message, { predictions: [], skipped });
}

/**
 * POST /api/predict: saves the uploads in a temp folder (hashing them on the way), turns away non-images and
 * images over the pixel limits (from their headers), waits its turn in the queue, runs the bundle, answers
 * `{ predictions, skipped }`, and removes the folder.
 */
export async function handlePredict(ctx: PredictRouteContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<number | undefined> {
  if (ctx.queue.waiting >= ctx.maxWaiting) {
    throw new HttpError(503, `busy: ${ctx.queue.waiting} requests are already waiting for the model; try again shortly`, {}, { 'Retry-After': '5' });
  }
  let clientGone = false;
  res.on('close', () => {
    if (!res.writableFinished) clientGone = true;
  });
  const dir = await mkdtemp(join(ctx.tempRoot, 'request-'));
  let reply: { predictions: ServedPrediction[]; skipped: ScreenedSkip[] } | undefined;
  try {
    const accept = () => {
      if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
    };
    const uploads = await receiveUploads(req, url, { dir, maxBytes: ctx.limits.maxBytes, maxFiles: ctx.limits.maxFiles, accept });
    const screened = await screenUploads(uploads, ctx.limits);
    if (screened.images.length === 0) throw nothingToPredict(screened.skipped);
    const explain = ['1', 'true', 'yes'].includes(url.searchParams.get('explain') ?? '');
    const result = await ctx.queue.run(async () => (clientGone ? undefined : ctx.model.classify(screened.images, { explain })));
    if (!result) return undefined; // the client has gone: nothing to answer
    const skipped = [...screened.skipped, ...result.skipped];
    if (result.predictions.length === 0) throw nothingToPredict(skipped);
    reply = { predictions: result.predictions, skipped };
  } finally {
    // Removed before answering, so a client that has its answer knows its uploads are gone.
    await rm(dir, { recursive: true, force: true });
  }
  sendJson(res, 200, reply);
  return reply.predictions.length;
}
