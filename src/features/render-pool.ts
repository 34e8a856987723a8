import { availableParallelism } from 'node:os';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import { errorMessage } from '../util/errors.js';
import { startWorkerCalls, type WorkerCalls } from '../util/worker-calls.js';
import { siblingModule } from '../util/worker-module.js';
import type { RenderReply, RenderRequest } from './render-protocol.js';

/** The outcome of rendering one image: its normalised views, or why it cannot be used. */
export type Rendered = { data: Float32Array } | { reason: string };

export interface RenderPool {
  readonly size: number;
  render(request: { path: string; contentHash: string; views: number[]; recipe: unknown; preprocess: PreprocessSpec }): Promise<Rendered>;
  close(): Promise<void>;
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
  const threads: WorkerCalls<Omit<RenderRequest, 'id'>, RenderReply>[] = [];
  return {
    size,
    async render(request) {
      if (size === 0) return { reason: 'no render threads (this pool has size 0)' };
      while (threads.length < size) threads.push(startWorkerCalls(siblingModule(import.meta.url, 'render-worker'), 'render thread stopped'));
      const idlest = threads.reduce((best, t) => (t.pending < best.pending ? t : best));
      try {
        const reply = await idlest.call(request);
        return 'data' in reply ? { data: reply.data } : { reason: reply.reason };
      } catch (err) {
        const at = threads.indexOf(idlest); // a dead thread is replaced on the next call
        if (at >= 0) threads.splice(at, 1);
        return { reason: errorMessage(err) };
      }
    },
    async close() {
      await Promise.all(threads.splice(0).map((t) => t.close()));
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
