import { resolveBackboneSpec } from '../backbone/resolve.js';
import type { Device, SessionCache } from '../backbone/session.js';
import { loadBundle, type LoadedBundle } from '../bundle/bundle.js';
import { LensembleError, errorMessage } from '../util/errors.js';

export interface LoadModelOptions {
  device: Device;
  cacheDir: string;
  /** Sessions opened for the check stay open here, for the requests that follow. */
  sessions: SessionCache;
}

/**
 * Loads a model bundle once and checks, before the server listens, that every member's backbone file is
 * there, is the one the bundle was trained with (sha256), and opens on the chosen device — so a server
 * that starts can answer, and one that cannot fails with a one-line reason.
 */
export async function loadServedModel(dir: string, options: LoadModelOptions): Promise<LoadedBundle> {
  const bundle = loadBundle(dir);
  const checked = new Set<string>();
  for (const { member } of bundle.members) {
    if (member.kind !== 'backbone' || checked.has(member.backbone.sha256)) continue;
    checked.add(member.backbone.sha256);
    const resolved = await resolveBackboneSpec(member.backbone.spec, { cacheDir: options.cacheDir, expectedSha256: member.backbone.sha256 });
    try {
      await options.sessions.open(resolved, { device: options.device });
    } catch (err) {
      if (err instanceof LensembleError) throw err;
      throw new LensembleError(`member ${member.name}: cannot open backbone ${member.backbone.spec.name} (${errorMessage(err)})`, resolved.modelPath);
    }
  }
  return bundle;
}
