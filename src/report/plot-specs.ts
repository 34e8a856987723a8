/**
 * Pure Vega-Lite spec builders for the run report plots.
 *
 * Every builder validates its input, throws a clear `Error` when there is
 * nothing to plot, and returns a self-contained spec (inline data, fixed
 * sizes, fixed fonts) so the same input always renders to the same SVG.
 * Rendering lives in `render-plot.ts`.
 */
import type { TopLevelSpec } from 'vega-lite';

/** Font stack written into the SVG; fontconfig resolves it to DejaVu Sans on CI. */
export const PLOT_FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';

const TEXT_COLOR = '#1f2937';
const MUTED_COLOR = '#6b7280';

/** Shared look: white background, readable axis titles, left-aligned titles. */
export const PLOT_CONFIG = {
  background: 'white',
  padding: 12,
  font: PLOT_FONT,
  view: { stroke: '#d1d5db' },
  title: {
    anchor: 'start',
    fontSize: 16,
    fontWeight: 'bold',
    color: TEXT_COLOR,
    subtitleFontSize: 11,
    subtitleColor: MUTED_COLOR,
    subtitlePadding: 4,
    offset: 12,
  },
  axis: {
    labelFontSize: 11,
    labelColor: TEXT_COLOR,
    titleFontSize: 12,
    titleFontWeight: 'bold',
    titleColor: TEXT_COLOR,
    titlePadding: 10,
    gridColor: '#e5e7eb',
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
  },
  legend: {
    labelFontSize: 11,
    labelColor: TEXT_COLOR,
    titleFontSize: 11,
    titleColor: TEXT_COLOR,
    // Vega never truncates (its no-canvas width guess is ~30% too wide); the
    // builders pre-truncate long names with `truncatingLabelExpr` instead.
    labelLimit: 0,
  },
} as const;

/** Matches members that should be highlighted as the ensemble. */
export const ENSEMBLE_PATTERN = /ensemble/i;
const ENSEMBLE_TEST_EXPR = 'test(/ensemble/i, datum.value)';

/** Longest class-name label (px) before it is shortened with an ellipsis. */
export const LABEL_LIMIT_PX = 160;
/** Longest member-name label (px) in the error bars and legends. */
export const MEMBER_LABEL_LIMIT_PX = 200;

// ---------------------------------------------------------------------------
// Text metrics (DejaVu Sans)
// ---------------------------------------------------------------------------

/**
 * Advance widths (thousandths of an em) of DejaVu Sans / DejaVu Sans Bold for
 * ASCII 32..126, read from the fonts' hmtx tables (DejaVu is what fontconfig
 * gives librsvg for `PLOT_FONT` here and on CI).
 */
const DEJAVU_REGULAR = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636, 636,
  636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
  603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
  634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];
const DEJAVU_BOLD = [
  348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696, 696,
  696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850,
  733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716,
  712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
];

/** Width in px of `text` set in DejaVu Sans (no kerning), as librsvg will draw it. */
export function dejaVuTextWidth(text: string, fontSize: number, bold = false): number {
  const table = bold ? DEJAVU_BOLD : DEJAVU_REGULAR;
  let em = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 32;
    if (c >= 32 && c <= 126) em += table[c - 32];
    else if (c === 0x2026) em += 1000; // ellipsis
    else if (c >= 0x0300 && c <= 0x036f) em += 0; // combining marks
    else if (c >= 0x2e80) em += 1000; // CJK and other wide scripts
    else em += bold ? 700 : 620; // other Latin/Greek/Cyrillic: average letter
  }
  return (em / 1000) * fontSize;
}

/** Shortens `text` with a trailing ellipsis so it is at most `maxWidth` px wide in DejaVu Sans. */
export function truncateLabel(text: string, maxWidth: number, fontSize: number, bold = false): string {
  if (dejaVuTextWidth(text, fontSize, bold) <= maxWidth) return text;
  const chars = [...text];
  const room = maxWidth - dejaVuTextWidth('\u2026', fontSize, bold);
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (dejaVuTextWidth(chars.slice(0, mid).join(''), fontSize, bold) <= room) lo = mid;
    else hi = mid - 1;
  }
  return `${chars.slice(0, lo).join('').trimEnd()}\u2026`;
}

/**
 * Vega expression mapping each over-long value to its truncated form (used as
 * `labelExpr`), or undefined when nothing needs truncating. A ternary chain
 * rather than an object lookup, so names like "constructor" stay safe.
 */
export function truncatingLabelExpr(values: string[], maxWidth: number, fontSize: number, bold = false): string | undefined {
  const parts: string[] = [];
  for (const v of values) {
    const t = truncateLabel(v, maxWidth, fontSize, bold);
    if (t !== v) parts.push(`datum.value === ${JSON.stringify(v)} ? ${JSON.stringify(t)} : `);
  }
  return parts.length === 0 ? undefined : `${parts.join('')}datum.label`;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function formatPercent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function assertUniqueNames(names: string[], what: string, where: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (typeof name !== 'string') throw new Error(`${where}: ${what} must be strings, got ${typeof name}`);
    if (seen.has(name)) throw new Error(`${where}: duplicate ${what} "${name}"`);
    seen.add(name);
  }
}

// ---------------------------------------------------------------------------
// Confusion matrix
// ---------------------------------------------------------------------------

export interface ConfusionCell {
  trueLabel: string;
  predicted: string;
  count: number;
  /** count / row total: the share of this true class predicted as `predicted`. */
  rowShare: number;
  rowTotal: number;
}

/** Flattens a confusion matrix (rows = true, columns = predicted) into cells, validating it. */
export function confusionCells(labels: string[], confusion: number[][]): ConfusionCell[] {
  const where = 'confusionMatrixSpec';
  if (!Array.isArray(labels) || labels.length === 0) {
    throw new Error(`${where}: nothing to plot, labels is empty`);
  }
  assertUniqueNames(labels, 'class label', where);
  const n = labels.length;
  if (!Array.isArray(confusion) || confusion.length !== n) {
    throw new Error(`${where}: confusion must have ${n} rows (one per label), got ${Array.isArray(confusion) ? confusion.length : typeof confusion}`);
  }
  const cells: ConfusionCell[] = [];
  for (let i = 0; i < n; i++) {
    const row = confusion[i];
    if (!Array.isArray(row) || row.length !== n) {
      throw new Error(`${where}: confusion row ${i} ("${labels[i]}") must have ${n} columns, got ${Array.isArray(row) ? row.length : typeof row}`);
    }
    let total = 0;
    for (let j = 0; j < n; j++) {
      const c = row[j];
      if (typeof c !== 'number' || !Number.isFinite(c) || c < 0) {
        throw new Error(`${where}: confusion[${i}][${j}] must be a finite non-negative count, got ${String(c)}`);
      }
      total += c;
    }
    for (let j = 0; j < n; j++) {
      cells.push({
        trueLabel: labels[i],
        predicted: labels[j],
        count: row[j],
        rowShare: total > 0 ? row[j] / total : 0,
        rowTotal: total,
      });
    }
  }
  return cells;
}

/**
 * Confusion-matrix heatmap: rows are the true class, columns the predicted
 * class, each cell shows its count and is coloured by its share of the row
 * (recall on the diagonal) so small classes are as readable as large ones.
 * Counts are written in the cells up to 40 classes; beyond that the cells
 * are too small and only the colour is kept.
 */
export function confusionMatrixSpec(labels: string[], confusion: number[][], title = 'Confusion matrix'): TopLevelSpec {
  const cells = confusionCells(labels, confusion);
  const n = labels.length;
  const total = cells.reduce((s, c) => s + c.count, 0);
  if (total === 0) throw new Error('confusionMatrixSpec: nothing to plot, the confusion matrix is all zeros');
  const correct = cells.reduce((s, c) => s + (c.trueLabel === c.predicted ? c.count : 0), 0);

  const step = n <= 40 ? clamp(Math.round(420 / n), 16, 72) : clamp(Math.round(640 / n), 4, 16);
  const showCounts = n <= 40;
  const maxCount = cells.reduce((m, c) => Math.max(m, c.count), 0);
  const digits = String(Math.round(maxCount)).length;
  // Shrink the count font so the widest count still fits inside a cell.
  const countFontSize = clamp(Math.min(step * 0.32, (step - 4) / (0.62 * digits)), 7, 14);
  const labelFontSize = step >= 16 ? 11 : 9;
  // Rotate column labels once they no longer fit under their cell.
  const longestPx = Math.min(LABEL_LIMIT_PX, labels.reduce((m, l) => Math.max(m, dejaVuTextWidth(l, labelFontSize)), 0));
  const labelAngle = longestPx + 4 > step ? -40 : 0;

  const isInteger = cells.every((c) => Number.isInteger(c.count));
  const countFormat = isInteger ? 'd' : '.2f';

  const labelExpr = truncatingLabelExpr(labels, LABEL_LIMIT_PX, labelFontSize);
  const axisCommon = {
    labelLimit: 0,
    ...(labelExpr ? { labelExpr } : {}),
    labelFontSize,
    ticks: false,
    domain: false,
    labelPadding: 4,
  };

  const layers: object[] = [
    {
      mark: { type: 'rect', stroke: 'white', strokeWidth: step >= 16 ? 1 : 0 },
      encoding: {
        color: {
          field: 'rowShare',
          type: 'quantitative',
          title: 'Share of true class',
          scale: { domain: [0, 1], range: ['#f4f8fc', '#08306b'], interpolate: 'hcl' },
          legend: { format: '.0%', gradientLength: Math.max(120, Math.min(step * n, 260)), direction: 'vertical' },
        },
      },
    },
  ];
  if (showCounts) {
    layers.push({
      mark: { type: 'text', fontSize: countFontSize, baseline: 'middle', align: 'center' },
      encoding: {
        text: { field: 'count', type: 'quantitative', format: countFormat },
        color: {
          condition: { test: 'datum.rowShare >= 0.55', value: 'white' },
          value: TEXT_COLOR,
        },
        opacity: { condition: { test: 'datum.count === 0', value: 0.35 }, value: 1 },
      },
    });
  }

  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: title,
      subtitle: `n = ${Number.isInteger(total) ? total : total.toFixed(2)} · accuracy ${formatPercent(correct / total)} · colour = share of the true class (row-normalised)`,
    },
    config: PLOT_CONFIG,
    data: { values: cells },
    width: { step },
    height: { step },
    encoding: {
      x: {
        field: 'predicted',
        type: 'nominal',
        sort: labels,
        scale: { domain: labels },
        title: 'Predicted class',
        axis: { ...axisCommon, orient: 'bottom', labelAngle, labelAlign: labelAngle === 0 ? 'center' : 'right' },
      },
      y: {
        field: 'trueLabel',
        type: 'nominal',
        sort: labels,
        scale: { domain: labels },
        title: 'True class',
        axis: { ...axisCommon },
      },
    },
    layer: layers,
  };
  return spec as TopLevelSpec;
}

// ---------------------------------------------------------------------------
// Per-member error rates
// ---------------------------------------------------------------------------

export interface MemberErrorRow {
  member: string;
  /** Error rate as a fraction in [0, 1]. */
  errorRate: number;
  /** Error rate with test-time augmentation, as a fraction in [0, 1]. */
  errorRateTta?: number;
}

const SERIES_COLORS: Record<string, string> = {
  Member: '#9ecae1',
  'Member + TTA': '#3182bd',
  Ensemble: '#fdae6b',
  'Ensemble + TTA': '#e6550d',
};

/**
 * Horizontal bars of the error rate per member (percent), grouped plain vs
 * TTA when any row has `errorRateTta`. Rows whose name matches /ensemble/i are
 * drawn in orange with a bold label. Rows keep the caller's order.
 */
export function memberErrorSpec(rows: MemberErrorRow[], title = 'Error rate per member'): TopLevelSpec {
  const where = 'memberErrorSpec';
  if (!Array.isArray(rows) || rows.length === 0) throw new Error(`${where}: nothing to plot, rows is empty`);
  assertUniqueNames(rows.map((r) => r.member), 'member name', where);
  const checkRate = (v: unknown, member: string, field: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new Error(`${where}: ${field} of "${member}" must be a fraction in [0, 1], got ${String(v)}`);
    }
    return v;
  };
  const hasTta = rows.some((r) => r.errorRateTta !== undefined);
  const values: { member: string; variant: string; series: string; error: number; label: string }[] = [];
  for (const r of rows) {
    const ens = ENSEMBLE_PATTERN.test(r.member);
    const kind = ens ? 'Ensemble' : 'Member';
    const plain = checkRate(r.errorRate, r.member, 'errorRate');
    values.push({ member: r.member, variant: 'plain', series: kind, error: plain, label: formatPercent(plain) });
    if (r.errorRateTta !== undefined) {
      const tta = checkRate(r.errorRateTta, r.member, 'errorRateTta');
      values.push({ member: r.member, variant: 'TTA', series: `${kind} + TTA`, error: tta, label: formatPercent(tta) });
    }
  }
  const seriesPresent = Object.keys(SERIES_COLORS).filter((s) => values.some((v) => v.series === s));
  const maxError = values.reduce((m, v) => Math.max(m, v.error), 0);
  // Leave room to the right of the longest bar for its percent label.
  const domainMax = maxError > 0 ? Math.min(1, maxError * 1.18) : 0.05;
  // With TTA the step is per sub-bar (yOffset band), otherwise per member.
  const barStep = hasTta ? 15 : 24;
  const members = rows.map((r) => r.member);
  // Ensemble names are drawn bold, hence measured bold.
  const memberLabelExpr = truncatingLabelExpr(members, MEMBER_LABEL_LIMIT_PX, 11, true);

  const encoding: Record<string, unknown> = {
    y: {
      field: 'member',
      type: 'nominal',
      sort: members,
      scale: { domain: members, paddingInner: hasTta ? 0.25 : 0.2 },
      title: null,
      axis: {
        labelLimit: 0,
        ...(memberLabelExpr ? { labelExpr: memberLabelExpr } : {}),
        labelFontSize: 11,
        ticks: false,
        labelPadding: 6,
        labelFontWeight: { condition: { test: ENSEMBLE_TEST_EXPR, value: 'bold' }, value: 'normal' },
      },
    },
    x: {
      field: 'error',
      type: 'quantitative',
      title: 'Error rate',
      scale: { domain: [0, domainMax], nice: false },
      axis: { format: '.0%', tickCount: 6, grid: true },
    },
    color: {
      field: 'series',
      type: 'nominal',
      title: null,
      scale: { domain: seriesPresent, range: seriesPresent.map((s) => SERIES_COLORS[s]) },
      legend: { orient: 'bottom', direction: 'horizontal', symbolType: 'square' },
    },
  };
  if (hasTta) {
    encoding.yOffset = { field: 'variant', type: 'nominal', sort: ['plain', 'TTA'], scale: { domain: ['plain', 'TTA'] } };
  }

  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: title,
      subtitle: hasTta ? 'Lower is better · light = without TTA, dark = with TTA' : 'Lower is better',
    },
    config: PLOT_CONFIG,
    data: { values },
    width: 460,
    height: { step: barStep },
    encoding,
    layer: [
      { mark: { type: 'bar', cornerRadiusEnd: 2 } },
      {
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 10, color: TEXT_COLOR },
        encoding: { text: { field: 'label', type: 'nominal' }, color: { value: TEXT_COLOR } },
      },
    ],
  };
  return spec as TopLevelSpec;
}

// ---------------------------------------------------------------------------
// Training curves
// ---------------------------------------------------------------------------

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  validLoss?: number;
  validAccuracy?: number;
}

export interface MemberCurve {
  member: string;
  epochs: EpochPoint[];
}

/**
 * Loss per epoch (colour = member, dash = train/valid), plus a second panel
 * of validation accuracy when any epoch reports one. Members without epochs
 * (e.g. closed-form heads) are left out; non-finite values (diverged losses)
 * are dropped rather than breaking the axis.
 */
export function trainingCurvesSpec(curves: MemberCurve[], title = 'Training curves'): TopLevelSpec {
  const where = 'trainingCurvesSpec';
  if (!Array.isArray(curves) || curves.length === 0) throw new Error(`${where}: nothing to plot, curves is empty`);
  assertUniqueNames(curves.map((c) => c.member), 'member name', where);
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

  const loss: { member: string; epoch: number; split: string; loss: number }[] = [];
  const acc: { member: string; epoch: number; accuracy: number }[] = [];
  const members: string[] = [];
  let maxEpochs = 0;
  for (const c of curves) {
    if (!Array.isArray(c.epochs)) throw new Error(`${where}: epochs of "${c.member}" must be an array`);
    let used = false;
    for (const e of c.epochs) {
      if (!finite(e.epoch)) throw new Error(`${where}: epoch number of "${c.member}" must be finite, got ${String(e.epoch)}`);
      if (finite(e.trainLoss)) {
        loss.push({ member: c.member, epoch: e.epoch, split: 'train', loss: e.trainLoss });
        used = true;
      }
      if (finite(e.validLoss)) {
        loss.push({ member: c.member, epoch: e.epoch, split: 'valid', loss: e.validLoss });
        used = true;
      }
      if (finite(e.validAccuracy)) {
        acc.push({ member: c.member, epoch: e.epoch, accuracy: e.validAccuracy });
        used = true;
      }
    }
    if (used) members.push(c.member);
    maxEpochs = Math.max(maxEpochs, c.epochs.length);
  }
  if (members.length === 0) throw new Error(`${where}: nothing to plot, no member has a finite loss or accuracy`);

  const showPoints = maxEpochs <= 40;
  const memberLegendExpr = truncatingLabelExpr(members, MEMBER_LABEL_LIMIT_PX, 11);
  const epochAxis = { title: 'Epoch', tickMinStep: 1, format: 'd', grid: true };
  const color = {
    field: 'member',
    type: 'nominal',
    title: 'Member',
    scale: { domain: members, scheme: members.length > 10 ? 'tableau20' : 'tableau10' },
    legend: {
      symbolType: 'stroke',
      symbolSize: 400,
      symbolStrokeWidth: 3,
      ...(memberLegendExpr ? { labelExpr: memberLegendExpr } : {}),
    },
  };
  const line = (extra: object) => ({
    type: 'line',
    strokeWidth: 2,
    interpolate: 'linear',
    ...(showPoints ? { point: { filled: true, size: 22 } } : {}),
    ...extra,
  });

  const panels: object[] = [];
  if (loss.length > 0) {
    const splits = ['train', 'valid'].filter((s) => loss.some((l) => l.split === s));
    panels.push({
      title: { text: 'Loss', fontSize: 12, subtitle: '' },
      data: { values: loss },
      width: 440,
      height: 220,
      mark: line({}),
      encoding: {
        x: { field: 'epoch', type: 'quantitative', axis: epochAxis, scale: { nice: false } },
        y: { field: 'loss', type: 'quantitative', title: 'Loss', scale: { zero: false } },
        color,
        strokeDash: {
          field: 'split',
          type: 'nominal',
          title: 'Split',
          scale: { domain: splits, range: splits.map((s) => (s === 'train' ? [1, 0] : [6, 4])) },
          legend: splits.length < 2 ? null : {
            symbolType: 'stroke',
            symbolSize: 400,
            symbolStrokeWidth: 2,
            labelExpr: "datum.value === 'valid' ? 'validation' : datum.label",
            // Vega-Lite gives this legend's symbols no stroke colour of their own.
            encode: { symbols: { update: { stroke: { value: '#4b5563' }, fill: { value: 'transparent' } } } },
          },
        },
        order: { field: 'epoch', type: 'quantitative' },
      },
    });
  }
  if (acc.length > 0) {
    panels.push({
      title: { text: 'Validation accuracy', fontSize: 12, subtitle: '' },
      data: { values: acc },
      width: 440,
      height: 180,
      mark: line({}),
      encoding: {
        x: { field: 'epoch', type: 'quantitative', axis: epochAxis, scale: { nice: false } },
        y: { field: 'accuracy', type: 'quantitative', title: 'Accuracy', scale: { zero: false }, axis: { format: '.0%' } },
        color,
        order: { field: 'epoch', type: 'quantitative' },
      },
    });
  }

  const base = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: title,
      subtitle: `${members.length} member${members.length === 1 ? '' : 's'}${loss.some((l) => l.split === 'valid') ? ' · solid = train, dashed = validation' : ''}`,
    },
    config: { ...PLOT_CONFIG, concat: { spacing: 28 } },
  };
  const spec =
    panels.length === 1
      ? { ...base, ...panels[0], title: base.title }
      : { ...base, vconcat: panels, resolve: { scale: { color: 'shared' } } };
  return spec as TopLevelSpec;
}
