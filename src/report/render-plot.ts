/**
 * Headless rendering of Vega-Lite specs: Vega-Lite → Vega → SVG string (Vega's
 * `renderer: 'none'` path, no browser or canvas package) → PNG via sharp's
 * librsvg. Text in the PNG is drawn with whatever fontconfig resolves
 * `PLOT_FONT` to (DejaVu Sans on CI via `fonts-dejavu-core`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { dejaVuTextWidth } from './plot-specs.js';

export interface RenderOptions {
  /** PNG pixel density relative to the SVG's CSS pixels (default 2 → 2× sharper PNG). */
  scale?: number;
  /** Throw when Vega-Lite or Vega log a warning while compiling/rendering (default false). */
  failOnWarnings?: boolean;
}

export interface CompiledPlot {
  vega: vega.Spec;
  /** Warnings Vega-Lite logged while compiling, as strings. */
  warnings: string[];
}

interface CollectingLogger {
  warnings: string[];
  errors: string[];
  level(l?: number): unknown;
  warn(...args: unknown[]): unknown;
  error(...args: unknown[]): unknown;
  info(...args: unknown[]): unknown;
  debug(...args: unknown[]): unknown;
}

/**
 * Minimal logger that records warnings/errors instead of printing them. Built
 * from closures, not a class: Vega calls the methods detached from the object.
 */
function collectingLogger(): CollectingLogger {
  let level = 2; // vega-util Warn
  const warnings: string[] = [];
  const errors: string[] = [];
  const logger: CollectingLogger = {
    warnings,
    errors,
    level: (l?: number) => {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    warn: (...args: unknown[]) => {
      warnings.push(args.map(String).join(' '));
      return logger;
    },
    error: (...args: unknown[]) => {
      errors.push(args.map(String).join(' '));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}

// ---------------------------------------------------------------------------
// Text metrics
//
// Without a canvas package Vega guesses 0.8 em per character, which overestimates
// DejaVu Sans by ~30%, so axis titles float far from their labels. While
// rendering we swap in DejaVu's real advance widths for layout (bounds). Note
// that npm may install several copies of vega-scenegraph (vega pins ~5.1 while
// vega-view wants ^5.2): the copy reached through `vega` is the one the bounds
// transforms use; the SVG renderer may use another copy that keeps the estimate.
// That is why the spec builders pre-truncate long labels themselves and set
// `labelLimit: 0` — Vega then never truncates, and only layout depends on
// these metrics (falling back to the estimate just adds whitespace).
// ---------------------------------------------------------------------------

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
  limit?: number;
}

function itemTextWidth(item: TextItem, text: unknown): number {
  const size = typeof item.fontSize === 'number' ? item.fontSize : 11;
  const w = item.fontWeight;
  const bold = w === 'bold' || w === 'bolder' || (typeof w === 'number' && w >= 600) || (typeof w === 'string' && Number(w) >= 600);
  const width = dejaVuTextWidth(text == null ? '' : String(text).trim(), size, bold);
  // Vega calls this both inside its truncation search (on candidate prefixes) and for
  // bounds (on the untruncated text). Capping at the limit keeps the search exact
  // (the cap is never below the search's threshold) and makes bounds of truncated
  // labels the limit instead of the full text width.
  return typeof item.limit === 'number' && item.limit > 0 ? Math.min(width, item.limit) : width;
}

type WidthFn = (item: TextItem, text: unknown) => number;
const textMetrics = (vega as unknown as { textMetrics: { width: WidthFn } }).textMetrics;
let metricsUsers = 0;
let savedWidth: WidthFn | undefined;

/** Installs the DejaVu metrics in Vega for the duration of `fn` (re-entrant, restores afterwards). */
async function withDejaVuMetrics<T>(fn: () => Promise<T>): Promise<T> {
  if (metricsUsers++ === 0) {
    savedWidth = textMetrics.width;
    textMetrics.width = itemTextWidth;
  }
  try {
    return await fn();
  } finally {
    if (--metricsUsers === 0 && savedWidth) textMetrics.width = savedWidth;
  }
}

function hasInlineData(node: unknown): { found: boolean; nonEmpty: boolean } {
  let found = false;
  let nonEmpty = false;
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) visit(y);
      return;
    }
    if (!x || typeof x !== 'object') return;
    const o = x as Record<string, unknown>;
    const data = o.data as Record<string, unknown> | undefined;
    if (data && typeof data === 'object') {
      if (Array.isArray(data.values)) {
        found = true;
        if (data.values.length > 0) nonEmpty = true;
      } else if (data.url !== undefined || data.name !== undefined || data.sequence !== undefined) {
        // External or generated data: assume there is something to plot.
        nonEmpty = true;
      }
    }
    for (const key of ['layer', 'hconcat', 'vconcat', 'concat', 'spec']) visit(o[key]);
  };
  visit(node);
  return { found, nonEmpty };
}

/** Compiles a Vega-Lite spec to Vega, capturing Vega-Lite's log instead of printing it. */
export function compileVegaLite(spec: TopLevelSpec): CompiledPlot {
  const logger = collectingLogger();
  // vega-lite's LoggerInterface type is vega-util's; our class is structurally compatible.
  const out = compile(spec, { logger: logger as unknown as NonNullable<Parameters<typeof compile>[1]>['logger'] });
  if (logger.errors.length > 0) throw new Error(`Vega-Lite compile error: ${logger.errors.join('; ')}`);
  return { vega: out.spec, warnings: [...logger.warnings] };
}

/**
 * Renumbers Vega's generated `gradient_N` / `clipN` ids in order of first
 * appearance. Vega keeps those counters module-global, so without this the
 * second render in a process would differ from the first.
 */
export function normaliseSvgIds(svg: string): string {
  const map = new Map<string, string>();
  const rename = (id: string): string => {
    let out = map.get(id);
    if (out === undefined) {
      const kind = id.includes('gradient') ? 'gradient' : 'clip';
      const n = [...map.values()].filter((v) => v.startsWith(`lens_${kind}`)).length;
      out = `lens_${kind}_${n}`;
      map.set(id, out);
    }
    return out;
  };
  const idPattern = /((?:p_)?gradient_\d+|clip\d+)/;
  return svg.replace(
    new RegExp(`(id="|url\\(#|href="#)${idPattern.source}(?=["')])`, 'g'),
    (_m, pre: string, id: string) => `${pre}${rename(id)}`,
  );
}

/** Renders a Vega-Lite spec to an SVG string (deterministic for identical specs). */
export async function renderSvg(spec: TopLevelSpec, options: Pick<RenderOptions, 'failOnWarnings'> = {}): Promise<string> {
  if (!spec || typeof spec !== 'object') throw new Error('renderPlot: spec must be a Vega-Lite spec object');
  const data = hasInlineData(spec);
  if (data.found && !data.nonEmpty) throw new Error('renderPlot: nothing to plot, every data source in the spec is empty');
  const compiled = compileVegaLite(spec);
  const logger = collectingLogger();
  const view = new vega.View(vega.parse(compiled.vega), {
    renderer: 'none',
    logger: logger as unknown as vega.ViewOptions['logger'],
    logLevel: vega.Warn,
  });
  let svg: string;
  try {
    svg = await withDejaVuMetrics(() => view.toSVG());
  } finally {
    view.finalize();
  }
  const warnings = [...compiled.warnings, ...logger.warnings];
  if (logger.errors.length > 0) throw new Error(`Vega render error: ${logger.errors.join('; ')}`);
  if (options.failOnWarnings && warnings.length > 0) throw new Error(`renderPlot: warnings while rendering: ${warnings.join('; ')}`);
  return normaliseSvgIds(svg);
}

/** Rasterises an SVG string to PNG with librsvg (through sharp) at `scale`× its CSS size. */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`renderPlot: scale must be a positive number, got ${scale}`);
  return sharp(Buffer.from(svg), { density: 72 * scale }).png({ compressionLevel: 9 }).toBuffer();
}

/**
 * Renders `spec` to `<basePath>.svg` and `<basePath>.png` (PNG at `scale`×,
 * default 2×) and returns both paths. Creates the parent directory.
 */
export async function renderPlot(
  spec: TopLevelSpec,
  basePath: string,
  options: RenderOptions = {},
): Promise<{ svg: string; png: string }> {
  const svgText = await renderSvg(spec, options);
  const png = await svgToPng(svgText, options.scale ?? 2);
  const paths = { svg: `${basePath}.svg`, png: `${basePath}.png` };
  await mkdir(dirname(basePath), { recursive: true });
  await writeFile(paths.svg, svgText, 'utf8');
  await writeFile(paths.png, png);
  return paths;
}
