// The look both of lensemble's pages share (the serve page and the exported one): colours, light and dark.
export const THEME_STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --text: #1b1f24; --muted: #5b6470; --line: #d9dde3;
  --accent: #1f6feb; --accent-soft: #dbe7fd; --bar: #9db8e8; --bad: #b42318; --focus: #f59e0b; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111418; --card: #1a1f26; --text: #e6e9ee; --muted: #9aa4b2; --line: #2d3540;
    --accent: #5b9bff; --accent-soft: #1d2c45; --bar: #3b5a8c; --bad: #ff8a7a; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
`;

/** The per-class probability bars of a result card (`ol.bars > li.top? > .cls .track>.fill .pct`), and its pending line. */
export const PROBABILITY_BARS_STYLE = `
.bars li { display: grid; grid-template-columns: minmax(0, 11rem) minmax(0, 1fr) 3.5rem; gap: .5rem; align-items: center; font-size: .85rem; }
.bars .cls { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bars .track { height: .6rem; border-radius: 99px; background: var(--line); overflow: hidden; }
.bars .fill { height: 100%; background: var(--bar); border-radius: 99px; }
.bars li.top .fill { background: var(--accent); }
.bars li.top .cls { font-weight: 600; }
.bars .pct { text-align: right; font-variant-numeric: tabular-nums; }
.pending { color: var(--muted); margin: 0; }
`;
