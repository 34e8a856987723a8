// Taken when the CLI loads, so a launcher that dies while the model is still loading is noticed too.
const launcher = process.ppid;

/** Why a long-running command (`lensemble serve`) was asked to stop. */
export type StopReason = NodeJS.Signals | 'launcher exited';

export interface StopRequestOptions {
  /** Also stop when the process that started this one exits (see `launchedByNpm`). */
  watchParent: boolean;
  /** Called on a second SIGINT/SIGTERM, after the first started a graceful stop. */
  onSecondSignal: () => void;
  /** How often the parent is checked (default 250 ms). */
  pollMs?: number;
}

/**
 * Under `npx …` or `npm run …`, npm starts the command through `sh -c` and forwards SIGTERM only to that
 * shell, which dies without passing it on: the server would outlive npm, still holding its port. npm sets
 * `npm_lifecycle_event` for both.
 */
export function launchedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.npm_lifecycle_event);
}

/**
 * Resolves on the first SIGINT or SIGTERM, or — with `watchParent` — once the parent process has exited (this
 * process is then re-parented, so `process.ppid` changes; Node has no parent-death signal). Not watched
 * outside npm: `nohup lensemble serve &` must outlive its shell.
 */
export function untilStopRequested(options: StopRequestOptions): Promise<StopReason> {
  return new Promise((resolve) => {
    let watch: NodeJS.Timeout | undefined;
    const stop = (reason: StopReason) => {
      clearInterval(watch);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.once('SIGINT', options.onSecondSignal);
      process.once('SIGTERM', options.onSecondSignal);
      resolve(reason);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (options.watchParent) {
      watch = setInterval(() => {
        if (process.ppid !== launcher) stop('launcher exited');
      }, options.pollMs ?? 250);
      watch.unref();
    }
  });
}
