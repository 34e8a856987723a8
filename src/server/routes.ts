import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http-error.js';
import type { ModelInfo } from './model-info.js';
import type { Page } from './page.js';
import { handlePredict, type PredictRouteContext } from './predict-route.js';
import { sendError, sendHtml, sendJson } from './respond.js';
import type { UploadLimits } from './upload-limits.js';

export interface AppContext extends PredictRouteContext {
  /** `GET /api/model`: the model, and every limit a client must keep to. */
  info: ModelInfo & { serving: UploadLimits };
  page: Page;
  log: (line: string) => void;
  /** Set while shutting down: new requests get a 503. */
  stopping: () => boolean;
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<number | void> | number | void;

/** The routes: method → handler, per path. */
function routeTable(ctx: AppContext): Record<string, Record<string, Route>> {
  const page: Route = (_req, res) => sendHtml(res, ctx.page.html, { 'Content-Security-Policy': ctx.page.csp });
  const model: Route = (_req, res) => sendJson(res, 200, ctx.info);
  const health: Route = (_req, res) => sendJson(res, 200, { ok: true });
  return {
    '/': { GET: page, HEAD: page },
    '/index.html': { GET: page, HEAD: page },
    '/api/model': { GET: model, HEAD: model },
    '/healthz': { GET: health, HEAD: health },
    '/api/predict': { POST: (req, res, url) => handlePredict(ctx, req, res, url) },
  };
}

/** The request listener: routing, JSON errors, and a one-line log per request. */
export function createHandler(ctx: AppContext): (req: IncomingMessage, res: ServerResponse) => void {
  const routes = routeTable(ctx);
  return (req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const run = async (): Promise<number | void> => {
      if (ctx.stopping()) {
        res.setHeader('Connection', 'close');
        throw new HttpError(503, 'the server is shutting down');
      }
      const methods = routes[url.pathname];
      if (!methods) throw new HttpError(404, `no such route: ${req.method} ${url.pathname} (try GET /, GET /api/model, POST /api/predict, GET /healthz)`);
      const route = methods[req.method ?? 'GET'];
      if (!route) {
        const allow = Object.keys(methods).join(', ');
        throw new HttpError(405, `${req.method} is not allowed on ${url.pathname} (use ${allow})`, {}, { Allow: allow });
      }
      return route(req, res, url);
    };
    run()
      .catch((err: unknown) => sendError(res, err, ctx.log))
      .then((images) => {
        const ms = Math.round(performance.now() - started);
        if (!res.headersSent) {
          ctx.log(`${req.method} ${url.pathname} (client disconnected before the answer) ${ms} ms`);
          return;
        }
        const note = typeof images === 'number' ? ` ${images} image${images === 1 ? '' : 's'}` : '';
        ctx.log(`${req.method} ${url.pathname} ${res.statusCode}${note} ${ms} ms`);
      });
  };
}
