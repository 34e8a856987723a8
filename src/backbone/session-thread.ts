import { LensembleError } from '../util/errors.js';
import { startWorkerCalls } from '../util/worker-calls.js';
import { siblingModule } from '../util/worker-module.js';
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

/** Starts a worker and opens the model in it; rejects with the runtime's message when it cannot. */
export async function startSessionThread(open: Omit<SessionOpenRequest, 'type'>, modelName: string): Promise<SessionThread> {
  const calls = startWorkerCalls<SessionRequest, SessionReply>(siblingModule(import.meta.url, 'session-worker'), 'the backbone worker stopped');
  let info: SessionReply;
  try {
    info = await calls.call({ type: 'open', ...open });
    if (info.type !== 'opened') throw new Error(info.type === 'error' ? info.message : `unexpected reply ${info.type}`);
  } catch (err) {
    await calls.close();
    throw err;
  }
  return {
    inputs: info.inputs,
    outputs: info.outputs,
    get busy() {
      return calls.pending;
    },
    async run(inputName, data, dims, outputs) {
      const reply = await calls.call({ type: 'run', inputName, data, dims, outputs }, [data.buffer as ArrayBuffer]);
      if (reply.type === 'result') return reply;
      const why = reply.type === 'error' ? reply.message : `unexpected reply ${reply.type}`;
      throw new LensembleError(`backbone ${modelName} failed (${why})`, open.modelPath);
    },
    close: () => calls.close(),
  };
}
