import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from './worker-module.js';

/** A worker thread answering requests by id: each call gets the reply that carries its id back. */
export interface WorkerCalls<Request, Reply> {
  /** Calls in flight. */
  readonly pending: number;
  /** Posts `{ id, ...request }`; resolves with the worker's reply, rejects if the worker dies first. */
  call(request: Request, transfer?: ArrayBuffer[]): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * Starts a worker module that replies `{ id, … }` to each `{ id, … }` it is sent. An idle worker never
 * keeps the process alive; a worker that errors or exits fails every call in flight with `whyStopped`.
 */
export function startWorkerCalls<Request extends object, Reply extends { id: number }>(moduleUrl: URL, whyStopped: string): WorkerCalls<Request, Reply> {
  const worker: Worker = startModuleWorker(moduleUrl);
  const pending = new Map<number, { resolve(reply: Reply): void; reject(error: Error): void }>();
  let nextId = 0;
  const failAll = (error: Error) => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    pending.get(reply.id)?.resolve(reply);
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
  });
  worker.on('error', (err) => failAll(new Error(`${whyStopped} (${err.message})`)));
  worker.on('exit', (code) => failAll(new Error(`${whyStopped} (exit code ${code})`)));
  worker.unref();
  return {
    get pending() {
      return pending.size;
    },
    call: (request, transfer = []) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ id, ...request }, transfer);
      }),
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
