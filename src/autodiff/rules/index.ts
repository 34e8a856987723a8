// Every gradient rule by op type (default ONNX domain).
import { convRules } from './conv.js';
import { elementwiseRules } from './elementwise.js';
import { matmulRules } from './matmul.js';
import { normalizationRules } from './normalization.js';
import { poolingRules } from './pooling.js';
import type { GradientRule } from './rule.js';
import { shapeRules } from './shape-ops.js';
import { softmaxRules } from './softmax.js';

export const gradientRules: Readonly<Record<string, GradientRule>> = {
  ...convRules,
  ...elementwiseRules,
  ...matmulRules,
  ...normalizationRules,
  ...poolingRules,
  ...shapeRules,
  ...softmaxRules,
};

export type { GradContext, GradientRule } from './rule.js';
