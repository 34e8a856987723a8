/** Tracks the peak resident set size while a stage runs (sampled, plus explicit samples at stage ends). */
export interface PeakMemory {
  sample(): void;
  /** Peak RSS in bytes since start (or the last reset). */
  peak(): number;
  reset(): void;
  stop(): void;
}

export function trackPeakMemory(intervalMs = 50): PeakMemory {
  let peak = process.memoryUsage.rss();
  const sample = (): void => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
  };
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    sample,
    peak: () => {
      sample();
      return peak;
    },
    reset: () => {
      peak = process.memoryUsage.rss();
    },
    stop: () => clearInterval(timer),
  };
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GB`;
  return `${Math.round(bytes / (1 << 20))} MB`;
}
