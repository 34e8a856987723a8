import { loadModel, type LoadModelOptions } from '../bundle/load-model.js';
import type { Predictions } from '../ensemble/predictions.js';

export type PredictOptions = LoadModelOptions;

/** One call from image paths (files or folders) to labels and probabilities, with a saved model bundle. */
export async function predict(modelDir: string, inputs: string[], options: PredictOptions = {}): Promise<Predictions> {
  const model = await loadModel(modelDir, options);
  try {
    return await model.predict(inputs);
  } finally {
    await model.close();
  }
}
