import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatMarkdownTable } from '../evaluate/table.js';
import type { Classifier } from '../heads/classifier.js';
import { kernelHeatmapSpec } from '../report/kernel-plot.js';
import { renderPlot } from '../report/render-plot.js';
import type { Matrix } from '../util/matrix.js';
import { classSeparation, topFeatures, type ClassSeparation } from './class-separation.js';
import { parseKernelName, type KernelCell } from './explain.js';
import type { TraceSettings } from './trace-options.js';

export interface TracesPageInput {
  memberName: string;
  traces: TraceSettings;
  /** Names of the head's features, in column order ("R k(-1,0)", "N5 G sigma", …). */
  featureNames: string[];
  head: Classifier;
  /** The training rows the head was fitted on (plain view), their classes and the class names. */
  X: Matrix;
  y: Int32Array;
  labels: string[];
}

/** How many features the page's table lists. */
export const TOP_FEATURES = 8;

/** Heat-map cells of one per-feature quantity: the kernel positions only (σ and iterations are in the table). */
function cellsOf(map: string, names: string[], values: (j: number) => number): KernelCell[] {
  const cells: KernelCell[] = [];
  names.forEach((name, j) => {
    const at = parseKernelName(name);
    if (at) cells.push({ map: at.n === undefined ? map : `${map}, N=${at.n}`, channel: at.channel, dx: at.dx, dy: at.dy, value: values(j) });
  });
  return cells;
}

const num = (v: number, digits = 3) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(digits));

/** The table of the features the detector leans on most, with everything a reader needs to check each one. */
function topTable(s: ClassSeparation): string {
  const [pos, ref] = [s.labels[s.positive], s.labels[s.reference]];
  const header = ['rank', 'feature', `mean ${ref}`, `mean ${pos}`, `std ${ref}`, `std ${pos}`, 'effect size d', ...(s.hasImportance ? ['forest importance'] : []), `LDA weight (→ ${pos})`];
  const rows = topFeatures(s, TOP_FEATURES).map((f, k) => [
    String(k + 1),
    `\`${f.feature}\``,
    num(f.means[s.reference]),
    num(f.means[s.positive]),
    num(f.stds[s.reference]),
    num(f.stds[s.positive]),
    f.effectSize.toFixed(2),
    ...(s.hasImportance ? [f.importance!.toFixed(3)] : []),
    f.ldaWeight.toFixed(2),
  ]);
  return formatMarkdownTable(header, rows, ['right', 'left', 'right', 'right', 'right', 'right', 'right', ...(s.hasImportance ? ['right' as const] : []), 'right']);
}

/**
 * The run report's page on a traces member: for each class the mean EM kernels and their spread, and the kernel
 * positions (and σ, iteration counts) that separate the classes most, as `<base>.md` beside `<base>-kernels`,
 * `<base>-spread` and `<base>-separation` (SVG and PNG). Returns the page's file name.
 */
export async function writeTracesPage(outDir: string, base: string, input: TracesPageInput): Promise<string> {
  const { featureNames: names, labels } = input;
  const s = classSeparation(names, input.X, input.y, labels, input.head);
  const [pos, ref] = [labels[s.positive], labels[s.reference]];

  const kernels = [
    ...labels.flatMap((label, c) => cellsOf(`mean of ${label}`, names, (j) => s.features[j].means[c])),
    ...cellsOf(`${pos} − ${ref}`, names, (j) => s.features[j].means[s.positive] - s.features[j].means[s.reference]),
  ];
  const spread = labels.flatMap((label, c) => cellsOf(`std of ${label}`, names, (j) => s.features[j].stds[c]));
  const separation = [
    ...(s.hasImportance ? cellsOf('forest importance', names, (j) => s.features[j].importance!) : []),
    ...cellsOf(`LDA weight → ${pos}`, names, (j) => s.features[j].ldaWeight),
    ...cellsOf(`effect size d → ${pos}`, names, (j) => s.features[j].effectSize),
  ];
  const sizes = `N = ${input.traces.kernelSizes.join(' + ')}`;
  const plots = [
    { name: 'kernels', cells: kernels, title: `Mean EM kernels per class (${sizes})`, subtitle: `the last row, ${pos} − ${ref}, on its own colour scale`, scaleOf: (m: string) => (m.startsWith('mean') ? 'mean' : 'difference') },
    { name: 'spread', cells: spread, title: `Spread of the kernels: standard deviation per class (${sizes})`, scaleOf: () => 'std' },
    { name: 'separation', cells: separation, title: `What separates ${pos} from ${ref}`, subtitle: 'each row on its own colour scale', scaleOf: (m: string) => m.split(',')[0] },
  ];
  for (const p of plots) {
    await renderPlot(kernelHeatmapSpec(p.cells, p.title, p.subtitle, { scaleOf: p.scaleOf, digitsOf: (m) => (m.startsWith('forest') ? 3 : 2) }), join(outDir, `${base}-${p.name}`));
  }

  const top = topFeatures(s, TOP_FEATURES);
  const lines = [
    `# What the traces detector relies on: ${input.memberName}`,
    '',
    `EM convolutional traces (Guarnera et al. 2020), ${sizes}, of the ${input.X.rows} training images (${labels.map((l, c) => `${l} ${s.counts[c]}`).join(', ')}). ` +
      'For each colour channel, the EM estimates the kernel k whose weight k(dx, dy) predicts a pixel from its neighbour dx columns to the right and dy rows down ' +
      '(the centre is fixed at 0); σ is the spread of what the kernel does not predict, and "iterations" how long the EM took to converge. These numbers are the features of the head.',
    '',
    `**The detector leans most on** ${top.slice(0, 3).map((f) => `\`${f.feature}\``).join(', ')} ` +
      `(${s.hasImportance ? `by the forest's own importance` : 'by the size of the standardised LDA weight'}).`,
    '',
    '## Mean kernels',
    '',
    `![mean kernels per class](${base}-kernels.png)`,
    '',
    `Each class's mean kernel over its training images, one column per channel, and the difference ${pos} − ${ref} on its own colour scale.`,
    '',
    '## Spread',
    '',
    `![standard deviation of the kernels per class](${base}-spread.png)`,
    '',
    'The standard deviation of each kernel weight over a class\'s training images: a difference of means matters only where it is large against these.',
    '',
    '## What separates the classes',
    '',
    `![forest importance, LDA direction and effect size per kernel position](${base}-separation.png)`,
    '',
    [
      s.hasImportance ? `*forest importance*: the Random Forest head's mean impurity decrease per feature (sums to 1 over all ${names.length} features);` : `*forest importance*: not shown, the head (${input.head.kind}) is not a random forest;`,
      `*LDA weight*: the linear discriminant direction toward ${pos} (${s.ldaSource === 'head' ? "the member's own LDA head" : `an LDA fitted on the same training traces for this page, since the head is ${input.head.kind}`}), each weight times its feature's pooled within-class std, so that a weight of 1 means one standard deviation of that feature moves the discriminant by 1;`,
      `*effect size d*: (mean ${pos} − mean ${ref}) / pooled within-class std, what the feature separates on its own.`,
    ].join(' '),
    '',
    `The ${TOP_FEATURES} features the detector leans on most (kernel positions, σ and iteration counts alike):`,
    '',
    topTable(s),
    '',
  ];
  const file = `${base}.md`;
  writeFileSync(join(outDir, file), lines.join('\n'));
  return file;
}
