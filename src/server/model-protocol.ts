import type { IdentifiedImage } from '../dataset/identify.js';
import type { ClassifyOptions, ClassifyResult } from './classify.js';

/** What the model worker is started with. */
export interface ModelWorkerConfig extends ClassifyOptions {
  model: string;
  /** Feature rows kept in the worker's bounded memory (undefined: the disk cache). */
  memoryCacheRows?: number;
}

export interface ModelRequest {
  id: number;
  images: IdentifiedImage[];
  /** Add Grad-CAM heatmaps (`explanation`) to the predictions. */
  explain?: boolean;
}

/** Which members make heatmaps (the rest, and why not). */
export interface HeatmapSupport {
  members: string[];
  leftOut: { name: string; reason: string }[];
}

export interface SerializedError {
  name: string;
  message: string;
}

export type ModelReply =
  | { type: 'ready'; heatmaps: HeatmapSupport }
  | { type: 'failed'; error: SerializedError }
  | { type: 'result'; id: number; result: ClassifyResult }
  | { type: 'error'; id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}
