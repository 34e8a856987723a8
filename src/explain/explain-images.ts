import type { EnsembleMember, EnsembleProbabilities } from '../ensemble/ensemble.js';
import { decodeImage } from '../images/decode.js';
import { LensembleError } from '../util/errors.js';
import { argmax, row } from '../util/matrix.js';
import { normaliseGrid, type Grid } from './grad-cam.js';
import { heatmapUnsupported, memberHeatmap } from './member-heatmap.js';
import { photoGridSize, toPhotoFrame } from './photo-frame.js';

export interface ExplainOptions {
  /** The class index to explain for each image (default: the ensemble's predicted class). */
  classes?: number[];
}

/** Heatmaps of the images an ensemble predicted, and which members made them. */
export interface HeatmapSet {
  /** Per image (rows of the predictions): the map in the photo's frame, max 1; null when no member has one. */
  heatmaps: (Grid | null)[];
  /** The class each map explains. */
  classes: number[];
  /** Members whose maps are mixed, with their weights renormalised over them. */
  members: { name: string; weight: number }[];
  /** Members without a map (EM traces, backbones without a feature map, RF/SVM/kNN heads), and why. */
  leftOut: { name: string; reason: string }[];
}

/** Which members can make heatmaps, and why the others cannot. */
export function heatmapSupport(members: EnsembleMember[]): { members: string[]; leftOut: { name: string; reason: string }[] } {
  const leftOut = members.flatMap((m) => {
    const reason = heatmapUnsupported(m);
    return reason ? [{ name: m.name, reason }] : [];
  });
  return { members: members.filter((m) => !heatmapUnsupported(m)).map((m) => m.name), leftOut };
}

/**
 * Grad-CAM heatmaps for an ensemble's predictions: each able member's map of the explained class, carried onto
 * the photo through its own resize rule, mixed by the ensemble's weights renormalised over the members that have
 * maps. Uses the plain view (no TTA).
 */
export async function explainPredictions(members: EnsembleMember[], weights: number[], result: EnsembleProbabilities, options: ExplainOptions = {}): Promise<HeatmapSet> {
  const leftOut: HeatmapSet['leftOut'] = [];
  const able: { member: EnsembleMember; weight: number }[] = [];
  members.forEach((member, k) => {
    const reason = heatmapUnsupported(member);
    if (reason) leftOut.push({ name: member.name, reason });
    else if (weights[k] > 0) able.push({ member, weight: weights[k] });
  });
  const total = able.reduce((s, m) => s + m.weight, 0);
  const used = able.map((m) => ({ ...m, weight: total > 0 ? m.weight / total : 1 / able.length }));
  if (options.classes && options.classes.length !== result.images.length) throw new LensembleError(`${options.classes.length} classes to explain for ${result.images.length} images`);
  const classes = result.images.map((_, i) => options.classes?.[i] ?? argmax(row(result.probabilities, i)));
  const heatmaps: (Grid | null)[] = [];
  for (const [i, image] of result.images.entries()) {
    if (used.length === 0) {
      heatmaps.push(null);
      continue;
    }
    const photo = await decodeImage(image.record.path);
    const size = photoGridSize(photo.width, photo.height);
    const mixed = new Float32Array(size.width * size.height);
    const seen = new Uint8Array(mixed.length);
    for (const { member, weight } of used) {
      const { grid, preprocess } = await memberHeatmap(member, photo, classes[i]);
      const framed = toPhotoFrame(grid, preprocess, photo.width, photo.height, size);
      for (let p = 0; p < mixed.length; p++) {
        mixed[p] += weight * framed.values[p];
        seen[p] |= framed.seen![p];
      }
    }
    heatmaps.push(normaliseGrid({ ...size, values: mixed, seen }));
  }
  return { heatmaps, classes, members: used.map((m) => ({ name: m.member.name, weight: m.weight })), leftOut };
}
