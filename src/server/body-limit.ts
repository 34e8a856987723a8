import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { HttpError } from './http-error.js';

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(1)} MB`;
  if (n >= 1 << 10) return `${+(n / (1 << 10)).toFixed(1)} KB`;
  return `${n} bytes`;
}

export function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `request body is larger than the ${formatBytes(maxBytes)} limit (--max-bytes ${maxBytes})`);
}

/** Refuses a body whose declared Content-Length is over the limit before reading any of it. */
export function checkDeclaredLength(req: IncomingMessage, maxBytes: number): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
}

/**
 * The request body as a stream that fails with a 413 as soon as more than `maxBytes` arrive (whatever
 * Content-Length said). After that the rest of the body is read and discarded, so the client — still
 * sending — gets to read the 413 instead of a reset connection; the same when the consumer destroys the
 * stream (a malformed form, too many files). A client that goes away mid-body fails it with a 400.
 */
export function limitBody(req: IncomingMessage, maxBytes: number): Readable {
  const out = new PassThrough();
  let received = 0;
  let stopped = false;
  // From here on the rest of the body is read and discarded.
  const drain = () => {
    req.off('data', onData);
    out.off('drain', onDrain);
    req.resume();
  };
  const stop = (err: Error) => {
    if (stopped) return;
    stopped = true;
    drain();
    out.destroy(err);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > maxBytes) return stop(tooLarge(maxBytes));
    if (!out.write(chunk)) req.pause();
  };
  const onDrain = () => req.resume();
  req.on('data', onData);
  out.on('drain', onDrain);
  req.on('end', () => {
    if (!stopped) out.end();
  });
  const interrupted = () => new HttpError(400, 'the upload was interrupted before the body was complete');
  req.on('close', () => {
    if (!req.complete) stop(interrupted());
  });
  // A client that left while the caller was still getting ready (making the request's temp folder) fired
  // 'close' before anyone listened: without this, the body would wait for an 'end' that never comes.
  if (req.destroyed && !req.complete) stop(interrupted());
  req.on('error', (err) => stop(new HttpError(400, `the upload failed (${err.message})`)));
  // A consumer that gave up (a parser error, too many files, a failed write) must not leave the body unread.
  out.on('close', () => {
    if (!req.complete) drain();
  });
  return out;
}
