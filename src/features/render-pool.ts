import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import { siblingModule, startModuleWorker } from '../util/worker-module.js';
import type { RenderReply, RenderRequest } from './render-protocol.js';

/** The outcome of rendering one image: its normalised views, or why it cannot be used. */
export type Rendered = { data: Float32Array } | { reason: string };

export interface RenderPool {
  readonly size: number;
  render(request: { path: string; contentHash: string; views: number[]; recipe: unknown; preprocess: PreprocessSpec }): Promise<Rendered>;
  close(): Promise<void>;
}

interface Thread {
  worker: Worker;
  pending: Map<number, (reply: Rendered) => void>;
}

/**
 * Render threads: $LENSEMBLE_RENDER_THREADS, else none below 8 cores on the CPU — the main thread decodes, and
 * on this project's 2-core machine one render thread instead was slower (extraction ratio 0.63 against 0.72:
 * the hand-off costs more than it frees) — and a quarter of the cores from 8 up, where one thread could no
 * longer keep the sessions fed. With a GPU running the backbone the cores are free: all but one decode.
 */
export function defaultRenderThreads(device: 'cpu' | 'cuda' = 'cpu', cores = availableParallelism()): number {
  const fromEnv = Number(process.env.LENSEMBLE_RENDER_THREADS);
  if (process.env.LENSEMBLE_RENDER_THREADS && Number.isInteger(fromEnv) && fromEnv >= 0) return fromEnv;
  const threads = device === 'cuda' ? cores - 1 : Math.floor(cores / 4);
  return threads >= 2 ? threads : 0;
}

/**
 * Worker threads that read, decode and render images into normalised views: the main thread only batches,
 * so decoding scales with cores instead of being capped at one. Idle threads never keep the process alive.
 */
export function createRenderPool(size: number = defaultRenderThreads()): RenderPool {
  if (!Number.isInteger(size) || size < 0) throw new Error(`render thread count must be a whole number, got ${size}`);
  const threads: Thread[] = [];
  let nextId = 0;
  const start = (): Thread => {
    const worker = startModuleWorker(siblingModule(import.meta.url, 'render-worker'));
    const thread: Thread = { worker, pending: new Map() };
    const failAll = (reason: string) => {
      for (const resolve of thread.pending.values()) resolve({ reason });
      thread.pending.clear();
      threads.splice(threads.indexOf(thread), 1);
    };
    worker.on('message', (reply: RenderReply) => {
      const resolve = thread.pending.get(reply.id);
      thread.pending.delete(reply.id);
      resolve?.('data' in reply ? { data: reply.data } : { reason: reply.reason });
      if (thread.pending.size === 0) worker.unref();
    });
    worker.on('error', (err) => failAll(`render thread failed (${err.message})`));
    worker.on('exit', (code) => failAll(`render thread stopped (exit code ${code})`));
    worker.unref();
    return thread;
  };
  return {
    size,
    render(request) {
      if (size === 0) return Promise.resolve({ reason: 'no render threads (this pool has size 0)' });
      while (threads.length < size) threads.push(start());
      const thread = threads.reduce((best, t) => (t.pending.size < best.pending.size ? t : best));
      const id = nextId++;
      return new Promise((resolve) => {
        thread.pending.set(id, resolve);
        thread.worker.ref();
        thread.worker.postMessage({ id, ...request } satisfies RenderRequest);
      });
    },
    async close() {
      const all = threads.splice(0);
      await Promise.all(all.map((t) => (t.worker.removeAllListeners('exit'), t.worker.terminate())));
    },
  };
}

const shared = new Map<string, RenderPool>();

/** One pool per process and device kind, started on first use, shared by every extraction. */
export function sharedRenderPool(device: 'cpu' | 'cuda' = 'cpu'): RenderPool {
  let pool = shared.get(device);
  if (!pool) shared.set(device, (pool = createRenderPool(defaultRenderThreads(device))));
  return pool;
}
