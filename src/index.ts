// lensemble's library API: everything the CLI does, importable from TypeScript.
export { train, type TrainOptions, type TrainResult } from './pipeline/train.js';
export { loadModel, type Model, type LoadModelOptions, type EvaluateResult, type Explanations } from './bundle/load-model.js';
export type { PredictionExplanation, ExplainedPrediction } from './explain/prediction-explanation.js';
export { explainPredictions, type HeatmapSet, type ExplainOptions } from './explain/explain-images.js';
export { interpretValidation, topLosses, mostConfused, type Interpretation } from './explain/top-losses.js';
export { predict } from './pipeline/predict.js';
export { evaluateModel } from './pipeline/evaluate.js';
export type { Prediction, Predictions, SkippedInput, TargetPrediction } from './ensemble/predictions.js';
export { exportModel, type ExportOptions, type ExportResult } from './export/export-model.js';
export { ensembleToOnnx, type ExportMetadata, type OnnxExport } from './export/ensemble-onnx.js';
export { writeSubmission, type SubmitResult } from './pipeline/submit.js';
export { prepareTrainingData, defaultSplitOptions, type PreparedData, type SplitOptions } from './pipeline/prepare-data.js';

export { readDataset, type ReadDatasetOptions } from './dataset/read-dataset.js';
export type { Dataset, ImageRecord } from './dataset/types.js';
export { scanRecords, type ScanResult, type SkippedImage } from './dataset/scan.js';

export { decodeImage, ImageReadError } from './images/decode.js';
export { resizeForModel, writeNormalizedChw } from './images/preprocess.js';
export { defaultPreprocess, type PreprocessSpec } from './images/preprocess-spec.js';
export { augment, sampleAugmentParams, augmentImage } from './images/augment.js';
export { fastaiDefaults, flipOnlySpec, resolveAugmentSpec, type AugmentSpec } from './images/augment-spec.js';

export { backboneRegistry, findRegisteredBackbone } from './backbone/registry.js';
export { resolveBackbone, type ResolvedBackbone } from './backbone/resolve.js';
export { openBackbone, type BackboneSession } from './backbone/session.js';
export { resolveDataConfig } from './backbone/data-config.js';
export { downloadHubFile } from './backbone/hub.js';

export { extractFeatures } from './features/extract.js';
export { openFeatureStore, type FeatureStore } from './features/feature-store.js';

export type { Classifier, SerializedClassifier } from './heads/classifier.js';
export { createHead, classifierFromJSON, headKinds, heads, findHead } from './heads/registry.js';
export { defineClassifier, describeParams, type HeadDefinition } from './heads/define.js';
export { createLinearHead } from './heads/linear.js';
export { createMlpHead } from './heads/mlp.js';
export { createRandomForest } from './heads/random-forest.js';
export { createSvm } from './heads/svm.js';
export { createKnn } from './heads/knn.js';
export { createLda } from './heads/lda.js';
export { crossValidate, stratifiedKFold } from './evaluate/cross-validate.js';

export { averageProbabilities } from './ensemble/average.js';
export { combineTta, type TtaSettings } from './ensemble/tta.js';
export { parseMemberSpec, parseMemberString, readEnsembleConfig, type MemberSpec } from './ensemble/member-spec.js';
export { createEnsemble, type Ensemble, type EnsembleMember, type EnsembleProbabilities } from './ensemble/ensemble.js';
export { fitEnsembleWeights } from './ensemble/fit-weights.js';

export { registerSourceKind, sourceKinds, findSourceKind } from './sources/registry.js';
export type { SourceKind, LoadedSource, TrainedSource, SourceFeatures, SourceEntry, SourceDescription } from './sources/source-kind.js';

export { openQueueExtraction, withQueue, type QueueExtraction, type QueueOptions } from './queue/queue-extraction.js';
export { startQueueWorker, type QueueWorker, type QueueWorkerOptions } from './queue/worker.js';
export { queueStatus, type QueueStatus } from './queue/status.js';

export { evaluateProbabilities, type Evaluation } from './evaluate/metrics.js';
export { loadBundle, saveBundle, type LoadedBundle } from './bundle/bundle.js';
export type { Matrix } from './util/matrix.js';
