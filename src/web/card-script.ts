// Browser-side helpers both result pages (the serve page and the exported one) build their cards with: a
// percentage, an element factory, and the per-class probability bars styled by PROBABILITY_BARS_STYLE.
export const CARD_HELPERS_SCRIPT = `
const pct = (p) => (p * 100).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1) + '%';
const el = (tag, props, children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') node.textContent = v; else if (k === 'class') node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children || []) if (c) node.append(c);
  return node;
};
/** entries: [class name, probability] pairs, in any order; best: the predicted class. */
function bars(entries, best) {
  const rows = [...entries].sort((a, b) => b[1] - a[1]);
  return el('ul', { class: 'bars' }, rows.map(([name, p]) => {
    const fill = el('div', { class: 'fill' });
    fill.style.width = (p * 100).toFixed(2) + '%';
    return el('li', { class: name === best ? 'top' : '' }, [
      el('span', { class: 'cls', title: name, text: name }),
      el('div', { class: 'track', 'aria-hidden': 'true' }, [fill]),
      el('span', { class: 'pct', text: pct(p) }),
    ]);
  }));
}
`;
