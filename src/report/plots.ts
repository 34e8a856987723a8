/**
 * Report plots for a training run: confusion matrix, per-member error rates
 * and training curves, written as SVG + PNG into the run folder.
 *
 * Spec builders are in `plot-specs.ts` (pure), rendering in `render-plot.ts`.
 */
import { join } from 'node:path';
import {
  confusionMatrixSpec,
  memberErrorSpec,
  trainingCurvesSpec,
  type MemberCurve,
  type MemberErrorRow,
} from './plot-specs.js';
import { renderPlot, type RenderOptions } from './render-plot.js';

export {
  confusionCells,
  confusionMatrixSpec,
  ENSEMBLE_PATTERN,
  dejaVuTextWidth,
  LABEL_LIMIT_PX,
  MEMBER_LABEL_LIMIT_PX,
  memberErrorSpec,
  PLOT_CONFIG,
  PLOT_FONT,
  trainingCurvesSpec,
  truncateLabel,
  truncatingLabelExpr,
  type ConfusionCell,
  type EpochPoint,
  type MemberCurve,
  type MemberErrorRow,
} from './plot-specs.js';
export { compileVegaLite, normaliseSvgIds, renderPlot, renderSvg, svgToPng, type CompiledPlot, type RenderOptions } from './render-plot.js';

export interface RunPlotsInput {
  /** Class names, in the order of the confusion matrix rows/columns. */
  labels: string[];
  /** confusion[trueIndex][predictedIndex] = count. */
  confusion: number[][];
  /** Error rate per member (fractions); include the ensemble row yourself. Omit to skip errors.svg/png. */
  members?: MemberErrorRow[];
  /** Per-member training curves. Omit to skip training.svg/png (e.g. closed-form heads). */
  curves?: MemberCurve[];
  /** Optional plot titles. */
  titles?: { confusion?: string; errors?: string; training?: string };
}

/**
 * Writes `confusion.svg/png`, `errors.svg/png` and `training.svg/png` into
 * `dir` (created if missing) and returns the written paths in that order.
 * `members` / `curves` may be omitted to skip their plot; passing them empty
 * throws, like the spec builders. Same input → byte-identical SVGs.
 */
export async function writeRunPlots(dir: string, input: RunPlotsInput, options: RenderOptions = {}): Promise<string[]> {
  // Build every spec first so a bad input fails before anything is written.
  const jobs: { name: string; spec: ReturnType<typeof confusionMatrixSpec> }[] = [
    { name: 'confusion', spec: confusionMatrixSpec(input.labels, input.confusion, input.titles?.confusion) },
  ];
  if (input.members !== undefined) jobs.push({ name: 'errors', spec: memberErrorSpec(input.members, input.titles?.errors) });
  if (input.curves !== undefined) jobs.push({ name: 'training', spec: trainingCurvesSpec(input.curves, input.titles?.training) });
  const written: string[] = [];
  for (const job of jobs) {
    const out = await renderPlot(job.spec, join(dir, job.name), options);
    written.push(out.svg, out.png);
  }
  return written;
}
