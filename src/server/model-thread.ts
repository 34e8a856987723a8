import type { Worker } from 'node:worker_threads';
import type { IdentifiedImage } from '../dataset/identify.js';
import { LensembleError } from '../util/errors.js';
import type { ClassifyResult } from './classify.js';
import type { HeatmapSupport, ModelReply, ModelRequest, ModelWorkerConfig, SerializedError } from './model-protocol.js';
import { siblingModule, startModuleWorker } from '../util/worker-module.js';

/** The model running in a worker thread (see model-worker.ts). */
export interface ModelThread {
  classify(images: IdentifiedImage[], options?: { explain?: boolean }): Promise<ClassifyResult>;
  /** Which members make heatmaps (as the worker reported when it loaded the model). */
  heatmaps: HeatmapSupport;
  /** Stops the worker (a classification in progress is abandoned). */
  close(): Promise<void>;
}

interface Pending {
  resolve(result: ClassifyResult): void;
  reject(error: Error): void;
}

const asError = (e: SerializedError): Error => (e.name === 'LensembleError' || e.name === 'ImageReadError' ? new LensembleError(e.message) : new Error(e.message));

/** Starts a worker and waits until it has loaded the model: a bundle or backbone problem rejects here. */
function spawn(config: ModelWorkerConfig, pending: Map<number, Pending>, onExit: (worker: Worker) => void, onReady: (heatmaps: HeatmapSupport) => void): Promise<Worker> {
  const worker = startModuleWorker(siblingModule(import.meta.url, 'model-worker'), { workerData: config });
  return new Promise((resolve, reject) => {
    let ready = false;
    worker.on('message', (message: ModelReply) => {
      if (message.type === 'ready') {
        ready = true;
        onReady(message.heatmaps);
        resolve(worker);
      } else if (message.type === 'failed') {
        reject(asError(message.error));
        void worker.terminate();
      } else {
        const job = pending.get(message.id);
        pending.delete(message.id);
        if (message.type === 'result') job?.resolve(message.result);
        else job?.reject(asError(message.error));
      }
    });
    worker.on('error', (err) => {
      if (!ready) reject(err);
    });
    worker.on('exit', (code) => {
      if (!ready) reject(new Error(`the model worker exited with code ${code} while loading`));
      onExit(worker);
      for (const job of pending.values()) job.reject(new Error(`the model worker stopped (exit code ${code})`));
      pending.clear();
    });
  });
}

/**
 * Loads the model in a worker thread. Should the worker die (e.g. a native crash), the requests it held
 * fail and the next one starts a fresh worker.
 */
export async function startModelThread(config: ModelWorkerConfig): Promise<ModelThread> {
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let closed = false;
  let live: Worker | undefined;
  let starting: Promise<Worker> | undefined;
  let heatmaps: HeatmapSupport = { members: [], leftOut: [] };
  const onExit = (worker: Worker) => {
    if (live === worker) live = undefined;
  };
  const ensure = (): Promise<Worker> => {
    if (live) return Promise.resolve(live);
    starting ??= spawn(config, pending, onExit, (h) => (heatmaps = h)).then(
      (worker) => {
        starting = undefined;
        live = worker;
        return worker;
      },
      (err: unknown) => {
        starting = undefined;
        throw err;
      },
    );
    return starting;
  };
  await ensure();

  return {
    get heatmaps() {
      return heatmaps;
    },
    async classify(images, options = {}) {
      if (closed) throw new Error('the model is closed');
      const worker = await ensure();
      return new Promise<ClassifyResult>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        const request: ModelRequest = { id, images, explain: options.explain };
        worker.postMessage(request);
      });
    },
    async close() {
      closed = true;
      const worker = live ?? (await starting?.catch(() => undefined));
      live = undefined;
      await worker?.terminate();
    },
  };
}
