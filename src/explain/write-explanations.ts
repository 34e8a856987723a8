import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { Explanations } from '../bundle/load-model.js';
import { LensembleError } from '../util/errors.js';
import { renderImageGrid } from './image-grid.js';
import { displayPhoto, heatmapOverlay, rgbToPng } from './overlay.js';

const pct = (p: number) => `${(p * 100).toFixed(1)}%`;

/** A file name for each image: its own base name, made safe and unique, as .png. */
function fileNames(names: string[]): string[] {
  const seen = new Set<string>();
  return names.map((name) => {
    const stem = basename(name, extname(name)).replace(/[^\p{L}\p{N}._-]+/gu, '_') || 'image';
    let candidate = `${stem}.png`;
    for (let k = 2; seen.has(candidate); k++) candidate = `${stem}-${k}.png`;
    seen.add(candidate);
    return candidate;
  });
}

/** Says which members made the maps and which could not, or fails when none could. */
export function describeHeatmapMembers(explanations: Explanations): string {
  const { members, leftOut } = explanations.heatmaps;
  if (members.length === 0) throw new LensembleError(`no member of this model can make heatmaps (${leftOut.map((l) => `${l.name}: ${l.reason}`).join('; ')})`);
  const used = `heatmaps from ${members.map((m) => `${m.name} (weight ${m.weight.toFixed(3)})`).join(', ')}`;
  return leftOut.length ? `${used}; left out, weights renormalised: ${leftOut.map((l) => `${l.name} (${l.reason})`).join('; ')}` : used;
}

/**
 * `lensemble predict --explain <dir>`: per image, one PNG of the photo beside the photo with its heatmap drawn
 * over it, captioned with the label and confidence; each prediction's `explanation.file` names it.
 */
export async function writeExplanationImages(dir: string, explanations: Explanations): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const names = fileNames(explanations.predictions.map((p) => p.name));
  const files: string[] = [];
  for (const [i, prediction] of explanations.predictions.entries()) {
    const bytes = readFileSync(explanations.images[i].record.path);
    const heatmap = explanations.heatmaps.heatmaps[i];
    const photo = await rgbToPng(await displayPhoto(bytes));
    const overlay = heatmap ? await heatmapOverlay(bytes, heatmap) : null;
    const png = await renderImageGrid(
      [
        { image: photo, lines: [basename(prediction.name), 'photo'] },
        { image: overlay, lines: [`${prediction.label} ${pct(prediction.confidence)}`, `heatmap of ${prediction.explanation.label}`] },
      ],
      { columns: 2, cellSize: 320 },
    );
    const file = resolve(join(dir, names[i]));
    writeFileSync(file, png);
    prediction.explanation.file = file;
    files.push(file);
  }
  return files;
}
