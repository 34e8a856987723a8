// ONNX graph autodiff and one-session training steps, run by ONNX Runtime. Knows nothing of lensemble's pipeline.
export { decodeModel, encodeModel, floatInitializers, withInitializerValues, type FloatTensor, type Model } from './onnx-io.js';
export { inferStaticShapes, type ShapeMap, type ValueShape } from './static-shapes.js';
export { trainableInitializers, untieInitializerAliases } from './parameters.js';
export { buildGradientModel, type GradientModel, type GradientModelOptions } from './gradient-model.js';
export { missingGradientRules } from './backward.js';
export { gradientRules, type GradientRule, type GradContext } from './rules/index.js';
export { findBlocks, resolveTrainable, splitLayerGroups, discriminativeLrs, type Block, type TrainableSpec, type ResolvedTrainable } from './blocks.js';
export { splitAt, type SplitModel } from './split.js';
export { buildStepGraph, buildEvalGraph, STEP_IO, HEAD_WEIGHT, HEAD_BIAS, type StepGraph, type StepGraphOptions } from './step-graph.js';
export {
  createFineTuner,
  withHeadParams,
  type FineTuner,
  type FineTunerOptions,
  type FineTunerState,
  type SessionConfig,
  type StepHyper,
  type StepResult,
} from './fine-tuner.js';
export type { ParamLayout, Bucket, ParamSlot } from './param-layout.js';
