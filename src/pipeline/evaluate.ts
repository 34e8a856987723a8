import { loadModel, type EvaluateResult, type LoadModelOptions } from '../bundle/load-model.js';
import type { ReadDatasetOptions } from '../dataset/read-dataset.js';

/** Evaluates a saved model on a labelled dataset (folder, CSV or Kaggle layout). */
export async function evaluateModel(modelDir: string, data: string, options: LoadModelOptions & { read?: ReadDatasetOptions } = {}): Promise<EvaluateResult> {
  const model = await loadModel(modelDir, options);
  try {
    return await model.evaluate(data, { read: options.read });
  } finally {
    await model.close();
  }
}
