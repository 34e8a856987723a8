import { z } from 'zod';
import { defaultTraceOptions } from './em-trace.js';

/** EM trace settings as stored in bundles and cache keys (every constant of the algorithm is an option). */
export const traceOptionsSchema = z.object({
  kernelSize: z.number().int().min(2).max(15).default(defaultTraceOptions.kernelSize),
  sigma0: z.number().positive().default(defaultTraceOptions.sigma0),
  p0: z.number().positive().default(defaultTraceOptions.p0),
  tolerance: z.number().positive().default(defaultTraceOptions.tolerance),
  maxIterations: z.number().int().min(1).default(defaultTraceOptions.maxIterations),
  seed: z.number().int().min(0).default(defaultTraceOptions.seed),
  appendSigma: z.boolean().default(defaultTraceOptions.appendSigma),
  appendIterations: z.boolean().default(defaultTraceOptions.appendIterations),
});
export type TraceSettings = z.infer<typeof traceOptionsSchema>;
