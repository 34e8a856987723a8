import type { SerializedClassifier } from './classifier.js';
import { LINEAR_HEAD_DEFAULTS } from './linear.js';
import { createNeuralHead, type NeuralHead, type NeuralHeadOptions, neuralHeadFromJSON } from './neural-head.js';

export type MlpHeadOptions = NeuralHeadOptions;

/**
 * fastai's `create_head` regularisation (dropout ps/2 = 0.25 on the features, ps = 0.5 after the
 * hidden layer, Kaiming-normal init) and its fit_one_cycle recipe. Hidden width 256 rather than
 * fastai's 512: on rice-leaf MobileNetV2 features it matched 512 (94.7 vs 94.3 % mean validation
 * accuracy over 4 near-duplicate-aware splits, 3 views per image) at half the cost; dropping the
 * input dropout cost ~1.3 points (hidden 512, one view per image).
 */
export const MLP_HEAD_DEFAULTS: MlpHeadOptions = {
  ...LINEAR_HEAD_DEFAULTS,
  hidden: [256],
  inputDropout: 0.25,
  dropout: 0.5,
  init: 'kaiming',
};

/** Linear → ReLU → Dropout (× hidden.length) → Linear on standardised features, trained like a fastai head. */
export function createMlpHead(nClasses: number, options: Partial<MlpHeadOptions> = {}): NeuralHead {
  return createNeuralHead('mlp', nClasses, { ...MLP_HEAD_DEFAULTS, ...options });
}

export function mlpHeadFromJSON(serialized: SerializedClassifier): NeuralHead {
  return neuralHeadFromJSON(serialized, 'mlp', MLP_HEAD_DEFAULTS);
}
