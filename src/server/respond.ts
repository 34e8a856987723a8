import type { ServerResponse } from 'node:http';
import { errorMessage } from '../util/errors.js';
import { HttpError } from './http-error.js';

const COMMON_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value) + '\n', headers);
}

export function sendHtml(res: ServerResponse, html: string, headers: Record<string, string> = {}): void {
  send(res, 200, 'text/html; charset=utf-8', html, headers);
}

/** Any error → JSON `{ error }`: HttpErrors with their status, anything else as a 500 (logged, message kept to one line). */
export function sendError(res: ServerResponse, err: unknown, log: (line: string) => void): void {
  if (err instanceof HttpError) {
    sendJson(res, err.status, { error: err.message, ...err.details }, err.headers);
    return;
  }
  const message = errorMessage(err).split('\n')[0];
  log(`error: ${res.req.method} ${res.req.url}: ${message}`);
  sendJson(res, 500, { error: `internal error: ${message}` });
}
