import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { describe, expect, it } from 'vitest';
import {
  compileVegaLite,
  confusionMatrixSpec,
  dejaVuTextWidth,
  LABEL_LIMIT_PX,
  memberErrorSpec,
  renderPlot,
  renderSvg,
  svgToPng,
  trainingCurvesSpec,
  truncateLabel,
  writeRunPlots,
  type MemberCurve,
  type MemberErrorRow,
} from '../src/report/plots.js';

const LONG = 'golden retriever (long-haired variety, show line)';
const LABELS = ['cat', 'dog', LONG, 'café & crème', 'horse'];
const CONFUSION = [
  [48, 2, 0, 1, 0],
  [3, 40, 6, 0, 1],
  [0, 4, 11, 0, 0],
  [1, 0, 0, 7, 0],
  [0, 1, 0, 0, 120],
];
const MEMBERS: MemberErrorRow[] = [
  { member: 'resnet50-mlp', errorRate: 0.112, errorRateTta: 0.097 },
  { member: 'efficientnet-b0-logreg', errorRate: 0.134, errorRateTta: 0.121 },
  { member: 'vit-small-svm', errorRate: 0.089 },
  { member: 'Ensemble (mean prob)', errorRate: 0.071, errorRateTta: 0.064 },
];
const CURVES: MemberCurve[] = ['resnet50-mlp', 'efficientnet-b0-logreg'].map((member, k) => ({
  member,
  epochs: Array.from({ length: 8 }, (_, i) => ({
    epoch: i + 1,
    trainLoss: 1.4 * Math.exp(-i / (3 + k)) + 0.1,
    validLoss: 1.3 * Math.exp(-i / (4 + k)) + 0.25,
    validAccuracy: 0.6 + 0.3 * (1 - Math.exp(-i / (3 + k))),
  })),
}));

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lensemble-plots-'));
}

/** Contents of the SVG's <text> elements, XML entities decoded. */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;|&apos;/g, "'")
      .replace(/&amp;/g, '&'),
  );
}

function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg\b[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('no svg size');
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Bounding box of "dark" (text-coloured) pixels inside a horizontal band of a PNG. */
async function darkPixelsInBand(png: Buffer | string, top: number, bottom: number) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let count = 0;
  let minX = Infinity;
  let maxX = -Infinity;
  for (let y = top; y < Math.min(bottom, info.height); y++) {
    for (let x = 0; x < info.width; x++) {
      const i = (y * info.width + x) * info.channels;
      const lum = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      if (lum < 110) {
        count++;
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
      }
    }
  }
  return { count, width: count > 0 ? maxX - minX + 1 : 0 };
}

const SPECS: [string, () => TopLevelSpec][] = [
  ['confusion matrix', () => confusionMatrixSpec(LABELS, CONFUSION)],
  [
    'confusion matrix, 30 classes',
    () => {
      const l = Array.from({ length: 30 }, (_, i) => `class_${i}`);
      return confusionMatrixSpec(l, l.map((_, i) => l.map((_, j) => (i === j ? 50 : (i + j) % 3))));
    },
  ],
  ['confusion matrix, 60 classes (no counts)', () => {
    const l = Array.from({ length: 60 }, (_, i) => `c${i}`);
    return confusionMatrixSpec(l, l.map((_, i) => l.map((_, j) => (i === j ? 9 : 0))));
  }],
  ['member errors with TTA', () => memberErrorSpec(MEMBERS)],
  ['member errors without TTA', () => memberErrorSpec(MEMBERS.map(({ member, errorRate }) => ({ member, errorRate })))],
  ['training curves', () => trainingCurvesSpec(CURVES)],
  [
    'training curves, train loss only',
    () => trainingCurvesSpec(CURVES.map((c) => ({ member: c.member, epochs: c.epochs.map(({ epoch, trainLoss }) => ({ epoch, trainLoss })) }))),
  ],
];

describe('plot specs are valid Vega-Lite', () => {
  it('captures Vega-Lite warnings (sanity check of the check)', () => {
    const bad = {
      data: { values: [{ a: 1 }] },
      mark: 'bar',
      encoding: { x: { field: 'a', type: 'quantitative' }, shape: { field: 'a', type: 'nominal' } },
    } as unknown as TopLevelSpec;
    expect(compileVegaLite(bad).warnings.length).toBeGreaterThan(0);
  });

  for (const [name, build] of SPECS) {
    it(`${name}: compiles and renders without warnings`, async () => {
      const spec = build();
      expect(compileVegaLite(spec).warnings).toEqual([]);
      // failOnWarnings also covers Vega's own runtime log.
      const svg = await renderSvg(spec, { failOnWarnings: true });
      const { width, height } = svgSize(svg);
      expect(width).toBeGreaterThan(300);
      expect(width).toBeLessThan(1100);
      expect(height).toBeGreaterThan(150);
      expect(height).toBeLessThan(1200);
    });
  }

  it('keeps the caller-facing sizes in the 500-750 px range for the usual case', async () => {
    for (const spec of [confusionMatrixSpec(LABELS, CONFUSION), memberErrorSpec(MEMBERS), trainingCurvesSpec(CURVES)]) {
      const { width } = svgSize(await renderSvg(spec));
      expect(width).toBeGreaterThanOrEqual(480);
      expect(width).toBeLessThanOrEqual(750);
    }
  });
});

describe('confusion matrix', () => {
  it('row-normalises the colour field and keeps raw counts as the text', () => {
    const spec = confusionMatrixSpec(LABELS, CONFUSION) as { data: { values: { trueLabel: string; predicted: string; count: number; rowShare: number }[] } };
    const cell = spec.data.values.find((c) => c.trueLabel === LONG && c.predicted === LONG)!;
    expect(cell.count).toBe(11);
    expect(cell.rowShare).toBeCloseTo(11 / 15, 10);
    const horse = spec.data.values.find((c) => c.trueLabel === 'horse' && c.predicted === 'horse')!;
    expect(horse.rowShare).toBeCloseTo(120 / 121, 10);
  });

  it('writes SVG and 2x PNG with the class names and counts as text', async () => {
    const dir = tmp();
    const out = await renderPlot(confusionMatrixSpec(LABELS, CONFUSION), join(dir, 'sub', 'confusion'));
    expect(out).toEqual({ svg: join(dir, 'sub', 'confusion.svg'), png: join(dir, 'sub', 'confusion.png') });
    expect(statSync(out.svg).size).toBeGreaterThan(1000);
    expect(statSync(out.png).size).toBeGreaterThan(1000);

    const svg = readFileSync(out.svg, 'utf8');
    const texts = svgTexts(svg);
    for (const label of ['cat', 'dog', 'café & crème', 'horse']) {
      // Once on each axis.
      expect(texts.filter((t) => t === label)).toHaveLength(2);
    }
    for (const count of ['48', '40', '120', '11', '7', '6']) expect(texts).toContain(count);
    expect(texts).toContain('Predicted class');
    expect(texts).toContain('True class');
    expect(texts).toContain('Confusion matrix');
    expect(texts.some((t) => t.includes('accuracy 92.'))).toBe(true);

    // The long class name is shortened with an ellipsis, not dropped or overflowing.
    const long = texts.filter((t) => t.endsWith('\u2026'));
    expect(long).toHaveLength(2);
    expect(LONG.startsWith(long[0].slice(0, -1))).toBe(true);
    expect(long[0].length).toBeGreaterThan(15);
    expect(dejaVuTextWidth(long[0], 11)).toBeLessThanOrEqual(LABEL_LIMIT_PX);

    const meta = await sharp(out.png).metadata();
    const size = svgSize(svg);
    expect(meta.format).toBe('png');
    expect(Math.abs(meta.width! - 2 * size.width)).toBeLessThanOrEqual(2);
    expect(Math.abs(meta.height! - 2 * size.height)).toBeLessThanOrEqual(2);
    expect(meta.width).toBeGreaterThan(900);
    expect(meta.width).toBeLessThan(1600);
  });

  it('rasterises the text: the title band holds glyphs as wide as DejaVu predicts', async () => {
    const svg = await renderSvg(confusionMatrixSpec(LABELS, CONFUSION, 'Confusion matrix'));
    const png = await svgToPng(svg, 2);
    // Title: 16px bold at padding 12 → rows ~24..60 at 2x; subtitle starts below.
    const withTitle = await darkPixelsInBand(png, 0, 60);
    expect(withTitle.count).toBeGreaterThan(400);
    const expected = 2 * dejaVuTextWidth('Confusion matrix', 16, true);
    expect(withTitle.width).toBeGreaterThan(expected * 0.8);
    expect(withTitle.width).toBeLessThan(expected * 1.2);

    // Same plot with a shorter title: fewer dark pixels in the same band.
    const shortPng = await svgToPng(await renderSvg(confusionMatrixSpec(LABELS, CONFUSION, 'CM')), 2);
    const shortTitle = await darkPixelsInBand(shortPng, 0, 60);
    expect(shortTitle.count).toBeGreaterThan(0);
    expect(shortTitle.count).toBeLessThan(withTitle.count / 3);
  });

  it('honours the scale option', async () => {
    const dir = tmp();
    const spec = confusionMatrixSpec(LABELS, CONFUSION);
    const one = await renderPlot(spec, join(dir, 'x1'), { scale: 1 });
    const three = await renderPlot(spec, join(dir, 'x3'), { scale: 3 });
    const m1 = await sharp(one.png).metadata();
    const m3 = await sharp(three.png).metadata();
    expect(Math.abs(m3.width! - 3 * m1.width!)).toBeLessThanOrEqual(3);
    expect(readFileSync(one.svg, 'utf8')).toBe(readFileSync(three.svg, 'utf8'));
  });

  it('rejects malformed matrices', () => {
    expect(() => confusionMatrixSpec(['a', 'b'], [[1, 2]])).toThrow(/2 rows/);
    expect(() => confusionMatrixSpec(['a', 'b'], [[1, 2], [3]])).toThrow(/row 1 .* 2 columns/);
    expect(() => confusionMatrixSpec(['a', 'b'], [[1, -2], [3, 4]])).toThrow(/non-negative/);
    expect(() => confusionMatrixSpec(['a', 'a'], [[1, 2], [3, 4]])).toThrow(/duplicate/);
  });
});

describe('member error bars', () => {
  it('shows percentages, a TTA series and a highlighted ensemble row', async () => {
    const svg = await renderSvg(memberErrorSpec(MEMBERS));
    const texts = svgTexts(svg);
    for (const t of ['11.2%', '9.7%', '13.4%', '12.1%', '8.9%', '7.1%', '6.4%', 'Error rate', 'Member + TTA', 'Ensemble + TTA']) {
      expect(texts).toContain(t);
    }
    expect(texts).toContain('0%');
    for (const m of MEMBERS) expect(texts).toContain(m.member);
    // Only the ensemble's axis label is bold.
    const boldLabels = [...svg.matchAll(/<text\b[^>]*font-weight="bold"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(boldLabels).toContain('Ensemble (mean prob)');
    expect(boldLabels).not.toContain('resnet50-mlp');
    // Ensemble bars use the orange palette, members the blue one.
    expect(svg).toContain('#fdae6b');
    expect(svg).toContain('#e6550d');
    expect(svg).toContain('#3182bd');
  });

  it('has no TTA series when no row has one', async () => {
    const texts = svgTexts(await renderSvg(memberErrorSpec([{ member: 'a', errorRate: 0.2 }, { member: 'ensemble', errorRate: 0.1 }])));
    expect(texts).toContain('20.0%');
    expect(texts.some((t) => t.includes('TTA'))).toBe(false);
  });

  it('rejects rates that are not fractions', () => {
    expect(() => memberErrorSpec([{ member: 'a', errorRate: 12.5 }])).toThrow(/fraction in \[0, 1\]/);
    expect(() => memberErrorSpec([{ member: 'a', errorRate: 0.1, errorRateTta: Number.NaN }])).toThrow(/errorRateTta/);
  });
});

describe('training curves', () => {
  it('draws loss per member and split, plus a validation-accuracy panel', async () => {
    const svg = await renderSvg(trainingCurvesSpec(CURVES));
    const texts = svgTexts(svg);
    for (const t of ['Training curves', 'Loss', 'Validation accuracy', 'Epoch', 'Accuracy', 'train', 'validation', ...CURVES.map((c) => c.member)]) {
      expect(texts).toContain(t);
    }
    expect(texts).toContain('80%');
    // 2 members x 2 splits loss lines + 2 accuracy lines.
    expect((svg.match(/class="mark-line role-mark/g) ?? []).length).toBe(6);
    expect((svg.match(/stroke-dasharray="6,4"/g) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  it('omits the accuracy panel when no epoch reports accuracy, and drops members without epochs', async () => {
    const curves: MemberCurve[] = [
      { member: 'mlp', epochs: [{ epoch: 1, trainLoss: 1 }, { epoch: 2, trainLoss: 0.5, validLoss: Number.NaN }] },
      { member: 'svm', epochs: [] },
    ];
    const texts = svgTexts(await renderSvg(trainingCurvesSpec(curves), { failOnWarnings: true }));
    expect(texts).toContain('mlp');
    expect(texts).not.toContain('svm');
    expect(texts).not.toContain('Validation accuracy');
  });
});

describe('determinism', () => {
  it('renders the same spec to byte-identical SVG and PNG, however often', async () => {
    const dir = tmp();
    // A gradient legend: Vega numbers gradients with a module-global counter.
    const a = await renderPlot(confusionMatrixSpec(LABELS, CONFUSION), join(dir, 'a'));
    await renderSvg(trainingCurvesSpec(CURVES));
    const b = await renderPlot(confusionMatrixSpec(LABELS, CONFUSION), join(dir, 'b'));
    const svgA = readFileSync(a.svg, 'utf8');
    expect(svgA).toContain('lens_gradient_0');
    expect(svgA).toBe(readFileSync(b.svg, 'utf8'));
    expect(readFileSync(a.png).equals(readFileSync(b.png))).toBe(true);
  });

  it('restores Vega’s text measurement after rendering', async () => {
    const metrics = (vega as unknown as { textMetrics: { width: unknown } }).textMetrics;
    const before = metrics.width;
    await Promise.all([renderSvg(memberErrorSpec(MEMBERS)), renderSvg(trainingCurvesSpec(CURVES))]);
    expect(metrics.width).toBe(before);
  });
});

describe('nothing to plot', () => {
  it('throws clear errors for empty inputs', () => {
    expect(() => confusionMatrixSpec([], [])).toThrow(/nothing to plot/);
    expect(() => confusionMatrixSpec(['a', 'b'], [[0, 0], [0, 0]])).toThrow(/nothing to plot.*all zeros/);
    expect(() => memberErrorSpec([])).toThrow(/nothing to plot/);
    expect(() => trainingCurvesSpec([])).toThrow(/nothing to plot/);
    expect(() => trainingCurvesSpec([{ member: 'svm', epochs: [] }])).toThrow(/nothing to plot/);
  });

  it('renderPlot refuses a spec whose data is empty and writes nothing', async () => {
    const dir = tmp();
    const spec = { data: { values: [] }, mark: 'bar', encoding: { x: { field: 'a', type: 'quantitative' } } } as TopLevelSpec;
    await expect(renderPlot(spec, join(dir, 'empty'))).rejects.toThrow(/nothing to plot/);
    expect(existsSync(join(dir, 'empty.svg'))).toBe(false);
    expect(existsSync(join(dir, 'empty.png'))).toBe(false);
  });
});

describe('writeRunPlots', () => {
  it('writes the three plots into the run folder, deterministically', async () => {
    const dir = join(tmp(), 'run-1', 'plots');
    const input = { labels: LABELS, confusion: CONFUSION, members: MEMBERS, curves: CURVES };
    const files = await writeRunPlots(dir, input);
    expect(files).toEqual(['confusion.svg', 'confusion.png', 'errors.svg', 'errors.png', 'training.svg', 'training.png'].map((f) => join(dir, f)));
    for (const f of files) expect(statSync(f).size).toBeGreaterThan(1000);
    const first = files.filter((f) => f.endsWith('.svg')).map((f) => readFileSync(f, 'utf8'));
    await writeRunPlots(dir, input);
    const second = files.filter((f) => f.endsWith('.svg')).map((f) => readFileSync(f, 'utf8'));
    expect(second).toEqual(first);
  });

  it('skips omitted plots and validates before writing anything', async () => {
    const dir = tmp();
    const files = await writeRunPlots(dir, { labels: LABELS, confusion: CONFUSION });
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['confusion.svg', 'confusion.png']);

    const dir2 = tmp();
    await expect(writeRunPlots(dir2, { labels: LABELS, confusion: CONFUSION, members: [] })).rejects.toThrow(/memberErrorSpec: nothing to plot/);
    expect(existsSync(join(dir2, 'confusion.svg'))).toBe(false);
  });
});

describe('label truncation', () => {
  it('keeps short labels and shortens long ones to the pixel limit', () => {
    expect(truncateLabel('cat', 100, 11)).toBe('cat');
    const t = truncateLabel(LONG, 100, 11);
    expect(t.endsWith('\u2026')).toBe(true);
    expect(dejaVuTextWidth(t, 11)).toBeLessThanOrEqual(100);
    expect(dejaVuTextWidth(truncateLabel(LONG, 100, 11, true), 11, true)).toBeLessThanOrEqual(100);
  });
});
