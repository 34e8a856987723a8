/** Worker thread body for trace-pool.ts: extracts EM traces for the images it is sent. */
import { parentPort } from 'node:worker_threads';
import type { RawImage } from '../images/raw-image.js';
import { extractTraces, type ChannelTrace, type TraceOptions } from './em-trace.js';

export interface TraceRequest {
  id: number;
  image: RawImage;
  options: Partial<TraceOptions>;
}

export type TraceReply =
  | { id: number; features: Float32Array; channels: ChannelTrace[] }
  | { id: number; error: { name: string; message: string } };

const port = parentPort;
if (!port) throw new Error('trace-worker.ts must run in a worker thread (see trace-pool.ts)');

port.on('message', (request: TraceRequest) => {
  let reply: TraceReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const trace = extractTraces(request.image, request.options);
    reply = { id: request.id, features: trace.features, channels: trace.channels };
    transfer = [trace.features.buffer as ArrayBuffer, ...trace.channels.map((c) => c.kernel.buffer as ArrayBuffer)];
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply = { id: request.id, error: { name: e.name, message: e.message } };
  }
  port.postMessage(reply, transfer);
});
