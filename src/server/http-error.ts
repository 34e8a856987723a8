/** A failure that becomes an HTTP response: a status code and a one-line `{ error }` message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra fields for the JSON body (e.g. the files that were skipped). */
    readonly details: Record<string, unknown> = {},
    /** Extra response headers (e.g. Allow, Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
