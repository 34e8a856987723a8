import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Ensemble, EnsembleEvaluation } from '../ensemble/ensemble.js';
import { argmax, row } from '../util/matrix.js';
import { renderImageGrid } from './image-grid.js';
import { displayPhoto, heatmapOverlay, rgbToPng } from './overlay.js';

/** One validation image among the highest losses. */
export interface TopLoss {
  id: string;
  path: string;
  actual: string;
  predicted: string;
  /** The ensemble's probability of the predicted class, and of the true one. */
  probability: number;
  probabilityActual: number;
  /** Cross-entropy −ln p(true class). */
  loss: number;
}

/** A pair of classes the model mixes up: `count` images of `actual` predicted as `predicted`. */
export interface ConfusedPair {
  actual: string;
  predicted: string;
  count: number;
}

export interface Interpretation {
  topLosses: TopLoss[];
  mostConfused: ConfusedPair[];
  /** Members whose maps the grid's heatmaps mix, and those left out. */
  heatmapMembers: string[];
  heatmapLeftOut: { name: string; reason: string }[];
}

const DEFAULT_TOP = 12;

/** fastai's `most_confused(min_val=1)`: off-diagonal confusion counts, largest first. */
export function mostConfused(labels: string[], confusion: number[][], minCount = 1): ConfusedPair[] {
  const pairs: ConfusedPair[] = [];
  confusion.forEach((r, t) => r.forEach((count, p) => t !== p && count >= minCount && pairs.push({ actual: labels[t], predicted: labels[p], count })));
  return pairs.sort((a, b) => b.count - a.count || a.actual.localeCompare(b.actual) || a.predicted.localeCompare(b.predicted));
}

/** The validation images with the highest loss under the ensemble's (TTA) probabilities, largest first. */
export function topLosses(labels: string[], validation: EnsembleEvaluation, k = DEFAULT_TOP): TopLoss[] {
  const { images, probabilities } = validation.probabilities;
  const rows = images.map((img, i) => {
    const p = row(probabilities, i);
    const t = labels.indexOf(img.record.label ?? '');
    const best = argmax(p);
    return { id: img.record.id, path: img.record.path, actual: labels[t], predicted: labels[best], probability: p[best], probabilityActual: p[t], loss: -Math.log(Math.max(p[t], 1e-12)) };
  });
  return rows.sort((a, b) => b.loss - a.loss).slice(0, k);
}

/**
 * fastai's ClassificationInterpretation for a run: the top losses (with a heatmap of the predicted class where a
 * member can make one) as one PNG grid, and the most-confused class pairs.
 */
export async function interpretValidation(ensemble: Ensemble, validation: EnsembleEvaluation, k = DEFAULT_TOP): Promise<{ interpretation: Interpretation; grid: Buffer | null }> {
  const { labels } = ensemble;
  const top = topLosses(labels, validation, k);
  const confused = mostConfused(labels, validation.evaluation.confusion);
  if (top.length === 0) return { interpretation: { topLosses: [], mostConfused: confused, heatmapMembers: [], heatmapLeftOut: [] }, grid: null };
  const byId = new Map(validation.probabilities.images.map((img) => [img.record.id, img]));
  const images = top.map((t) => byId.get(t.id)!);
  const explained = await ensemble.explain(images, { classes: top.map((t) => labels.indexOf(t.predicted)), tta: false, progress: false });
  const cells = [];
  for (const [i, t] of top.entries()) {
    // explain() drops nothing here: every image was predicted in validation, its features are cached.
    const j = explained.predictions.images.findIndex((img) => img.record.id === t.id);
    const bytes = readFileSync(t.path);
    const heatmap = j >= 0 ? explained.heatmaps[j] : null;
    const image = heatmap ? await heatmapOverlay(bytes, heatmap, 256) : await rgbToPng(await displayPhoto(bytes, 256));
    cells.push({ image, lines: [`${t.predicted} / ${t.actual}`, `p=${t.probability.toFixed(2)} · loss ${t.loss.toFixed(2)} · p(true)=${t.probabilityActual.toFixed(2)}`, basename(t.id)] });
  }
  const heat = explained.members.length ? 'heatmap of the predicted class' : 'no heatmaps (no member can make one)';
  const grid = await renderImageGrid(cells, { columns: 4, cellSize: 224, title: `Top losses: predicted / actual, probability, loss — ${heat}` });
  return {
    interpretation: { topLosses: top, mostConfused: confused, heatmapMembers: explained.members.map((m) => m.name), heatmapLeftOut: explained.leftOut },
    grid,
  };
}
