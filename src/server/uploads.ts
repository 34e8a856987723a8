import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { errorMessage } from '../util/errors.js';
import { checkDeclaredLength, limitBody } from './body-limit.js';
import { HttpError } from './http-error.js';
import { saveStream, type SavedFile } from './save-stream.js';
import { cleanName, uniqueNames } from './upload-names.js';

/** One uploaded file, saved in the request's temp folder. */
export interface Upload extends SavedFile {
  /** The client's file name (cleaned), unique within the request. */
  name: string;
}

export interface UploadOptions {
  /** The request's own temp folder (removed by the caller afterwards). */
  dir: string;
  /** Largest request body accepted. */
  maxBytes: number;
  /** Most files in one multipart request. */
  maxFiles: number;
  /** Called once the request is accepted, before its body is read (to answer `Expect: 100-continue`). */
  accept?: () => void;
}

const USAGE = 'send an image as the body (Content-Type: image/* or application/octet-stream) or files as multipart/form-data';

/**
 * Saves a request's images to `options.dir`: a raw image body, or every file of a multipart form.
 * Too large → 413; unsupported Content-Type → 415; empty or malformed → 400.
 */
export async function receiveUploads(req: IncomingMessage, url: URL, options: UploadOptions): Promise<Upload[]> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'multipart/form-data') {
    checkDeclaredLength(req, options.maxBytes);
    options.accept?.();
    return receiveMultipart(req, options);
  }
  if (type === '' || type === 'application/octet-stream' || type.startsWith('image/')) {
    checkDeclaredLength(req, options.maxBytes);
    options.accept?.();
    const name = cleanName(url.searchParams.get('name') ?? headerValue(req.headers['x-file-name']), 'image');
    const saved = await saveStream(limitBody(req, options.maxBytes), join(options.dir, '0'));
    if (saved.bytes === 0) throw new HttpError(400, `empty request body: ${USAGE}`);
    return [{ ...saved, name }];
  }
  throw new HttpError(415, `unsupported Content-Type "${type}": ${USAGE} (with curl: -H 'Content-Type: image/jpeg' --data-binary @photo.jpg, or -F file=@photo.jpg)`);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function receiveMultipart(req: IncomingMessage, options: UploadOptions): Promise<Upload[]> {
  let parser: busboy.Busboy;
  try {
    // File names arrive as raw UTF-8 (browsers, curl, fetch's FormData) or as RFC 5987 `filename*` (which busboy
    // decodes by its own charset); busboy's default would read the raw bytes as latin1 ("lÃ¡ lÃºa.jpg").
    parser = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { files: options.maxFiles, fields: 32, fieldSize: 64 << 10, parts: options.maxFiles + 32 } });
  } catch (err) {
    throw new HttpError(400, `malformed multipart/form-data request (${errorMessage(err)})`);
  }
  const body = limitBody(req, options.maxBytes);
  const unique = uniqueNames();
  const saves: Promise<Upload>[] = [];
  const open = new Set<Readable>();
  let count = 0;

  return new Promise<Upload[]>((resolve, reject) => {
    let failed = false;
    const fail = (err: HttpError) => {
      if (failed) return;
      failed = true;
      body.unpipe(parser);
      body.destroy();
      // With an error: a file stream destroyed after its last chunk but before 'end' would leave its
      // pipeline waiting for an 'end' that never comes.
      for (const stream of open) stream.destroy(err);
      // Settle every file write before the caller removes the folder.
      void Promise.allSettled(saves).then(() => reject(err));
    };
    parser.on('file', (field, stream, info) => {
      if (failed) {
        stream.resume();
        return;
      }
      const index = count++;
      const name = unique(cleanName(info.filename, field || `file ${index + 1}`));
      open.add(stream);
      const save = saveStream(stream, join(options.dir, String(index))).then((saved) => ({ ...saved, name }));
      save.then(
        () => open.delete(stream),
        (err) => fail(err instanceof HttpError ? err : new HttpError(400, `could not read the upload of ${name} (${errorMessage(err)})`)),
      );
      saves.push(save);
    });
    parser.on('filesLimit', () => fail(new HttpError(413, `too many files: at most ${options.maxFiles} per request`)));
    parser.on('error', (err) => fail(new HttpError(400, `malformed multipart/form-data body (${errorMessage(err)})`)));
    parser.on('close', () => {
      if (failed) return;
      Promise.all(saves).then((uploads) => {
        if (failed) return;
        if (uploads.length === 0) reject(new HttpError(400, 'no files in the form: add one or more image files'));
        else resolve(uploads);
      }, () => undefined);
    });
    body.on('error', (err) => fail(err instanceof HttpError ? err : new HttpError(400, errorMessage(err))));
    body.pipe(parser);
  });
}
