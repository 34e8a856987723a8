import type { IdentifiedImage } from '../dataset/identify.js';
import type { ClassifyOptions, ClassifyResult } from './classify.js';

/** What the model worker is started with. */
export interface ModelWorkerConfig extends ClassifyOptions {
  model: string;
}

export interface ModelRequest {
  id: number;
  images: IdentifiedImage[];
}

export interface SerializedError {
  name: string;
  message: string;
}

export type ModelReply =
  | { type: 'ready' }
  | { type: 'failed'; error: SerializedError }
  | { type: 'result'; id: number; result: ClassifyResult }
  | { type: 'error'; id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}
