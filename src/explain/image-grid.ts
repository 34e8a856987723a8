import { svgToPng } from '../report/render-plot.js';
import { dejaVuTextWidth, PLOT_FONT } from '../report/plot-specs.js';
import type { DrawnImage } from './overlay.js';

export interface GridCell {
  image: DrawnImage | null;
  /** Caption lines under the image (the first one bold). */
  lines: string[];
}

const escapeXml = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/** Shortens text with an ellipsis to fit `width` pixels at `size`. */
function fit(text: string, width: number, size: number, bold: boolean): string {
  if (dejaVuTextWidth(text, size, bold) <= width) return text;
  let out = text;
  while (out.length > 1 && dejaVuTextWidth(out + '…', size, bold) > width) out = out.slice(0, -1);
  return out + '…';
}

/**
 * Images in a grid of `columns`, each in a square cell with its caption lines below, an optional title on top:
 * one SVG (images embedded as PNG data URLs) rendered to PNG by librsvg, as the report's plots are.
 */
export async function renderImageGrid(cells: GridCell[], options: { columns: number; cellSize?: number; title?: string }): Promise<Buffer> {
  const cell = options.cellSize ?? 224;
  const gap = 12;
  const font = 13;
  const lineHeight = 17;
  const captionLines = Math.max(1, ...cells.map((c) => c.lines.length));
  const titleHeight = options.title ? 30 : 0;
  const columns = Math.max(1, Math.min(options.columns, cells.length));
  const rows = Math.ceil(cells.length / columns);
  const cellHeight = cell + 6 + captionLines * lineHeight;
  const width = gap + columns * (cell + gap);
  const height = titleHeight + gap + rows * (cellHeight + gap);
  const parts: string[] = [`<rect width="${width}" height="${height}" fill="#ffffff"/>`];
  if (options.title) parts.push(`<text x="${gap}" y="22" font-family="${PLOT_FONT}" font-size="16" font-weight="bold" fill="#1b1f24">${escapeXml(fit(options.title, width - 2 * gap, 16, true))}</text>`);
  cells.forEach((c, i) => {
    const x = gap + (i % columns) * (cell + gap);
    const y = titleHeight + gap + Math.floor(i / columns) * (cellHeight + gap);
    parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="#e6e9ee"/>`);
    if (c.image) {
      const scale = Math.min(cell / c.image.width, cell / c.image.height);
      const w = c.image.width * scale;
      const h = c.image.height * scale;
      parts.push(`<image x="${x + (cell - w) / 2}" y="${y + (cell - h) / 2}" width="${w}" height="${h}" href="data:image/png;base64,${c.image.png.toString('base64')}"/>`);
    } else {
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2}" text-anchor="middle" font-family="${PLOT_FONT}" font-size="${font}" fill="#5b6470">no image</text>`);
    }
    c.lines.forEach((line, l) => {
      const bold = l === 0;
      parts.push(
        `<text x="${x}" y="${y + cell + 4 + (l + 1) * lineHeight - 4}" font-family="${PLOT_FONT}" font-size="${font}"${bold ? ' font-weight="bold"' : ''} fill="#1b1f24">${escapeXml(fit(line, cell, font, bold))}</text>`,
      );
    });
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
  return svgToPng(svg, 1);
}
