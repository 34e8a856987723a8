import { poolOutput } from '../backbone/pooling.js';
import type { EnsembleMember } from '../ensemble/ensemble.js';
import { affineForm, logitGradient, NOT_AFFINE, type AffineHead } from '../heads/affine-form.js';
import { fitToModel, writeNormalizedChw } from '../images/preprocess.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { RawImage } from '../images/raw-image.js';
import type { SourceNetwork } from '../sources/source-kind.js';
import { checkAveragePooled, gradCam, normaliseGrid, type Grid } from './grad-cam.js';

/** Why a member has no heatmap, or undefined when it has one. */
export function heatmapUnsupported(member: EnsembleMember): string | undefined {
  const network = member.source.network;
  if (!network) return `its ${member.source.description.arch} features are not computed by a network with a feature map`;
  if (!network.spec.mapOutput) return `backbone ${network.spec.name} exposes no spatial feature map`;
  if (!affineForm(member.head)) return `its ${member.head.kind} head cannot be differentiated (${NOT_AFFINE[member.head.kind] ?? 'no affine form'}); linear, mlp and lda heads can`;
  return undefined;
}

export interface MemberHeatmap {
  /** Over the member's model input, scaled to a maximum of 1. */
  grid: Grid;
  preprocess: PreprocessSpec;
}

/**
 * One member's Grad-CAM of class `c` for a decoded photo: the photo resized by the member's rule, its feature map
 * and pooled features from the backbone, the head's gradient at those features (through its standardisation and
 * hidden layers), and the channel-weighted map.
 */
export async function memberHeatmap(member: EnsembleMember, photo: RawImage, c: number): Promise<MemberHeatmap> {
  const network = member.source.network as SourceNetwork;
  const head = affineForm(member.head) as AffineHead;
  const { preprocess, spec } = network;
  const { width, height } = preprocess;
  const input = new Float32Array(3 * width * height);
  writeNormalizedChw(fitToModel(photo, preprocess), preprocess, input, 0);
  const session = await network.session();
  const out = await session.run(input, 1, width, height, [spec.mapOutput!, spec.featureOutput]);
  const map = out[spec.mapOutput!];
  const [, channels, mapHeight, mapWidth] = map.dims;
  const pooled = poolOutput(out[spec.featureOutput].data, out[spec.featureOutput].dims, spec.pooling).data;
  checkAveragePooled(map.data, channels, mapHeight * mapWidth, pooled, `member ${member.name}`);
  const gradient = logitGradient(head, pooled, c);
  return { grid: normaliseGrid(gradCam(map.data, channels, mapHeight, mapWidth, gradient)), preprocess };
}
