import { createHash } from 'node:crypto';
import { PAGE_SCRIPT, PAGE_STYLE } from './page-assets.js';

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface Page {
  html: string;
  /** Content-Security-Policy allowing exactly the page's own inline style and script. */
  csp: string;
}

/**
 * The self-contained web page: choose or drop images, see each one's label, confidence and a bar per class.
 * Without JavaScript the form still posts to /api/predict (and shows its JSON).
 */
export function renderPage(title: string): Page {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · lensemble</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body data-model="${escapeHtml(title)}">
<main>
  <h1>Classify images</h1>
  <section id="model" aria-label="About the model"><p class="muted">Loading the model description…</p></section>
  <form id="upload" action="api/predict" method="post" enctype="multipart/form-data">
    <label class="drop" id="drop" for="files">
      <strong>Choose images</strong> or drop them here
      <span class="muted">(or paste one) — JPEG, PNG, WebP, TIFF, GIF, AVIF</span>
      <input id="files" name="file" type="file" accept="image/*" multiple>
    </label>
    <div class="actions">
      <button id="submit" type="submit">Classify</button>
      <button id="clear" type="button">Clear results</button>
      <label class="toggle" id="explain-box" hidden><input id="explain" type="checkbox"> Heatmaps: where the model looked</label>
      <p id="status" role="status" aria-live="polite"></p>
    </div>
  </form>
  <h2 class="sr-only">Results</h2>
  <ul id="results" aria-live="polite"></ul>
</main>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `style-src ${hash(PAGE_STYLE)}`,
    `script-src ${hash(PAGE_SCRIPT)}`,
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}
