import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance by `n` items (default 1), optionally updating the trailing note (e.g. loss). */
  tick(n?: number, note?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Unit shown in the rate, e.g. 'img' or 'epoch'. */
  unit?: string;
  /** Defaults to: stderr is a terminal and LENSEMBLE_QUIET is unset. */
  enabled?: boolean;
}

const silent: Progress = { tick: () => {}, stop: () => {} };

export function progressEnabledByDefault(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.LENSEMBLE_QUIET;
}

/** A progress bar on stderr with items/s and ETA; a no-op when output is not a terminal. */
export function createProgress(label: string, total: number, options: ProgressOptions = {}): Progress {
  if (!(options.enabled ?? progressEnabledByDefault()) || total <= 0) return silent;
  const unit = options.unit ?? 'img';
  const started = performance.now();
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(18)} {bar} {value}/{total} | {rate} ${unit}/s | ETA {eta_formatted} {note}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: '0.0', note: '' });
  let done = 0;
  return {
    tick(n = 1, note) {
      done += n;
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, { rate: (done / Math.max(seconds, 1e-6)).toFixed(1), note: note ?? '' });
    },
    stop() {
      bar.stop();
    },
  };
}
