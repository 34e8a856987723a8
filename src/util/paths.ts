import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of lensemble's caches: $LENSEMBLE_CACHE, else $XDG_CACHE_HOME/lensemble, else ~/.cache/lensemble. */
export function defaultCacheDir(): string {
  if (process.env.LENSEMBLE_CACHE) return resolve(process.env.LENSEMBLE_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'lensemble');
}

/** This package's root folder (holding package.json), from src/ or dist/. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/**
 * The shared data/models folder: $LENSEMBLE_SHARED, else `shared/` beside the current directory's
 * project, else `../shared` next to the package. Undefined when none exists.
 */
export function findSharedDir(): string | undefined {
  const candidates = [process.env.LENSEMBLE_SHARED, resolve('../shared'), resolve(packageRoot(), '..', 'shared')];
  return candidates.find((c): c is string => Boolean(c) && existsSync(join(c!, 'models')));
}
