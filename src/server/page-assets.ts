// The web page's inline style and script (no CDN, no framework: the page works offline).
// Kept as plain strings; page.ts puts them in the HTML and allows exactly them by hash in the CSP.
import { CARD_HELPERS_SCRIPT } from '../web/card-script.js';
import { PROBABILITY_BARS_STYLE, THEME_STYLE } from '../web/theme.js';

export const PAGE_STYLE = THEME_STYLE + `main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.05rem; margin: 0; }
.muted { color: var(--muted); }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
#model { margin: 0 0 1.25rem; font-size: .95rem; }
#model ul { margin: .25rem 0 0; padding-left: 1.2rem; }
form { margin: 0 0 1rem; }
.drop { display: block; border: 2px dashed var(--line); border-radius: 12px; background: var(--card); padding: 2rem 1rem;
  text-align: center; cursor: pointer; transition: border-color .15s, background .15s; }
.drop:hover, .drop.over { border-color: var(--accent); background: var(--accent-soft); }
.drop strong { color: var(--accent); }
.drop input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.drop:focus-within { outline: 3px solid var(--focus); outline-offset: 2px; }
.actions { display: flex; gap: .75rem; align-items: center; margin-top: .75rem; flex-wrap: wrap; }
button { font: inherit; padding: .4rem .9rem; border-radius: 8px; border: 1px solid var(--line); background: var(--card); color: var(--text); cursor: pointer; }
button:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.toggle { display: inline-flex; gap: .4rem; align-items: center; cursor: pointer; }
.toggle[hidden] { display: none; }
.card .flip { grid-column: 1 / -1; justify-self: start; font-size: .85rem; padding: .2rem .6rem; margin-top: .4rem; }
#status { min-height: 1.5em; margin: 0; }
#results { list-style: none; padding: 0; margin: 0; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: .9rem; display: grid;
  grid-template-columns: 96px 1fr; gap: .25rem .9rem; align-content: start; }
.card img, .card .thumb { width: 96px; height: 96px; object-fit: cover; border-radius: 8px; background: var(--line); grid-row: span 2; }
.card .name { font-size: .85rem; color: var(--muted); overflow-wrap: anywhere; margin: 0; }
.card .verdict { margin: 0; font-size: 1.2rem; font-weight: 600; overflow-wrap: anywhere; }
.card .verdict .conf { font-weight: 400; color: var(--muted); font-size: 1rem; }
.card .error { color: var(--bad); margin: 0; }
.card .bars { grid-column: 1 / -1; margin: .4rem 0 0; padding: 0; list-style: none; }
.card .target { grid-column: 1 / -1; margin: .6rem 0 0; font-size: .95rem; }
.card .warning { grid-column: 1 / -1; margin: 0 0 .4rem; padding: .3rem .5rem; border-radius: .3rem; background: #fff4d6; color: #6b4d00; font-size: .9rem; }
@media (prefers-reduced-motion: reduce) { * { transition: none !important; } }
` + PROBABILITY_BARS_STYLE;

export const PAGE_SCRIPT = `
(() => {
  'use strict';
  const form = document.getElementById('upload');
  const input = document.getElementById('files');
  const drop = document.getElementById('drop');
  const results = document.getElementById('results');
  const status = document.getElementById('status');
  const modelBox = document.getElementById('model');
  const clear = document.getElementById('clear');
  const explain = document.getElementById('explain');
  const explainBox = document.getElementById('explain-box');
  let maxBytes = 20 * 1024 * 1024;
  let maxFiles = 32;

${CARD_HELPERS_SCRIPT}
  const size = (n) => n >= 1048576 ? +(n / 1048576).toFixed(1) + ' MB' : n >= 1024 ? +(n / 1024).toFixed(1) + ' KB' : n + ' bytes';

  fetch('api/model').then((r) => r.json()).then((info) => {
    maxBytes = info.serving.maxBytes;
    maxFiles = Math.min(32, info.serving.maxFiles || 32);
    if (info.heatmaps && info.heatmaps.members.length) explainBox.hidden = false;
    const v = info.validation;
    const extra = Object.keys(info.extraTargets || {});
    modelBox.replaceChildren(
      el('p', { text: 'Model ' + document.body.dataset.model + ': ' + info.labels.length + ' classes: ' + info.labels.join(', ') + (extra.length ? ' · extra targets: ' + extra.join(', ') : '') }),
      el('p', { class: 'muted', text: (v ? 'Validation accuracy ' + pct(v.accuracy) + ' on ' + v.n + ' images · ' : '') +
        (info.serving.tta ? 'test-time augmentation on' : 'test-time augmentation off') + ' · up to ' + size(maxBytes) + ' per request' }),
      el('ul', null, info.members.map((m) => el('li', { text: m.name + ' — ' + (m.backbone ? m.backbone + ' at ' + m.inputSize.width + '×' + m.inputSize.height : m.kind) + ', ' + m.head + ' head' }))),
    );
  }).catch(() => { modelBox.textContent = 'Could not load the model description.'; });

  // Long snake_case labels may wrap after their underscores.
  const breakable = (text) => {
    const out = [];
    text.split('_').forEach((part, i, all) => { out.push(part + (i < all.length - 1 ? '_' : '')); if (i < all.length - 1) out.push(el('wbr')); });
    return out;
  };

  function card(file, name) {
    const img = el('img', { alt: '' });
    const url = URL.createObjectURL(file);
    img.src = url;
    img.addEventListener('error', () => img.replaceWith(el('div', { class: 'thumb', 'aria-hidden': 'true' })), { once: true });
    const body = el('p', { class: 'pending', text: 'Waiting…' });
    const item = el('li', { class: 'card' }, [img, el('p', { class: 'name', text: name }), body]);
    item.dataset.url = url;
    item.dataset.name = name;
    item.dataset.state = 'pending';
    return {
      item,
      show(prediction) {
        const parts = [el('h2', { class: 'verdict' }, [...breakable(prediction.label), ' ', el('span', { class: 'conf', text: pct(prediction.confidence) })]), bars(Object.entries(prediction.probabilities), prediction.label)];
        if (prediction.warning) {
          parts.unshift(el('p', { class: 'warning', role: 'note', text: '⚠ ' + prediction.warning }));
          item.dataset.warning = prediction.unfamiliar ? 'unfamiliar' : 'low-confidence';
        }
        for (const [target, t] of Object.entries(prediction.targets || {})) {
          parts.push(el('p', { class: 'target' }, [el('strong', { text: target + ': ' }), t.label + ' (' + pct(t.confidence) + ')']));
          if (t.probabilities) parts.push(bars(Object.entries(t.probabilities), t.label));
        }
        const overlay = prediction.explanation && prediction.explanation.overlay;
        if (overlay) {
          // The card shows the heatmap over the photo; its button flips between the two.
          const flip = el('button', { class: 'flip', type: 'button', 'aria-pressed': 'true', text: 'Heatmap: on' });
          const showHeatmap = (on) => {
            img.src = on ? overlay : url;
            item.dataset.heatmap = on ? 'shown' : 'hidden';
            flip.setAttribute('aria-pressed', String(on));
            flip.textContent = 'Heatmap: ' + (on ? 'on' : 'off');
          };
          flip.addEventListener('click', () => showHeatmap(item.dataset.heatmap !== 'shown'));
          parts.push(flip);
          showHeatmap(true);
        } else if (prediction.explanation && prediction.explanation.unavailable) {
          parts.push(el('p', { class: 'target muted', text: prediction.explanation.unavailable }));
        }
        body.replaceWith(...parts);
        img.alt = name + ': ' + prediction.label;
        item.dataset.label = prediction.label;
        item.dataset.state = 'done';
      },
      fail(reason) {
        item.dataset.state = 'error';
        item.dataset.error = reason;
        body.replaceWith(el('p', { class: 'error', text: 'Not classified: ' + reason }));
      },
    };
  }

  function uniqueNamer() {
    const seen = new Set();
    return (name) => {
      let candidate = name;
      for (let k = 2; seen.has(candidate); k++) candidate = name + ' (' + k + ')';
      seen.add(candidate);
      return candidate;
    };
  }

  function batches(items) {
    const out = [];
    let current = [], bytes = 0;
    for (const item of items) {
      const extra = item.file.size + 512;
      if (current.length && (bytes + extra > maxBytes || current.length >= maxFiles)) { out.push(current); current = []; bytes = 0; }
      current.push(item); bytes += extra;
    }
    if (current.length) out.push(current);
    return out;
  }

  async function send(batch) {
    const data = new FormData();
    for (const item of batch) data.append('file', item.file, item.name);
    let reply;
    try {
      const response = await fetch(explain.checked ? 'api/predict?explain=1' : 'api/predict', { method: 'POST', body: data });
      reply = await response.json().catch(() => ({ error: 'HTTP ' + response.status }));
    } catch (err) {
      reply = { error: 'the server could not be reached' };
    }
    const byName = new Map(batch.map((item) => [item.name, item]));
    let done = 0;
    const again = [];
    for (const p of reply.predictions || []) { const item = byName.get(p.name); if (item) { item.view.show(p); byName.delete(p.name); done++; } }
    for (const s of reply.skipped || []) {
      const item = byName.get(s.name);
      if (!item) continue;
      byName.delete(s.name);
      // Over the request's pixel budget, not too large itself: it goes in the next request.
      if (s.limit === 'max-request-pixels') again.push({ item, reason: s.reason }); else item.view.fail(s.reason);
    }
    // Sent again only if something got through (it always does: one image at the cap fits the budget).
    if (again.length === batch.length) for (const a of again.splice(0)) a.item.view.fail(a.reason);
    for (const item of byName.values()) item.view.fail(reply.error || 'no answer for this file');
    return { done, again: again.map((a) => a.item) };
  }

  async function classify(fileList) {
    const files = Array.from(fileList || []);
    if (!files.length) return;
    const unique = uniqueNamer();
    const items = [];
    const views = [];
    for (const file of files) {
      const name = unique(file.name || 'pasted image');
      const view = card(file, name);
      views.push(view.item);
      if (file.size + 512 > maxBytes) view.fail('larger than the ' + size(maxBytes) + ' limit');
      else items.push({ file, name, view });
    }
    results.prepend(...views);
    status.textContent = 'Classifying ' + items.length + (items.length === 1 ? ' image…' : ' images…');
    let done = 0;
    let pending = items;
    while (pending.length) {
      const batch = batches(pending)[0];
      const sent = await send(batch);
      done += sent.done;
      pending = sent.again.concat(pending.slice(batch.length));
    }
    status.textContent = 'Classified ' + done + ' of ' + files.length + (files.length === 1 ? ' image.' : ' images.');
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); classify(input.files); input.value = ''; });
  input.addEventListener('change', () => { classify(input.files); input.value = ''; });
  for (const type of ['dragenter', 'dragover']) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
  // Dropping anywhere on the page classifies (instead of the browser opening the file).
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); classify(e.dataTransfer && e.dataTransfer.files); });
  document.addEventListener('paste', (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (files.length) classify(files);
  });
  clear.addEventListener('click', () => {
    for (const item of results.querySelectorAll('[data-url]')) URL.revokeObjectURL(item.dataset.url);
    results.replaceChildren();
    status.textContent = '';
    input.focus();
  });
  document.getElementById('submit').hidden = true;
})();
`;
