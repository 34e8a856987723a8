import { z } from 'zod';
import { defaultTraceOptions } from './em-trace.js';

/**
 * The trace features a traces member (and `lensemble traces`) uses when the settings do not say:
 * N = 5 kernels with each channel's σ and EM iteration count. Chosen by the group-aware 5-fold CV
 * table of bench/forensics-accuracy.ts on fake-faces (BENCHMARKS.md): Random Forest 83.9% ± 1.0%
 * against 72.5% for N = 3 kernels alone, 78.6% for N = 3 with σ and iterations, 82.6% ± 2.6% for
 * N = 4 with them (half the EM time of N = 5) and 83.1% for N = 3 + 5 concatenated (more EM time,
 * no better). Older bundles stored every setting, so they keep theirs; `kernelSize: N` alone means
 * that one N.
 */
export const defaultKernelSizes: readonly number[] = [5];
export const defaultTraceFeatures = Object.freeze({ appendSigma: true, appendIterations: true });

const kernelSize = z.number().int().min(2).max(15);

/**
 * `kernelSize` alone (what every bundle before multi-N stored, and `--kernel-size N`) means that one
 * N; neither means the default sizes.
 */
function withKernelSizes(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const o = raw as Record<string, unknown>;
  if (o.kernelSizes !== undefined) return o.kernelSize === undefined && Array.isArray(o.kernelSizes) ? { ...o, kernelSize: o.kernelSizes[0] } : o;
  if (o.kernelSize !== undefined) return { ...o, kernelSizes: [o.kernelSize] };
  return { ...o, kernelSize: defaultKernelSizes[0], kernelSizes: [...defaultKernelSizes] };
}

/** The fields of the EM trace settings (before `kernelSize`/`kernelSizes` are reconciled). */
export const traceOptionsFields = z.object({
      /** The first of kernelSizes (what single-N code and older bundles read). */
      kernelSize,
      /** Each N's kernels (and σ/iterations where asked) are concatenated in this order. */
      kernelSizes: z.array(kernelSize).min(1).max(4),
      sigma0: z.number().positive().default(defaultTraceOptions.sigma0),
      p0: z.number().positive().default(defaultTraceOptions.p0),
      tolerance: z.number().positive().default(defaultTraceOptions.tolerance),
      maxIterations: z.number().int().min(1).default(defaultTraceOptions.maxIterations),
      seed: z.number().int().min(0).default(defaultTraceOptions.seed),
      appendSigma: z.boolean().default(defaultTraceFeatures.appendSigma),
      appendIterations: z.boolean().default(defaultTraceFeatures.appendIterations),
    });

/** EM trace settings as stored in bundles and cache keys (every constant of the algorithm is an option). */
export const traceOptionsSchema = z.preprocess(
  withKernelSizes,
  traceOptionsFields
    .superRefine((o, ctx) => {
      if (new Set(o.kernelSizes).size !== o.kernelSizes.length) {
        ctx.addIssue({ code: 'custom', path: ['kernelSizes'], message: `each kernel size once, got ${o.kernelSizes.join(', ')}` });
      }
      if (o.kernelSize !== o.kernelSizes[0]) {
        ctx.addIssue({ code: 'custom', path: ['kernelSize'], message: `kernelSize ${o.kernelSize} must be the first of kernelSizes (${o.kernelSizes.join(', ')})` });
      }
    }),
);
export type TraceSettings = z.infer<typeof traceOptionsSchema>;

/** The settings of one N out of a (possibly multi-N) setting. */
export function singleSizeSettings(settings: TraceSettings, n: number): TraceSettings {
  return { ...settings, kernelSize: n, kernelSizes: [n] };
}
