/**
 * Runs jobs one at a time, in arrival order: inference holds a backbone session and feature buffers, so
 * concurrent requests wait their turn instead of multiplying memory.
 */
export interface SerialQueue {
  /** Runs `job` after every job queued before it; its result or error is the caller's. */
  run<T>(job: () => Promise<T>): Promise<T>;
  /** Jobs waiting (not counting the one running). */
  readonly waiting: number;
  readonly running: boolean;
  /** The most jobs ever running at once (always ≤ 1; for tests and diagnostics). */
  readonly peakRunning: number;
  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void>;
}

export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  let running = 0;
  let peakRunning = 0;
  return {
    run<T>(job: () => Promise<T>): Promise<T> {
      waiting++;
      const result = tail.then(async () => {
        waiting--;
        running++;
        peakRunning = Math.max(peakRunning, running);
        try {
          return await job();
        } finally {
          running--;
        }
      });
      tail = result.catch(() => undefined);
      return result;
    },
    get waiting() {
      return waiting;
    },
    get running() {
      return running > 0;
    },
    get peakRunning() {
      return peakRunning;
    },
    async idle() {
      while (running > 0 || waiting > 0) await tail;
    },
  };
}
