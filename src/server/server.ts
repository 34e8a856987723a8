import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Device } from '../backbone/session.js';
import { loadBundle, type LoadedBundle } from '../bundle/bundle.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { defaultCacheDir } from '../util/paths.js';
import { describeModel } from './model-info.js';
import { startModelThread } from './model-thread.js';
import { renderPage } from './page.js';
import { createHandler } from './routes.js';
import { createSerialQueue, type SerialQueue } from './serial-queue.js';
import { uploadLimits } from './upload-limits.js';

/** Feature rows a server keeps in memory by default (≈ 100 MB of MobileNetV2 rows: plain view + 4 TTA views of 4,000 images). */
export const DEFAULT_CACHE_ROWS = 20_000;


export interface ServeOptions {
  /** Model bundle folder written by `lensemble train`. */
  model: string;
  /** 0 = any free port (default 8080). */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  device?: Device;
  cacheDir?: string;
  /**
   * Feature rows the server keeps of the images it was sent, in a least-recently-used memory of its own (default
   * 20,000 rows ≈ 100 MB for MobileNetV2); 0 = the shared disk cache instead, which grows with every unique upload.
   */
  cacheRows?: number;
  /** Use the members' test-time augmentation (default true). */
  tta?: boolean;
  /** Largest request body accepted (default 20 MB). */
  maxBytes?: number;
  /** Most files in one multipart request (default 64). */
  maxFiles?: number;
  /** Largest image, width × height read from its header (default 64 MP); a larger one is skipped, never decoded. */
  maxPixels?: number;
  /** Most pixels of all images in one request (default 128 MP); images past it are skipped, to send again. */
  maxRequestPixels?: number;
  /** Requests allowed to wait for the model at once before new ones get a 503 (default 32). */
  maxWaiting?: number;
  batchSize?: number;
  /** One line per request and lifecycle event (default: nowhere). */
  log?: (line: string) => void;
  /** How long shutdown waits for requests in progress before closing their connections (default 10 s). */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  bundle: LoadedBundle;
  queue: SerialQueue;
  /** The server's temp folder (each request's uploads live in a folder inside it until answered). */
  tempDir: string;
  /** Stops accepting, lets requests in progress finish (up to the grace period), removes temp files. */
  close(): Promise<void>;
}

function urlFor(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : errorMessage(err);
      reject(new LensembleError(`cannot listen on ${host}:${port} (${why})`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Loads the bundle once (failing fast if it or a backbone is missing), then serves the page and the API. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const device = options.device ?? 'cpu';
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const limits = uploadLimits(options);
  const log = options.log ?? (() => {});
  const tta = options.tta ?? true;
  // The manifest here (for /api/model and the page; a folder that is not a bundle fails at once), the model
  // itself in a worker thread, which checks every backbone before the server listens.
  const bundle = loadBundle(options.model);
  const tempRoot = await mkdtemp(join(tmpdir(), 'lensemble-serve-'));
  const memoryCacheRows = options.cacheRows ?? DEFAULT_CACHE_ROWS;
  const model = await startModelThread({ model: bundle.dir, device, cacheDir, tta, batchSize: options.batchSize, memoryCacheRows: memoryCacheRows || undefined }).catch(async (err: unknown) => {
    await rm(tempRoot, { recursive: true, force: true });
    throw err;
  });
  const queue = createSerialQueue();
  const active = new Set<Promise<unknown>>();
  let stopping = false;

  const handler = createHandler({
    model,
    queue,
    tempRoot,
    limits,
    maxWaiting: options.maxWaiting ?? 32,
    info: { ...describeModel(bundle, { tta, device, maxBytes: limits.maxBytes }), serving: { tta, device, ...limits, cacheRows: memoryCacheRows }, heatmaps: model.heatmaps },
    page: renderPage(basename(bundle.dir)),
    log,
    stopping: () => stopping,
  });
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const done = new Promise((resolve) => res.once('close', resolve));
    active.add(done);
    void done.then(() => active.delete(done));
    handler(req, res);
  };
  const server = createServer(listener);
  // `Expect: 100-continue` is answered by the predict route once it accepts the body (not for a 413/415).
  server.on('checkContinue', listener);

  const host = options.host ?? '127.0.0.1';
  try {
    await listen(server, options.port ?? 8080, host);
  } catch (err) {
    await model.close();
    await rm(tempRoot, { recursive: true, force: true });
    throw err;
  }
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, options.shutdownGraceMs ?? 10_000)));
      await Promise.race([Promise.allSettled([...active]).then(() => queue.idle()), grace]);
      clearTimeout(timer);
      server.closeAllConnections();
      await closed;
      await model.close();
      await rm(tempRoot, { recursive: true, force: true });
    })();
    return closing;
  };
  return { url: urlFor(host, port), port, bundle, queue, tempDir: tempRoot, close };
}
