import { LensembleError } from '../util/errors.js';

/**
 * Named bundles of member settings (`--preset forensics`, or `preset=forensics` on one member). A preset only
 * fills in what neither the member nor the run's flags say, and its `augment` keys sit under theirs.
 */
export interface MemberPreset {
  description: string;
  /** Flat member keys, as --member and --config write them. */
  settings: Record<string, unknown>;
}

/**
 * `forensics`: the recipe of Wang et al. 2020 (Blur+JPEG 0.5) for real/fake detection, measured on fake-faces in
 * bench/forensics-robustness.ts (BENCHMARKS.md): PLACEHOLDER.
 */
export const memberPresets = {
  forensics: {
    description: 'real/fake detection: Wang et al. 2020 Blur+JPEG (0.5), i.e. blur σ ~ U(0, 3) and JPEG quality 30–100 each with p = 0.5 before the fastai augmentations, 8 views, flip TTA',
    settings: {
      augment: { blurProb: 0.5, blurSigma: [0, 3], jpegProb: 0.5, jpegQuality: [30, 100] },
      views: 8,
      tta: 'flip',
    },
  },
} satisfies Record<string, MemberPreset>;

export type PresetName = keyof typeof memberPresets;
export const presetNames = Object.keys(memberPresets) as PresetName[];

export function findPreset(name: string): MemberPreset {
  const preset = (memberPresets as Record<string, MemberPreset>)[name];
  if (!preset) throw new LensembleError(`unknown preset "${name}" (known: ${presetNames.join(', ')})`);
  return preset;
}
