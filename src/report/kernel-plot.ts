import type { TopLevelSpec } from 'vega-lite';
import type { KernelCell } from '../forensics/explain.js';
import { PLOT_CONFIG } from './plot-specs.js';

/** Kernel maps share one colour scale, the push map has its own (what `traces explain` draws). */
const explainScales = (map: string) => (map.startsWith('push') ? 'push' : 'kernel');

/**
 * Small heat maps of N×N convolution kernels: one row per map (this image, each class mean, the push
 * map), one column per colour channel. Maps in the same `scaleOf` group share one diverging scale
 * (by default, kernel maps one and the push map another); `digitsOf` sets the printed precision.
 */
export function kernelHeatmapSpec(
  cells: KernelCell[],
  title: string,
  subtitle?: string,
  options: { scaleOf?: (map: string) => string; digitsOf?: (map: string) => number } = {},
): TopLevelSpec {
  if (cells.length === 0) throw new Error('kernelHeatmapSpec: nothing to plot, no kernel cells');
  const maps = [...new Set(cells.map((c) => c.map))];
  const channels = [...new Set(cells.map((c) => c.channel))];
  const offsets = [...new Set(cells.flatMap((c) => [c.dx, c.dy]))].sort((a, b) => a - b);
  const n = offsets.length;
  const cellPx = Math.max(18, Math.min(34, Math.floor(150 / n)));
  const scaleOf = options.scaleOf ?? explainScales;
  const digitsOf = options.digitsOf ?? ((m: string) => (m.startsWith('push') ? 3 : 2));
  const groupMax = new Map<string, number>();
  for (const c of cells) groupMax.set(scaleOf(c.map), Math.max(groupMax.get(scaleOf(c.map)) ?? 1e-6, Math.abs(c.value)));
  const values = cells.map((c) => ({ ...c, shade: c.value / groupMax.get(scaleOf(c.map))!, text: c.value.toFixed(digitsOf(c.map)) }));
  const axis = { sort: offsets, title: null, labelFontSize: 9, ticks: false, domain: false };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, ...(subtitle ? { subtitle } : {}) },
    config: { ...PLOT_CONFIG, view: { stroke: null }, header: { labelFontSize: 11, titleFontSize: 11 } } as TopLevelSpec['config'],
    data: { values },
    facet: {
      row: { field: 'map', type: 'nominal', sort: maps, title: null, header: { labelAngle: 0, labelAlign: 'left', labelLimit: 180 } },
      column: { field: 'channel', type: 'nominal', sort: channels, title: null },
    },
    spec: {
      width: cellPx * n,
      height: cellPx * n,
      layer: [
        {
          mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
          encoding: {
            x: { field: 'dx', type: 'ordinal', axis },
            y: { field: 'dy', type: 'ordinal', axis },
            color: { field: 'shade', type: 'quantitative', scale: { scheme: 'redblue', domain: [-1, 1], reverse: true }, legend: null },
          },
        },
        {
          mark: { type: 'text', fontSize: n > 5 ? 7 : 9 },
          encoding: {
            x: { field: 'dx', type: 'ordinal' },
            y: { field: 'dy', type: 'ordinal' },
            text: { field: 'text', type: 'nominal' },
            color: { condition: { test: 'abs(datum.shade) > 0.6', value: 'white' }, value: '#1f2937' },
          },
        },
      ],
    },
    resolve: { scale: { color: 'shared' } },
  } as TopLevelSpec;
}
