import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The shared real data and models beside the project, or undefined (tests that need it are skipped). */
export const SHARED_DIR: string | undefined = [process.env.LENSEMBLE_SHARED, resolve('../shared')].find(
  (d): d is string => Boolean(d) && existsSync(join(d!, 'models')),
);

export const sharedPath = (...parts: string[]): string => join(SHARED_DIR ?? '../shared', ...parts);

if (!SHARED_DIR) console.warn('[lensemble tests] ../shared not found: tests on real data and models are skipped');
