import { defaultPreprocess, type PreprocessSpec } from '../images/preprocess-spec.js';
import type { BackboneSpec } from './spec.js';

const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** The backbone a run uses when it names none. */
export const DEFAULT_BACKBONE = 'mobilenetv2_100';

const imagenetCrop = (overrides: Partial<PreprocessSpec> = {}): PreprocessSpec => ({ ...defaultPreprocess, ...overrides });

/**
 * Known backbones, one place that knows each model's source, tensors and data config (like timm's
 * pretrained_cfg). The shared models are the ones shipped beside the project for development.
 */
export const backboneRegistry: readonly BackboneSpec[] = [
  {
    name: DEFAULT_BACKBONE,
    description: 'MobileNetV2 1.0, ImageNet-1k (ONNX model zoo), BatchNorm folded; 1280-d features',
    source: { kind: 'shared', path: 'models/mobilenetv2/model.onnx' },
    inputName: 'input',
    featureOutput: 'features',
    pooling: 'none',
    mapOutput: 'feature_map',
    featureDim: 1280,
    sizeMultiple: 1,
    preprocess: imagenetCrop(),
    license: 'Apache-2.0',
  },
  {
    name: 'squeezenet1_1',
    description: 'SqueezeNet 1.1, ImageNet-1k (ONNX model zoo); 512-d features',
    source: { kind: 'shared', path: 'models/squeezenet1.1/model.onnx' },
    inputName: 'data',
    featureOutput: 'features',
    pooling: 'none',
    mapOutput: 'feature_map',
    featureDim: 512,
    sizeMultiple: 1,
    preprocess: imagenetCrop(),
    license: 'Apache-2.0',
  },
  {
    name: 'mobilenetv2_100.int8',
    description: 'MobileNetV2 1.0 int8-quantized (QLinear ops), fixed 224×224 input; 1280-d features',
    source: { kind: 'shared', path: 'models/mobilenetv2-int8/model.onnx' },
    inputName: 'input',
    featureOutput: 'features',
    pooling: 'none',
    featureDim: 1280,
    fixedInputSize: [224, 224],
    sizeMultiple: 1,
    preprocess: imagenetCrop(),
    license: 'Apache-2.0',
  },
  {
    name: 'dinov2_small',
    description: 'DINOv2 ViT-S/14 self-supervised (LVD-142M), Transformers.js ONNX export; 384-d pooled CLS',
    source: { kind: 'hub', repo: 'Xenova/dinov2-small', file: 'onnx/model.onnx', revision: 'main' },
    inputName: 'pixel_values',
    featureOutput: 'pooler_output',
    pooling: 'none',
    featureDim: 384,
    sizeMultiple: 14,
    preprocess: imagenetCrop({ interpolation: 'bicubic' }),
    license: 'Apache-2.0',
  },
  {
    name: 'dinov2_base',
    description: 'DINOv2 ViT-B/14 self-supervised (LVD-142M), Transformers.js ONNX export; 768-d pooled CLS',
    source: { kind: 'hub', repo: 'Xenova/dinov2-base', file: 'onnx/model.onnx', revision: 'main' },
    inputName: 'pixel_values',
    featureOutput: 'pooler_output',
    pooling: 'none',
    featureDim: 768,
    sizeMultiple: 14,
    preprocess: imagenetCrop({ interpolation: 'bicubic' }),
    license: 'Apache-2.0',
  },
  {
    name: 'clip_vit_b32',
    description: 'CLIP ViT-B/32 image tower (OpenAI), Transformers.js ONNX export; 512-d image embeddings',
    source: { kind: 'hub', repo: 'Xenova/clip-vit-base-patch32', file: 'onnx/vision_model.onnx', revision: 'main' },
    inputName: 'pixel_values',
    featureOutput: 'image_embeds',
    pooling: 'none',
    featureDim: 512,
    fixedInputSize: [224, 224],
    sizeMultiple: 32,
    preprocess: imagenetCrop({ cropPct: 1, interpolation: 'bicubic', mean: CLIP_MEAN, std: CLIP_STD }),
    license: 'MIT',
  },
];

export function findRegisteredBackbone(name: string): BackboneSpec | undefined {
  const key = canonicalBackboneName(name).toLowerCase();
  return backboneRegistry.find((b) => b.name.toLowerCase() === key);
}

/** Other names people use for the shared models (their folder names). */
const aliases: Record<string, string> = {
  mobilenetv2: 'mobilenetv2_100',
  'mobilenet_v2': 'mobilenetv2_100',
  'squeezenet1.1': 'squeezenet1_1',
  squeezenet: 'squeezenet1_1',
  'mobilenetv2-int8': 'mobilenetv2_100.int8',
};

export function canonicalBackboneName(name: string): string {
  return aliases[name.toLowerCase()] ?? name;
}
