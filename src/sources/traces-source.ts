import { z } from 'zod';
import type { LoadedBundle, LoadedMember } from '../bundle/bundle.js';
import type { ExtractItem } from '../features/extract.js';
import { writeTracesPage } from '../forensics/report-page.js';
import { extractTraceFeatures } from '../forensics/trace-features.js';
import { defaultKernelSizes, traceOptionsFields, traceOptionsSchema, type TraceSettings } from '../forensics/trace-options.js';
import { columnMeans } from '../util/matrix.js';
import { gatherFeatures } from '../features/gather.js';
import type { LoadedSource, SourceContext, SourceDescription, SourceEntry, SourceKind } from './source-kind.js';

const kernelSizeList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split('+').map(Number) : typeof v === 'number' ? [v] : v),
  traceOptionsFields.shape.kernelSizes,
);

/**
 * The EM settings a member takes (`traces,kernelSize=3` or `traces,kernelSizes=3+5`; neither: the default sizes);
 * the EM's own seed is `emSeed`, since a member's `seed` seeds its head.
 */
export const tracesSettingsSchema = traceOptionsFields.omit({ seed: true }).extend({
  kernelSize: traceOptionsFields.shape.kernelSize.optional().describe(`one kernel size N (default: N = ${defaultKernelSizes.join(' + ')})`),
  kernelSizes: kernelSizeList.optional().describe('several kernel sizes, concatenated: 3+5'),
  sigma0: traceOptionsFields.shape.sigma0.describe('initial σ of the correlated pixels'),
  p0: traceOptionsFields.shape.p0.describe('density of the outlier model (1/256)'),
  tolerance: traceOptionsFields.shape.tolerance.describe('stop when max |Δk| falls below this'),
  maxIterations: traceOptionsFields.shape.maxIterations.describe('EM iterations at most'),
  appendSigma: traceOptionsFields.shape.appendSigma.describe("append each channel's final σ"),
  appendIterations: traceOptionsFields.shape.appendIterations.describe("append each channel's iteration count"),
  emSeed: traceOptionsFields.shape.seed.describe('seed of the random initial kernels'),
});
type TracesSettings = z.infer<typeof tracesSettingsSchema>;

export const tracesEntrySchema = z.object({
  kind: z.literal('traces'),
  traces: traceOptionsSchema,
  /** Names of the features the head sees, e.g. "R k(-1,0)". */
  featureNames: z.array(z.string()),
  /** Mean feature vector of each class's training images, and of all of them (for explanations). */
  classMeans: z.record(z.string(), z.array(z.number())),
  overallMean: z.array(z.number()),
});
export type TracesEntry = z.infer<typeof tracesEntrySchema>;

/** How a member names this source on the command line (`traces,kernelSize=5`). */
export const TRACES_REFERENCE = 'traces';
const TRACE_REFERENCES = new Set([TRACES_REFERENCE, 'em-traces']);

/** The first traces member of a loaded bundle, with its entry typed (for explanations). */
export function tracesMemberOf(bundle: LoadedBundle): (LoadedMember & { entry: TracesEntry }) | undefined {
  const loaded = bundle.members.find((m) => m.member.source.kind === 'traces');
  return loaded && { ...loaded, entry: tracesEntrySchema.parse(loaded.member.source) };
}

function traceSettingsOf(settings: TracesSettings): TraceSettings {
  const { emSeed, ...rest } = settings;
  return traceOptionsSchema.parse({ ...rest, seed: emSeed });
}

function describeTraces(traces: TraceSettings): SourceDescription {
  return { arch: `em-traces N=${traces.kernelSizes.join('+')}`, imageSize: 'full', resize: '-', backbone: null, inputSize: null };
}

async function extract(items: ExtractItem[], traces: TraceSettings, context: SourceContext, label?: string) {
  const options = { cacheDir: context.cacheDir, stores: context.stores, progress: context.progress, label };
  const result = await (context.queue ? context.queue.extractTraces(items, traces, options) : extractTraceFeatures(items, traces, options));
  return { result, features: { plain: result.features, failures: result.failures, computed: result.computed, reused: result.reused, seconds: result.seconds } };
}

/**
 * EM convolutional traces (Guarnera et al. 2020): the local convolution kernel of each colour channel,
 * estimated on the untouched pixels — so neither augmented views nor TTA apply.
 */
export const tracesSource: SourceKind = {
  kind: 'traces',
  description: 'EM convolutional traces (Guarnera et al. 2020): per-channel kernels estimated on the untouched pixels',
  settings: tracesSettingsSchema,
  manifest: tracesEntrySchema,
  claims: (reference) => TRACE_REFERENCES.has(reference),
  fromReference: () => ({}),
  augmentable: false,
  defaultHead: 'random-forest',
  describe: (entry) => describeTraces((entry as TracesEntry).traces),
  nameParts: (settings) => ['traces', `n${traceSettingsOf(settings as TracesSettings).kernelSizes.join('+')}`],

  async train(raw, _member, images, context) {
    const traces = traceSettingsOf(raw as TracesSettings);
    const { result, features } = await extract([...images.train, ...images.valid], traces, context);
    context.memory.sample();
    return {
      description: describeTraces(traces),
      features,
      toManifest: ({ features: store, hashes, y, labels }) => {
        const X = gatherFeatures(store, hashes);
        const entry: TracesEntry = {
          kind: 'traces',
          traces,
          featureNames: result.names,
          classMeans: Object.fromEntries(labels.map((label, c) => [label, columnMeans(X, (i) => y[i] === c)])),
          overallMean: columnMeans(X, () => true),
        };
        return entry;
      },
      writeReportPages: async (outDir, base, { memberName, training, head }) => {
        const X = gatherFeatures(training.features, training.hashes);
        const file = await writeTracesPage(outDir, base, { memberName, traces, featureNames: result.names, head, X, y: training.y, labels: training.labels });
        return [{ title: `${memberName}: what the traces detector relies on (mean kernels, spread, separating positions)`, file }];
      },
    };
  },

  async load(raw, context): Promise<LoadedSource> {
    const entry = tracesEntrySchema.parse(raw);
    return {
      description: describeTraces(entry.traces),
      entry: entry as SourceEntry,
      open: async () => {},
      extract: async (items, options) => (await extract(items, entry.traces, { ...context, progress: options.progress ?? context.progress }, options.label)).features,
    };
  },
};
