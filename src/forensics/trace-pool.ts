/**
 * EM traces for many images on a pool of worker threads (one image per worker at a time).
 * Works from the TypeScript sources (tsx, vitest) and from the compiled dist/ alike.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { siblingModule, startModuleWorker } from '../util/worker-module.js';
import type { RawImage } from '../images/raw-image.js';
import { LensembleError } from '../util/errors.js';
import { resolveTraceOptions, type ImageTrace, type TraceOptions } from './em-trace.js';
import type { TraceReply, TraceRequest } from './trace-worker.js';

export interface TracePool {
  readonly size: number;
  /**
   * The image's traces, computed in a worker. Its pixels travel as one copy; with
   * `transfer: true` an image whose data spans its whole ArrayBuffer is handed over instead
   * (no copy, and the caller's `image.data` is detached afterwards).
   */
  extract(image: RawImage, options?: Partial<TraceOptions>, transfer?: boolean): Promise<ImageTrace>;
  /** Waits for the queued images, then stops the workers. */
  close(): Promise<void>;
}

interface Task {
  request: TraceRequest;
  transferList: ArrayBuffer[];
  resolve(trace: ImageTrace): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  task?: Task;
}

/** The pixels as a buffer of their own, ready to transfer: one copy unless handing over is allowed. */
function transferablePixels(data: Uint8Array, handOver: boolean): Uint8Array {
  const wholeBuffer = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  if (handOver && wholeBuffer && data.buffer instanceof ArrayBuffer) return data;
  return data.slice();
}

/** The worker's error again, as a LensembleError when it was one (a message meant for the user). */
function replyError(error: { name: string; message: string }): Error {
  return error.name === 'LensembleError' ? new LensembleError(error.message) : new Error(error.message);
}

export function createTracePool(size: number = availableParallelism()): TracePool {
  if (!Number.isInteger(size) || size < 1) throw new LensembleError(`trace pool size must be a positive integer, got ${size}`);
  const slots: Slot[] = [];
  const queue: Task[] = [];
  let nextId = 0;
  let closing = false;
  let drained: (() => void) | undefined;

  const busy = () => slots.some((s) => s.task) || queue.length > 0;

  function settle(slot: Slot, reply: TraceReply): void {
    const task = slot.task;
    slot.task = undefined;
    if (!task) return;
    if ('error' in reply) task.reject(replyError(reply.error));
    else task.resolve({ features: reply.features, channels: reply.channels });
    dispatch();
  }

  function startWorker(): Slot {
    const worker = startModuleWorker(siblingModule(import.meta.url, 'trace-worker'));
    const slot: Slot = { worker };
    worker.on('message', (reply: TraceReply) => settle(slot, reply));
    const fail = (error: Error) => {
      slots.splice(slots.indexOf(slot), 1);
      slot.task?.reject(error);
      slot.task = undefined;
      dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (slots.includes(slot)) fail(new Error(`trace worker exited with code ${code}`));
    });
    slots.push(slot);
    return slot;
  }

  function dispatch(): void {
    while (queue.length > 0) {
      const slot = slots.find((s) => !s.task) ?? (slots.length < size ? startWorker() : undefined);
      if (!slot) break;
      const task = queue.shift()!;
      slot.task = task;
      slot.worker.ref();
      slot.worker.postMessage(task.request, task.transferList);
    }
    // Idle workers must not keep the process alive.
    for (const slot of slots) if (!slot.task) slot.worker.unref();
    if (!busy()) drained?.();
  }

  return {
    size,
    extract(image, options = {}, transfer = false) {
      if (closing) return Promise.reject(new LensembleError('the trace pool is closed'));
      try {
        resolveTraceOptions(options); // bad options fail here, not in a worker
      } catch (err) {
        return Promise.reject(err);
      }
      const data = transferablePixels(image.data, transfer);
      const request: TraceRequest = {
        id: nextId++,
        image: { data, width: image.width, height: image.height, channels: image.channels },
        options,
      };
      return new Promise<ImageTrace>((resolve, reject) => {
        queue.push({ request, transferList: [data.buffer as ArrayBuffer], resolve, reject });
        dispatch();
      });
    },
    async close() {
      closing = true;
      if (busy()) await new Promise<void>((resolve) => (drained = resolve));
      const workers = slots.splice(0).map((s) => s.worker);
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
