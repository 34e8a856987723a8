import { LensembleError } from '../util/errors.js';
import { siblingModule, startModuleWorker } from '../util/worker-module.js';
import type { SessionOpenRequest, SessionReply, SessionRequest, TensorInfo } from './session-protocol.js';

export type SessionOutputs = Record<string, { data: Float32Array; dims: readonly number[] }>;

/** One ONNX Runtime session living in a worker thread of its own. */
export interface SessionThread {
  inputs: TensorInfo[];
  outputs: string[];
  /** Runs in flight on this thread (queued in its worker included). */
  readonly busy: number;
  /** Transfers `data` (a whole buffer) to the worker; the result brings it back as `input`. */
  run(inputName: string, data: Float32Array, dims: number[], outputs: string[]): Promise<{ outputs: SessionOutputs; input: Float32Array }>;
  close(): Promise<void>;
}

interface Pending {
  resolve(result: { outputs: SessionOutputs; input: Float32Array }): void;
  reject(error: Error): void;
}

/** Starts a worker and opens the model in it; rejects with the runtime's message when it cannot. */
export async function startSessionThread(open: Omit<SessionOpenRequest, 'type'>, modelName: string): Promise<SessionThread> {
  const worker = startModuleWorker(siblingModule(import.meta.url, 'session-worker'));
  const pending = new Map<number, Pending>();
  let opened: ((r: Extract<SessionReply, { type: 'opened' }>) => void) | undefined;
  let openFailed: ((e: Error) => void) | undefined;
  const failAll = (error: Error) => {
    openFailed?.(error);
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (message: SessionReply) => {
    if (message.type === 'opened') opened?.(message);
    else if (message.type === 'result') {
      pending.get(message.id)?.resolve(message);
      pending.delete(message.id);
    } else if (message.id === undefined) openFailed?.(new Error(message.message));
    else {
      pending.get(message.id)?.reject(new LensembleError(`backbone ${modelName} failed (${message.message})`, open.modelPath));
      pending.delete(message.id);
    }
    if (pending.size === 0) worker.unref(); // an idle session never keeps the process alive
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`the backbone worker stopped (exit code ${code})`)));

  let info: Extract<SessionReply, { type: 'opened' }>;
  try {
    info = await new Promise((resolve, reject) => {
      opened = resolve;
      openFailed = reject;
      worker.postMessage({ type: 'open', ...open } satisfies SessionRequest);
    });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  openFailed = undefined;
  let nextId = 0;
  return {
    inputs: info.inputs,
    outputs: info.outputs,
    get busy() {
      return pending.size;
    },
    run: (inputName, data, dims, outputs) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ type: 'run', id, inputName, data, dims, outputs } satisfies SessionRequest, [data.buffer as ArrayBuffer]);
      }),
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
