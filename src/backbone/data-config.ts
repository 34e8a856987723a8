import { parseSize, preprocessSpecSchema, type Interpolation, type PreprocessSpec, type ResizeMethod } from '../images/preprocess-spec.js';
import { LensembleError } from '../util/errors.js';
import type { BackboneSpec } from './spec.js';

export interface DataConfigRequest {
  /** "224" or "320x240". */
  size?: string | number;
  resize?: ResizeMethod;
  cropPct?: number;
  interpolation?: Interpolation;
}

/**
 * The preprocessing a member uses: the backbone's defaults with the user's size / resize rule applied,
 * sizes rounded to the backbone's patch multiple (like timm's resolve_data_config).
 */
export function resolveDataConfig(backbone: BackboneSpec, request: DataConfigRequest = {}): PreprocessSpec {
  const base = backbone.preprocess;
  const size = request.size === undefined ? { width: base.width, height: base.height } : parseSize(String(request.size));
  const round = (v: number): number => Math.max(backbone.sizeMultiple, Math.round(v / backbone.sizeMultiple) * backbone.sizeMultiple);
  const width = round(size.width);
  const height = round(size.height);
  if (backbone.fixedInputSize && (backbone.fixedInputSize[0] !== width || backbone.fixedInputSize[1] !== height)) {
    throw new LensembleError(`backbone ${backbone.name} only accepts ${backbone.fixedInputSize[0]}×${backbone.fixedInputSize[1]} input, not ${width}×${height}`);
  }
  return preprocessSpecSchema.parse({
    ...base,
    width,
    height,
    resize: request.resize ?? base.resize,
    cropPct: request.cropPct ?? base.cropPct,
    interpolation: request.interpolation ?? base.interpolation,
  });
}
