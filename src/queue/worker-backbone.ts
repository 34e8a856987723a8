import { relative, isAbsolute, join } from 'node:path';
import { resolveBackboneSpec, type ResolvedBackbone } from '../backbone/resolve.js';
import type { BackboneSpec } from '../backbone/spec.js';

/**
 * The backbone file a shard names, found on this worker: its own path when it exists here, the same file under
 * this worker's mount of the shared root, or any model this machine knows (registry's shared folder, hub cache)
 * with that sha256 — and refused when the file found has another sha256 (other weights, other features).
 */
export async function resolveShardBackbone(
  backbone: { spec: BackboneSpec; sha256: string },
  where: { cacheDir: string; sharedRoot?: string; coordinatorRoot?: string },
): Promise<ResolvedBackbone> {
  let spec = backbone.spec;
  const { source } = spec;
  if (source.kind === 'file' && where.sharedRoot && where.coordinatorRoot) {
    const rel = relative(where.coordinatorRoot, source.path);
    if (rel && !rel.startsWith('..') && !isAbsolute(rel)) spec = { ...spec, source: { kind: 'file', path: join(where.sharedRoot, rel) } };
  }
  return resolveBackboneSpec(spec, { cacheDir: where.cacheDir, expectedSha256: backbone.sha256 });
}
