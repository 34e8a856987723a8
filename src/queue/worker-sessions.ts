import type { ResolvedBackbone } from '../backbone/resolve.js';
import { openBackbone, type BackboneSession, type Device } from '../backbone/session.js';

interface OpenSession {
  session: Promise<BackboneSession>;
  users: number;
  pinned: boolean;
  idleTimer?: NodeJS.Timeout;
}

export interface WorkerSessions {
  /** Runs `use` with the backbone's session, opening it on first need; it stays open while jobs for it keep coming. */
  with<T>(backbone: ResolvedBackbone, use: (session: BackboneSession) => Promise<T>): Promise<T>;
  /** Opens a backbone now and keeps it open for the worker's life (`--preload`). */
  pin(backbone: ResolvedBackbone): Promise<BackboneSession>;
  closeAll(): Promise<void>;
}

/** A worker's backbone sessions: one per model file and device, closed after `idleMs` without a job for it. */
export function createWorkerSessions(device: Device, idleMs: number): WorkerSessions {
  const open = new Map<string, OpenSession>();
  const entry = (backbone: ResolvedBackbone): OpenSession => {
    let found = open.get(backbone.sha256);
    if (!found) {
      const session = openBackbone(backbone, { device });
      found = { session, users: 0, pinned: false };
      open.set(backbone.sha256, found);
      session.catch(() => open.delete(backbone.sha256));
    }
    clearTimeout(found.idleTimer);
    return found;
  };
  const release = (sha256: string, found: OpenSession) => {
    found.users--;
    if (found.users > 0 || found.pinned) return;
    found.idleTimer = setTimeout(() => {
      if (found.users > 0 || open.get(sha256) !== found) return;
      open.delete(sha256);
      void found.session.then((s) => s.close()).catch(() => {});
    }, idleMs);
    found.idleTimer.unref();
  };
  return {
    async with(backbone, use) {
      const found = entry(backbone);
      found.users++;
      try {
        return await use(await found.session);
      } finally {
        release(backbone.sha256, found);
      }
    },
    pin(backbone) {
      const found = entry(backbone);
      found.pinned = true;
      return found.session;
    },
    async closeAll() {
      const all = [...open.values()];
      open.clear();
      for (const found of all) clearTimeout(found.idleTimer);
      await Promise.allSettled(all.map(async (found) => (await found.session).close()));
    },
  };
}
