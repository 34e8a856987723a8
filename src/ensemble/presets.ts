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
 * `forensics`: Wang et al. 2020's Blur+JPEG (0.5) over the fastai augmentations, chosen on fake-faces by
 * bench/forensics-robustness.ts (BENCHMARKS.md): against the default member its P(fake) moves 1.5–8× less under
 * JPEG 95…60 and 0.5× resizing, and at 0.25× it keeps 99.7% where the default falls to 96.7%. Flip TTA, because
 * fastai TTA would blur and re-compress the image being judged (98.7% against 99.6% at 0.25×); 8 views gave the
 * lowest log loss under every condition.
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
