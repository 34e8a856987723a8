import type { ExportMetadata } from './ensemble-onnx.js';
import { RESIZE_SCRIPT } from './page-resize.js';
import { CARD_HELPERS_SCRIPT } from '../web/card-script.js';
import { PROBABILITY_BARS_STYLE, THEME_STYLE } from '../web/theme.js';

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

const STYLE = THEME_STYLE + `main { max-width: 1100px; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.05rem; margin: 0; }
.muted { color: var(--muted); }
#about { margin: 0 0 1rem; font-size: .95rem; overflow-wrap: anywhere; }
.drop { display: block; border: 2px dashed var(--line); border-radius: 12px; background: var(--card); padding: 1.5rem 1rem;
  text-align: center; cursor: pointer; }
.drop:hover, .drop.over { border-color: var(--accent); background: var(--accent-soft); }
.drop strong { color: var(--accent); }
.drop input, .camera input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.drop:focus-within, .camera:focus-within { outline: 3px solid var(--focus); outline-offset: 2px; }
.actions { display: flex; gap: .75rem; align-items: center; margin: .75rem 0 1rem; flex-wrap: wrap; }
button, .camera { font: inherit; padding: .4rem .9rem; border-radius: 8px; border: 1px solid var(--line); background: var(--card); color: var(--text); cursor: pointer; }
button:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
#status { min-height: 1.5em; margin: 0; }
#results { list-style: none; padding: 0; margin: 0; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 300px), 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: .9rem; display: grid;
  grid-template-columns: 96px minmax(0, 1fr); gap: .25rem .9rem; align-content: start; min-width: 0; }
.card img { width: 96px; height: 96px; object-fit: cover; border-radius: 8px; background: var(--line); grid-row: span 2; }
.card .name { font-size: .85rem; color: var(--muted); overflow-wrap: anywhere; margin: 0; }
.card .verdict { margin: 0; font-size: 1.2rem; font-weight: 600; overflow-wrap: anywhere; }
.card .verdict .conf { font-weight: 400; color: var(--muted); font-size: 1rem; }
.card .error { color: var(--bad); margin: 0; }
.card .bars { grid-column: 1 / -1; margin: .4rem 0 0; padding: 0; list-style: none; }
` + PROBABILITY_BARS_STYLE;

const SCRIPT = `
${RESIZE_SCRIPT}
const config = JSON.parse(document.getElementById('config').textContent);
const resizer = lensembleResize();
const params = new URLSearchParams(location.search);
const statusBox = document.getElementById('status');
const results = document.getElementById('results');
const setStatus = (text, state) => { statusBox.textContent = text; document.body.dataset.state = state; };

${CARD_HELPERS_SCRIPT}
/** WebGPU where the browser has an adapter (unless ?backend=wasm), else WebAssembly. */
async function chooseBackend() {
  const asked = params.get('backend');
  if (asked === 'wasm') return 'wasm';
  try { if (navigator.gpu && (await navigator.gpu.requestAdapter())) return 'webgpu'; } catch {}
  return 'wasm';
}

async function start() {
  setStatus('Loading the model…', 'loading');
  const backend = await chooseBackend();
  const ort = await import(backend === 'webgpu' ? './ort/ort.webgpu.min.mjs' : './ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  // Threads need a cross-origin-isolated page (COOP/COEP headers); a plain static server gives one thread.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  let session;
  try {
    session = await ort.InferenceSession.create('./model.onnx', { executionProviders: [backend], graphOptimizationLevel: 'all' });
  } catch (err) {
    if (backend === 'wasm') throw err;
    return startWith(ort, 'wasm', await ort.InferenceSession.create('./model.onnx', { executionProviders: ['wasm'] }));
  }
  return startWith(ort, backend, session);
}

function startWith(ort, backend, session) {
  document.body.dataset.backend = backend;
  setStatus('Ready (' + (backend === 'webgpu' ? 'WebGPU' : 'WebAssembly') + '). Choose or drop photos.', 'ready');
  const queue = [];
  let running = false;

  async function pixelsOf(file) {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'default' });
    try {
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0);
      return { image: ctx.getImageData(0, 0, bitmap.width, bitmap.height), bitmap };
    } catch (err) { bitmap.close(); throw err; }
  }

  /** ?resize=canvas: the browser's own drawImage smoothing instead of lensemble's resampling (to compare them). */
  function canvasToModel(bitmap, spec) {
    const g = resizer.geometry(bitmap.width, bitmap.height, spec);
    const canvas = new OffscreenCanvas(g.window.width, g.window.height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, -g.window.left, -g.window.top, g.scaledWidth, g.scaledHeight);
    const rgba = ctx.getImageData(0, 0, g.window.width, g.window.height).data;
    const rgb = new Uint8Array(g.window.width * g.window.height * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4) { rgb[j++] = rgba[i]; rgb[j++] = rgba[i + 1]; rgb[j++] = rgba[i + 2]; }
    const image = { data: rgb, width: g.window.width, height: g.window.height, channels: 3 };
    return spec.resize === 'pad' ? resizer.reflectPad(image, spec.width, spec.height) : image;
  }

  async function classify(file) {
    const { image, bitmap } = await pixelsOf(file);
    try {
      const feeds = {};
      for (const input of config.inputs) {
        const rgb = params.get('resize') === 'canvas'
          ? canvasToModel(bitmap, input)
          : resizer.toModel({ data: image.data, width: image.width, height: image.height, channels: 4 }, input);
        feeds[input.name] = new ort.Tensor('uint8', rgb.data, [1, input.height, input.width, 3]);
      }
      const out = await session.run(feeds);
      return Array.from(out[config.output].data);
    } finally { bitmap.close(); }
  }

  function card(file) {
    const url = URL.createObjectURL(file);
    const img = el('img', { alt: '', src: url });
    const body = el('p', { class: 'pending', text: 'Waiting…' });
    const item = el('li', { class: 'card', 'data-name': file.name || 'photo', 'data-state': 'pending' }, [img, el('p', { class: 'name', text: file.name || 'photo' }), body]);
    results.prepend(item);
    return {
      show(probabilities) {
        let best = 0;
        for (let k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
        const label = config.labels[best];
        item.dataset.label = label;
        item.dataset.confidence = String(probabilities[best]);
        item.dataset.probabilities = JSON.stringify(Object.fromEntries(config.labels.map((l, k) => [l, probabilities[k]])));
        item.dataset.state = 'done';
        img.alt = (file.name || 'photo') + ': ' + label;
        body.replaceWith(el('h2', { class: 'verdict' }, [label + ' ', el('span', { class: 'conf', text: pct(probabilities[best]) })]), bars(config.labels.map((l, k) => [l, probabilities[k]]), label));
      },
      fail(reason) {
        item.dataset.state = 'error';
        item.dataset.error = reason;
        body.replaceWith(el('p', { class: 'error', text: 'Not classified: ' + reason }));
      },
    };
  }

  async function drain() {
    if (running) return;
    running = true;
    let done = 0;
    while (queue.length) {
      const { file, view } = queue.shift();
      setStatus('Classifying ' + (file.name || 'photo') + '… (' + (queue.length + 1) + ' left)', 'busy');
      try { view.show(await classify(file)); done++; }
      catch (err) { view.fail(err && err.name === 'InvalidStateError' ? 'not a readable image' : String((err && err.message) || err)); }
    }
    running = false;
    setStatus('Done: classified ' + done + (done === 1 ? ' photo' : ' photos') + '. Choose more, or drop them here.', 'idle');
  }

  function take(files) {
    for (const file of Array.from(files || [])) queue.push({ file, view: card(file) });
    drain();
  }

  for (const id of ['files', 'camera']) {
    const input = document.getElementById(id);
    input.disabled = false;
    input.addEventListener('change', () => { take(input.files); input.value = ''; });
  }
  const drop = document.getElementById('drop');
  for (const type of ['dragenter', 'dragover']) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => { e.preventDefault(); take(e.dataTransfer && e.dataTransfer.files); });
  document.addEventListener('paste', (e) => take(e.clipboardData && e.clipboardData.files));
  document.getElementById('clear').addEventListener('click', () => {
    for (const img of results.querySelectorAll('img')) URL.revokeObjectURL(img.src);
    results.replaceChildren();
  });
}

start().catch((err) => {
  setStatus('The model could not be loaded: ' + ((err && err.message) || err) +
    (location.protocol === 'file:' ? ' (this browser does not let a page opened from a file load the files beside it: serve the folder with any static file server, e.g. python3 -m http.server)' : ''), 'failed');
});
`;

/**
 * The exported page: choose, drop, paste or photograph images; each is resized as lensemble resizes and
 * classified in the browser by onnxruntime-web (WebGPU where available, else WebAssembly). Every result card is
 * `<li class="card" data-name="<file name>" data-label="<predicted class>" data-confidence data-probabilities>`.
 */
export function renderExportPage(title: string, metadata: ExportMetadata, about: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-state="loading">
<main>
  <h1>${escapeHtml(title)}</h1>
  <p id="about" class="muted">${escapeHtml(about)}</p>
  <label class="drop" id="drop" for="files">
    <strong>Choose photos</strong> or drop them here
    <span class="muted">(or paste one) — classified on this device, nothing is uploaded</span>
    <input id="files" type="file" accept="image/*" multiple disabled>
  </label>
  <div class="actions">
    <label class="camera" for="camera">Take a photo<input id="camera" type="file" accept="image/*" capture="environment" disabled></label>
    <button id="clear" type="button">Clear results</button>
    <p id="status" role="status" aria-live="polite">Loading…</p>
  </div>
  <ul id="results" aria-live="polite"></ul>
</main>
<script id="config" type="application/json">${scriptJson({ labels: metadata.labels, inputs: metadata.inputs, output: metadata.output })}</script>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
}
