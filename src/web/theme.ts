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
