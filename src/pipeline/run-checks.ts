import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_BACKBONE } from '../backbone/registry.js';
import { BUNDLE_MANIFEST } from '../bundle/manifest.js';
import { parseMemberSpec, type MemberSpec } from '../ensemble/member-spec.js';
import { LensembleError } from '../util/errors.js';

/** `--out` must be a folder we may write a bundle into: not a file, not another model unless forced. */
export function checkRunFolder(outDir: string, force: boolean): void {
  if (!existsSync(outDir)) return;
  if (!statSync(outDir).isDirectory()) throw new LensembleError('--out names an existing file, not a folder; give a folder for the run', outDir);
  const manifest = join(outDir, BUNDLE_MANIFEST);
  if (existsSync(manifest) && !force) {
    let when = '';
    try {
      when = ` (trained ${String(JSON.parse(readFileSync(manifest, 'utf8')).createdAt ?? '').slice(0, 19).replace('T', ' ')})`;
    } catch {
      // unreadable: still another bundle's folder
    }
    throw new LensembleError(`holds another model bundle${when}; give --force to overwrite it, or another --out`, outDir);
  }
}

/** The member a run without members trains: the registry's default backbone, and it says so. */
export function defaultMembers(log: (line: string) => void): MemberSpec[] {
  log(`No member given: using the registry's default backbone ${DEFAULT_BACKBONE} (see \`lensemble models list\`).`);
  return [parseMemberSpec({ backbone: DEFAULT_BACKBONE })];
}
